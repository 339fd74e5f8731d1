// Lays out an unpacked extension directory: exactly what the root of the extension zip holds (README: "The extension package").
//
//   HandlerManifest.json            generated from handler/HandlerManifest.json with the version filled in
//   manifest.xml                    ExtensionImage, <Version> = the version; <Label> marks a simulated bundle
//   omsagent-shim                   POSIX sh entry point (arch/glibc preflight, then exec bin/handler)
//   bin/handler                     one executable: the pinned Bun for x64 Linux (scripts/runtime.ts) with the
//                                   handler compiled into it (dist/handler/handler, scripts/build.mjs); for tests
//                                   a symlink to it
//   bin/NOTICE                      where its runtime came from (package, version, integrity), what that links
//                                   statically, under which licences, with where their sources are, and how to relink
//   LICENSE                         this project's licence (MIT)
//   THIRD-PARTY-NOTICES.txt         licence text of every npm package bundled into bin/ (scripts/notices.ts)
//   schemas/*.json                  public and protected settings schemas
//   packages/<bundle>.sh            the OMS shell bundle
//   packages/<bundle>.sha256sums    `<hex>  <bundle>.sh`, as `sha256sum` writes it (`cd packages; sha256sum -c`)
//
// stageExtension() is synchronous and, with a linked handler, takes a few milliseconds, so tests can build an
// extension directory per test. It writes nothing outside outDir.
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { bundledPackages, npmNotice, runtimeComponentsNotice } from "./notices.ts";
import { REPO_ROOT, shippedRuntime } from "./runtime.ts";

export { REPO_ROOT };

/** The simulator's fake shell bundle, generated from simulator/oms/src/ by `npm run build` (not committed). */
export const SIMULATED_BUNDLE_NAME = "omsagent-0.0.0-sim.universal.x64.sh";
export const SIMULATED_BUNDLE_PATH = join(REPO_ROOT, "simulator", "oms", SIMULATED_BUNDLE_NAME);
export const SIMULATED_LABEL_SUFFIX = " (simulated OMS bundle — not for production)";

/**
 * How bin/handler (the runtime with the handler compiled in, 110 MB) gets into the directory: `copy` for a real
 * package; `link`, a symlink to the same file, keeps test staging fast.
 */
export type RuntimeChoice = { kind: "copy" } | { kind: "link" };

export interface StageOptions {
  /** Directory to create (must not exist, or be empty). */
  outDir: string;
  /** Extension version; default the `<Version>` of manifest.xml. */
  version?: string;
  /** OMS shell bundle `omsagent-<ver>-<build>.universal.x64.sh`; default the simulated bundle. */
  bundlePath?: string;
  runtime: RuntimeChoice;
  /** The compiled handler executable; default `<repo>/dist/handler/handler` (scripts/build.mjs). Tests may pass a stand-in. */
  handlerPath?: string;
  /** Where handler/, manifest.xml, schemas/ and dist/ are read from; default this repository. */
  repoRoot?: string;
  /**
   * The extension's namespace and type, for a builder publishing under a namespace of their own; default what
   * manifest.xml says (Microsoft.EnterpriseCloud.Monitoring / OmsAgentForLinux). manifest.xml, HandlerManifest.json
   * (name and signingInfo) and therefore the status name the handler reports follow.
   */
  publisher?: string;
  type?: string;
}

export interface StagedExtension {
  dir: string;
  version: string;
  /** File name of the shell bundle inside packages/. */
  bundleName: string;
  /** True when the bundle is the simulator's (`-sim` build tag). */
  simulated: boolean;
  /** sha256 (hex) of the bundle, as written to packages/<bundle>.sha256sums. */
  bundleSha256: string;
  /** The namespace and type the package's manifest.xml and HandlerManifest.json name. */
  publisher: string;
  type: string;
  /** Every file and symlink, relative to dir, sorted. */
  files: string[];
}

export interface BundleName {
  /** e.g. 1.19.0 */
  version: string;
  /** e.g. "0", or "sim" for the simulator's bundle */
  build: string;
  simulated: boolean;
}

