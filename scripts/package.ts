// Builds the extension zip:
//
//   npm run package [-- --bundle PATH [--bundle-sha256 HEX]] [--version X.Y.Z] [--publisher NS --type TYPE] [--out DIR]
//
// → <out>/Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux-<version>[-simulated].zip (out defaults to dist/).
// Without --bundle the simulator's fake OMS bundle is packaged and the name ends in -simulated; such a package is
// for tests and demos only (its manifest.xml label says so). The handler is always compiled on the pinned Bun
// binary (scripts/runtime.ts, scripts/build.mjs). Entries sit at the zip ROOT, which is where the guest agent looks for HandlerManifest.json.
// Deflate only: the guest agent on RHEL/CentOS 7 unzips with Python 2.7's zipfile, which reads nothing else.
//
// Modes: 0755 for omsagent-shim and bin/handler, 0644 for everything else. The Azure guest agent's
// zipfile.extractall ignores them and adds u+x to every file, but other unpackers (Arc, humans) honour them.
// Reproducible: the same sources, bundle and runtime give a byte-identical zip. Entries are sorted, modes fixed, and
// every entry carries one timestamp — SOURCE_DATE_EPOCH when set, else 1980-01-01 00:00:00 (the zip format's
// first date) — as a DOS time only (no extended-timestamp field) built from that instant's UTC fields, so neither
// the build's clock nor its time zone reaches the bytes. A real bundle is verified first (scripts/bundle-check.ts).
import { once } from "node:events";
import { createWriteStream, existsSync, lstatSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import yazl from "yazl";
import { EXTENSION_FULL_NAME } from "../src/shared/identity.ts";
import { verifyBundle } from "./bundle-check.ts";
import { parseBundleName, REPO_ROOT, stageExtension, VERSION_PATTERN } from "./stage.ts";

export interface BuildPackageOptions {
  /** Output directory; default `<repo>/dist`. */
  outDir?: string;
  version?: string;
  /** A real `omsagent-<x.y.z>-<build>.universal.x64.sh`; default the simulated bundle. */
  bundlePath?: string;
  /** The sha256 the bundle's release page publishes; the build refuses a bundle with another. */
  bundleSha256?: string;
  /** A namespace and type of the builder's own (default: manifest.xml's). */
  publisher?: string;
  type?: string;
  /** The compiled handler executable to ship as bin/handler; default dist/handler/handler. */
  handlerPath?: string;
  log?: (message: string) => void;
}

export interface BuiltPackage {
  zipPath: string;
  zipSize: number;
  /** Sum of the sizes of the files in the zip. */
  unpackedSize: number;
  version: string;
  simulated: boolean;
  bundleName: string;
  bundleSha256: string;
  entries: Array<{ name: string; mode: number; size: number }>;
}

export const EXECUTABLE_ENTRIES = new Set(["omsagent-shim", "bin/handler"]);

export function zipFileName(version: string, simulated: boolean, fullName: string = EXTENSION_FULL_NAME): string {
  return `${fullName}-${version}${simulated ? "-simulated" : ""}.zip`;
}

/**
 * The entries' timestamp as a local Date whose fields are the UTC fields of SOURCE_DATE_EPOCH (or 1980-01-01):
 * yazl writes the DOS date from local fields, so this gives the same bytes in every time zone.
 */
export function entryTime(sourceDateEpoch: string | undefined = process.env.SOURCE_DATE_EPOCH || undefined): Date {
  if (sourceDateEpoch !== undefined && !/^\d+$/.test(sourceDateEpoch)) throw new Error(`SOURCE_DATE_EPOCH must be seconds since 1970, got ${sourceDateEpoch}`);
  const utc = new Date(Math.max(Number(sourceDateEpoch ?? 0) * 1000, Date.UTC(1980, 0, 1)));
  return new Date(utc.getUTCFullYear(), utc.getUTCMonth(), utc.getUTCDate(), utc.getUTCHours(), utc.getUTCMinutes(), utc.getUTCSeconds());
}

export async function buildPackage(options: BuildPackageOptions = {}): Promise<BuiltPackage> {
  const log = options.log ?? (() => {});
  if (options.bundlePath !== undefined) {
    const name = basename(options.bundlePath);
    if (!parseBundleName(name)) {
      throw new Error(`--bundle must be an OMS shell bundle named omsagent-<x.y.z>-<build>.universal.x64.sh, got ${name}`);
    }
  }
  if (options.version !== undefined && !VERSION_PATTERN.test(options.version)) {
    throw new Error(`--version must be MAJOR.MINOR.PATCH, got ${options.version}`);
  }
  if (options.bundleSha256 !== undefined && options.bundlePath === undefined) throw new Error("--bundle-sha256 needs --bundle");
  if (options.bundlePath !== undefined && !parseBundleName(basename(options.bundlePath))!.simulated) {
    const facts = await verifyBundle(options.bundlePath, options.bundleSha256);
    log(`bundle verified: sha256 ${facts.sha256}${options.bundleSha256 ? " (as expected)" : ""}, ${facts.omsPackage}, ${facts.entries.length} archive entries`);
  }
  const outDir = resolve(options.outDir ?? join(REPO_ROOT, "dist"));
  const stageRoot = mkdtempSync(join(tmpdir(), "omsagent-package-"));
  try {
    const staged = stageExtension({
      outDir: join(stageRoot, "ext"),
      version: options.version,
      bundlePath: options.bundlePath,
      handlerPath: options.handlerPath,
      publisher: options.publisher,
      type: options.type,
      runtime: { kind: "copy" },
    });
    const bundle = parseBundleName(staged.bundleName)!;
    if (!bundle.simulated && bundle.version !== staged.version) {
      log(`note: bundle version ${bundle.version} differs from extension version ${staged.version}`);
    }

    const zip = new yazl.ZipFile();
    const mtime = entryTime();
    const entries: BuiltPackage["entries"] = [];
    for (const name of staged.files) {
      const abs = join(staged.dir, name);
      if (lstatSync(abs).isSymbolicLink()) throw new Error(`refusing to zip symlink ${name}`);
      const mode = EXECUTABLE_ENTRIES.has(name) ? 0o755 : 0o644;
      const size = statSync(abs).size;
      zip.addFile(abs, name, { mode: 0o100000 | mode, mtime, forceDosTimestamp: true, compressionLevel: 9 });
      entries.push({ name, mode, size });
    }
    zip.end();

    mkdirSync(outDir, { recursive: true });
    const zipPath = join(outDir, zipFileName(staged.version, staged.simulated, `${staged.publisher}.${staged.type}`));
    const tmpZip = `${zipPath}.${process.pid}.tmp`;
    const out = createWriteStream(tmpZip);
    zip.outputStream.pipe(out);
    await once(out, "close");
    renameSync(tmpZip, zipPath);

    return {
      zipPath,
      zipSize: statSync(zipPath).size,
      unpackedSize: entries.reduce((sum, e) => sum + e.size, 0),
      version: staged.version,
      simulated: staged.simulated,
      bundleName: staged.bundleName,
      bundleSha256: staged.bundleSha256,
      entries,
    };
  } finally {
    rmSync(stageRoot, { recursive: true, force: true });
  }
}

/** MiB, the unit of the README's figures (and of npm run bench). */
function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bundle: { type: "string" },
      "bundle-sha256": { type: "string" },
      version: { type: "string" },
      publisher: { type: "string" },
      type: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    console.log(
      "usage: npm run package [-- --bundle omsagent-<x.y.z>-<n>.universal.x64.sh [--bundle-sha256 HEX]] [--version X.Y.Z] [--publisher NAMESPACE --type TYPE] [--out DIR]",
    );
    return;
  }
  if (values.bundle !== undefined && !existsSync(values.bundle)) throw new Error(`--bundle ${values.bundle}: no such file`);
  const built = await buildPackage({
    outDir: values.out,
    version: values.version,
    bundlePath: values.bundle,
    bundleSha256: values["bundle-sha256"],
    publisher: values.publisher,
    type: values.type,
    log: (m) => console.error(m),
  });
  console.log(`${built.zipPath}`);
  console.log(`  version ${built.version}, bundle ${built.bundleName}${built.simulated ? " (SIMULATED — not for production)" : ""}`);
  console.log(`  bundle sha256 ${built.bundleSha256}`);
  console.log(
    `  zip ${mib(built.zipSize)} (${built.zipSize} bytes), unpacked ${mib(built.unpackedSize)} (${built.unpackedSize} bytes), ${built.entries.length} files`,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main().catch((error: unknown) => {
    console.error(`package: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
