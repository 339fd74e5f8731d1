// The JavaScript runtime that ships inside the extension package (README: "The runtime"): Bun for x64 Linux.
//
// Why Bun and not Node.js: the handler must start on every machine the Log Analytics agent supports, down to
// glibc 2.17 (RHEL/CentOS/Oracle 7, Ubuntu 14.04–18.04, Debian 8–9, SLES 12, Amazon Linux 2) and Linux 3.10.
// Official Node.js builds need glibc 2.28. Bun needs GLIBC_2.17 symbol versions at most and no libstdc++, and starts
// in a few milliseconds (test/package.test.ts reads every ELF file of the zip to hold the floor; npm run bench
// measures the start). Its CPU floor is x86-64 with SSE4.2 (Nehalem). The package is @oven/bun-linux-x64-baseline,
// but for 1.4.5 its binary is byte-identical to the regular @oven/bun-linux-x64's (sha256 f05d28a3…c06083 for
// both, compared from `npm pack` of each), so the name promises no lower floor.
//
// Source and integrity: the npm registry package @oven/bun-linux-x64-baseline, a pinned devDependency, so
// `npm ci` installs it and checks it against the sha512 integrity recorded in package-lock.json. Nothing is
// downloaded at build or test time. Below, the same version is pinned once more and the binary's own
// `--version` is checked, so a lock file edited to another version, or a damaged install, is refused.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

export const BUN_RUNTIME = {
  packageName: "@oven/bun-linux-x64-baseline",
  version: "1.4.5",
  /** `dist.integrity` of that version on the npm registry; package-lock.json must record the same. */
  integrity: "sha512-s8yMwYcFnnrA178gji0gZbkE2WVDej/Ti1x770oPfihxyRxSMNhGhiAQNXV53aDeraZxksdvKV/RAdQBCd0qPA==",
  license: "MIT",
} as const;

export interface ShippedRuntime {
  /** Absolute path of the `bun` executable installed by npm ci. */
  binPath: string;
  version: string;
  packageName: string;
  integrity: string;
  license: string;
}

/** The integrity package-lock.json records for the runtime package (what npm ci verified). */
export function lockedIntegrity(repoRoot: string = REPO_ROOT): string | undefined {
  const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as { packages?: Record<string, { version?: string; integrity?: string }> };
  const entry = lock.packages?.[`node_modules/${BUN_RUNTIME.packageName}`];
  return entry?.version === BUN_RUNTIME.version ? entry.integrity : undefined;
}

/** The pinned runtime as npm ci installed it; throws with the fix when it is missing or not the pinned one. */
export function shippedRuntime(repoRoot: string = REPO_ROOT): ShippedRuntime {
  const locked = lockedIntegrity(repoRoot);
  if (locked !== BUN_RUNTIME.integrity) {
    throw new Error(
      `package-lock.json pins ${BUN_RUNTIME.packageName} with ${locked ?? "no entry for version " + BUN_RUNTIME.version}, but scripts/runtime.ts expects ${BUN_RUNTIME.integrity} — update both together`,
    );
  }
  const binPath = join(repoRoot, "node_modules", BUN_RUNTIME.packageName, "bin", "bun");
  if (!existsSync(binPath)) {
    throw new Error(`${binPath} is missing — run npm ci (it installs the runtime from the npm registry)`);
  }
  const reported = execFileSync(binPath, ["--version"], { encoding: "utf8", env: {} }).trim();
  if (reported !== BUN_RUNTIME.version) {
    throw new Error(`${binPath} reports version ${reported}, expected the pinned ${BUN_RUNTIME.version} — run npm ci`);
  }
  return { binPath, ...BUN_RUNTIME };
}

/**
 * Compiles an ES module (with what it imports) into one executable on the pinned runtime: Bun appends the module
 * and its bytecode to a copy of `runtime.binPath` itself, so nothing is downloaded. scripts/build.mjs makes the
 * handler with it; tests compile their stand-ins the same way. The executable would otherwise read .env and
 * bunfig.toml from whatever working directory it starts in (the guest agent's is arbitrary); a compiled
 * executable never auto-installs packages. The BUN_* variables of the caller stay out of the build.
 */
export function compileExecutable(entry: string, outfile: string, runtime: Pick<ShippedRuntime, "binPath"> = shippedRuntime()): void {
  execFileSync(
    runtime.binPath,
    [
      "build",
      "--compile",
      "--bytecode",
      "--format=esm",
      // Without it the executable is one module, and every built-in module any chunk imports (node:child_process,
      // node:net, node:url, node:dns… for execa and pino) loads at every start: 46 against 35 ms and 39 against
      // 34 MB for a run that stops at once. With it, a chunk's imports load when the chunk does.
      "--splitting",
      "--no-compile-autoload-dotenv",
      "--no-compile-autoload-bunfig",
      `--compile-executable-path=${runtime.binPath}`,
      entry,
      `--outfile=${outfile}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"], env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } },
  );
}

// `node --import tsx scripts/runtime.ts` checks the runtime and prints where it is.
if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  console.log(shippedRuntime().binPath);
}