const BUNDLE_PATTERN = /^omsagent-(\d+\.\d+\.\d+)-(\d+|sim)\.universal\.x64\.sh$/;
export const VERSION_PATTERN = /^\d+\.\d+\.\d+$/;
/** ProviderNameSpace: dot-separated names (Azure requires a namespace the publisher owns, e.g. Contoso.Monitoring). */
export const PUBLISHER_PATTERN = /^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)+$/;
/** Type: one name (letters, digits), as Azure's extension type names are. */
export const TYPE_PATTERN = /^[A-Za-z][A-Za-z0-9]*$/;

/** Parses `omsagent-<MAJ>.<MIN>.<PATCH>-<BUILD>.universal.x64.sh` (BUILD is a number, or `sim`). */
export function parseBundleName(name: string): BundleName | null {
  const m = BUNDLE_PATTERN.exec(name);
  if (!m) return null;
  return { version: m[1]!, build: m[2]!, simulated: m[2] === "sim" };
}

/** The `<Version>` in manifest.xml, the single source of the extension version. */
export function readManifestXmlVersion(repoRoot: string = REPO_ROOT): string {
  const xml = readFileSync(join(repoRoot, "manifest.xml"), "utf8");
  const versions = [...xml.matchAll(/<Version>([^<]*)<\/Version>/g)];
  if (versions.length !== 1) throw new Error(`manifest.xml must contain exactly one <Version>, found ${versions.length}`);
  return versions[0]![1]!.trim();
}

function replaceOne(xml: string, tag: string, value: string): string {
  let count = 0;
  const out = xml.replace(new RegExp(`<${tag}>[^<]*</${tag}>`, "g"), () => {
    count++;
    return `<${tag}>${value}</${tag}>`;
  });
  if (count !== 1) throw new Error(`manifest.xml must contain exactly one <${tag}>, found ${count}`);
  return out;
}

/** manifest.xml text with the version (and a builder's own publisher/type) replaced and, for a simulated bundle, the label marked. */
export function renderManifestXml(template: string, version: string, simulated: boolean, identity: { publisher?: string; type?: string } = {}): string {
  if (identity.publisher !== undefined) template = replaceOne(template, "ProviderNameSpace", identity.publisher);
  if (identity.type !== undefined) template = replaceOne(template, "Type", identity.type);
  let xml = replaceOne(template, "Version", version);
  if (simulated) {
    let labels = 0;
    xml = xml.replace(/<Label>([^<]*)<\/Label>/g, (_all, label: string) => {
      labels++;
      return `<Label>${label.trim()}${SIMULATED_LABEL_SUFFIX}</Label>`;
    });
    if (labels !== 1) throw new Error(`manifest.xml must contain exactly one <Label>, found ${labels}`);
  }
  return xml;
}

/** `<ProviderNameSpace>` and `<Type>` of manifest.xml: the extension's identity. */
export function readExtensionIdentity(manifestXml: string): { publisher: string; type: string } {
  const field = (tag: string) => {
    const value = new RegExp(`<${tag}>\\s*([^<]+?)\\s*</${tag}>`).exec(manifestXml)?.[1];
    if (!value) throw new Error(`manifest.xml has no <${tag}>`);
    return value;
  };
  return { publisher: field("ProviderNameSpace"), type: field("Type") };
}

/**
 * HandlerManifest.json text: the handler/ template with the top-level "version" set, and "signingInfo"
 * (type, publisher, version) from manifest.xml, which the guest agent checks against the extension it
 * downloaded before it runs anything of a signed package.
 */
export function renderHandlerManifest(template: string, version: string, manifestXml: string): string {
  const manifest = JSON.parse(template) as Array<Record<string, unknown>>;
  if (!Array.isArray(manifest) || !manifest[0] || typeof manifest[0] !== "object") {
    throw new Error("handler/HandlerManifest.json must be a JSON array whose first element is an object (guest agent reads [0])");
  }
  const { publisher, type } = readExtensionIdentity(manifestXml);
  manifest[0].name = type;
  manifest[0].version = version;
  manifest[0].signingInfo = { type, publisher, version };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function listFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...listFiles(join(dir, entry.name), rel));
    else out.push(rel);
  }
  return out.sort();
}

function copy(src: string, dest: string, mode: number): void {
  copyFileSync(src, dest);
  chmodSync(dest, mode);
}

export function stageExtension(options: StageOptions): StagedExtension {
  const dir = resolve(options.outDir);
  const repo = resolve(options.repoRoot ?? REPO_ROOT);
  const handlerPath = resolve(options.handlerPath ?? join(repo, "dist", "handler", "handler"));
  if (!existsSync(handlerPath)) {
    throw new Error(
      options.handlerPath ? `handler executable not found: ${handlerPath}` : `dist/handler/handler not found (${handlerPath}) — run npm run build first`,
    );
  }

  const bundlePath = resolve(options.bundlePath ?? join(repo, "simulator", "oms", SIMULATED_BUNDLE_NAME));
  const bundleName = basename(bundlePath);
  const bundle = parseBundleName(bundleName);
  if (!bundle) {
    throw new Error(`OMS bundle name must look like omsagent-<x.y.z>-<build>.universal.x64.sh, got ${bundleName}`);
  }
  if (!existsSync(bundlePath) || !statSync(bundlePath).isFile()) {
    throw new Error(
      options.bundlePath
        ? `OMS bundle not found: ${bundlePath}`
        : `simulated OMS bundle not found: ${bundlePath} (npm run build generates it from simulator/oms/src/; pass bundlePath to use another)`,
    );
  }
  const bundleBytes = readFileSync(bundlePath);
  if (bundleBytes.subarray(0, 2).toString("latin1") !== "#!") {
    throw new Error(`${bundlePath} does not start with "#!": not a shell bundle`);
  }

  const version = options.version ?? readManifestXmlVersion(repo);
  if (!VERSION_PATTERN.test(version)) throw new Error(`version must be MAJOR.MINOR.PATCH, got ${JSON.stringify(version)}`);

  for (const [option, value, pattern, example] of [
    ["publisher", options.publisher, PUBLISHER_PATTERN, "Contoso.Monitoring"],
    ["type", options.type, TYPE_PATTERN, "OmsAgentForLinux"],
  ] as const) {
    if (value !== undefined && !pattern.test(value)) throw new Error(`--${option} must look like ${example}, got ${JSON.stringify(value)}`);
  }

  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`outDir ${dir} exists and is not empty`);
  for (const sub of ["bin", "schemas", "packages"]) mkdirSync(join(dir, sub), { recursive: true });

  const manifestXml = renderManifestXml(readFileSync(join(repo, "manifest.xml"), "utf8"), version, bundle.simulated, {
    publisher: options.publisher,
    type: options.type,
  });
  writeFileSync(
    join(dir, "HandlerManifest.json"),
    renderHandlerManifest(readFileSync(join(repo, "handler", "HandlerManifest.json"), "utf8"), version, manifestXml),
    {
      mode: 0o644,
    },
  );
  writeFileSync(join(dir, "manifest.xml"), manifestXml, { mode: 0o644 });
  copy(join(repo, "LICENSE"), join(dir, "LICENSE"), 0o644);
  const dependencies = Object.keys(
    (JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { dependencies?: Record<string, string> }).dependencies ?? {},
  );
  writeFileSync(join(dir, "THIRD-PARTY-NOTICES.txt"), npmNotice("bin/ (the handler)", bundledPackages(dependencies, repo)), { mode: 0o644 });
  copy(join(repo, "handler", "omsagent-shim"), join(dir, "omsagent-shim"), 0o755);
  if (options.runtime.kind === "copy") {
    copy(handlerPath, join(dir, "bin", "handler"), 0o755);
    writeFileSync(join(dir, "bin", "NOTICE"), runtimeComponentsNotice(shippedRuntime(repo)), { mode: 0o644 });
  } else {
    symlinkSync(handlerPath, join(dir, "bin", "handler"));
  }

  const schemaDir = join(repo, "schemas");
  for (const name of readdirSync(schemaDir)
    .filter((n) => n.endsWith(".json"))
    .sort()) {
    copy(join(schemaDir, name), join(dir, "schemas", name), 0o644);
  }

  writeFileSync(join(dir, "packages", bundleName), bundleBytes, { mode: 0o644 });
  chmodSync(join(dir, "packages", bundleName), 0o644);
  const bundleSha256 = createHash("sha256").update(bundleBytes).digest("hex");
  const sums = `${bundleSha256}  ${bundleName}\n`;
  writeFileSync(join(dir, "packages", bundleName.replace(/\.sh$/, ".sha256sums")), sums, { mode: 0o644 });

  return { dir, version, bundleName, simulated: bundle.simulated, bundleSha256, ...readExtensionIdentity(manifestXml), files: listFiles(dir) };
}
