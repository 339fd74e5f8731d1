// Third-party notices for what we ship: the licence text of every npm package bundled into the handler (the
// extension zip) or into the fleet CLI (its npm tarball), read from node_modules at build time, and for the zip the
// components the Bun runtime links statically (JavaScriptCore/WebKit under LGPL-2, tinycc under LGPL-2.1, and
// others), with where their sources are, as the LGPL and the notice clauses of the others require.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { REPO_ROOT } from "./runtime.ts";

export interface BundledPackage {
  name: string;
  version: string;
  license: string;
  /** The package's own licence file(s), verbatim. */
  licenseText: string;
  dir: string;
}

const LICENSE_FILE = /^(licen[cs]e|copying)(\.(md|txt|markdown))?$/i;

/** Where Node's resolution finds `name` from a package in `fromDir` (nested node_modules first, then up). */
function resolvePackage(name: string, fromDir: string, repoRoot: string): string | undefined {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (dir === repoRoot || dirname(dir) === dir) return undefined;
    dir = dirname(dir);
  }
}

/**
 * `roots` and everything they depend on at run time (`dependencies`, and `optionalDependencies` that are
 * installed), as installed in node_modules, sorted by name and version. A package without a licence file is an
 * error: its licence text could not be shipped.
 */
export function bundledPackages(roots: readonly string[], repoRoot: string = REPO_ROOT): BundledPackage[] {
  const found = new Map<string, BundledPackage>();
  const queue = roots.map((name) => ({ name, from: repoRoot }));
  while (queue.length > 0) {
    const { name, from } = queue.shift()!;
    const dir = resolvePackage(name, from, repoRoot);
    if (!dir) {
      throw new Error(`${name} (needed by ${from === repoRoot ? "the build" : from}) is not in node_modules — run npm ci`);
    }
    if (found.has(dir)) continue;
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
      name: string;
      version: string;
      license?: string;
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    const files = readdirSync(dir)
      .filter((file) => LICENSE_FILE.test(file))
      .sort();
    if (files.length === 0) throw new Error(`${manifest.name}@${manifest.version} (${dir}) has no LICENSE file: its licence text cannot be shipped`);
    found.set(dir, {
      name: manifest.name,
      version: manifest.version,
      license: manifest.license ?? "see the licence text",
      licenseText: files.map((file) => readFileSync(join(dir, file), "utf8").trim()).join("\n\n"),
      dir,
    });
    for (const dependency of Object.keys(manifest.dependencies ?? {})) queue.push({ name: dependency, from: dir });
    for (const dependency of Object.keys(manifest.optionalDependencies ?? {})) {
      if (resolvePackage(dependency, dir, repoRoot)) queue.push({ name: dependency, from: dir });
    }
  }
  return [...found.values()].sort((a, b) => (a.name === b.name ? a.version.localeCompare(b.version) : a.name < b.name ? -1 : 1));
}

/**
 * What Bun 1.4.x links statically, from its LICENSE.md (github.com/oven-sh/bun, "Linked libraries"): name, licence
 * and where the source is. Bun itself is MIT.
 */
const BUN_COMPONENTS: ReadonlyArray<readonly [string, string, string]> = [
  ["JavaScriptCore and WebKit (WebCore) — Bun's fork", "LGPL-2.0 (and BSD-2-Clause for parts)", "https://github.com/oven-sh/WebKit"],
  ["tinycc", "LGPL-2.1", "https://github.com/tinycc/tinycc (Bun's fork: https://github.com/oven-sh/tinycc)"],
  ["BoringSSL", "OpenSSL, ISC and others", "https://boringssl.googlesource.com/boringssl/"],
  ["brotli", "MIT", "https://github.com/google/brotli"],
  ["libarchive", "BSD-2-Clause and others", "https://github.com/libarchive/libarchive"],
  ["lol-html", "BSD-3-Clause", "https://github.com/cloudflare/lol-html"],
  ["ls-hpack, ls-qpack, lsquic", "MIT (lsquic: portions BSD-3-Clause from Chromium)", "https://github.com/litespeedtech"],
  ["mimalloc", "MIT", "https://github.com/microsoft/mimalloc"],
  ["picohttpparser", "MIT or Perl", "https://github.com/h2o/picohttpparser"],
  ["zstd", "BSD-3-Clause or GPL-2.0", "https://github.com/facebook/zstd"],
  ["simdutf", "Apache-2.0", "https://github.com/simdutf/simdutf"],
  ["uSockets and a fork of uWebSockets", "Apache-2.0", "https://github.com/uNetworking/uSockets, https://github.com/oven-sh/uWebSockets"],
  ["zlib-ng", "Zlib", "https://github.com/zlib-ng/zlib-ng"],
  ["c-ares", "MIT", "https://github.com/c-ares/c-ares"],
  ["ICU", "ICU licence (Unicode)", "https://github.com/unicode-org/icu"],
  ["libbase64", "BSD-2-Clause", "https://github.com/aklomp/base64"],
  ["libdeflate", "MIT", "https://github.com/ebiggers/libdeflate"],
  [
    "libjpeg-turbo, libspng, libwebp",
    "BSD-3-Clause / IJG / Zlib, BSD-2-Clause, BSD-3-Clause",
    "https://github.com/libjpeg-turbo/libjpeg-turbo, https://github.com/randy408/libspng, https://github.com/webmproject/libwebp",
  ],
  ["highway", "Apache-2.0", "https://github.com/google/highway"],
  ["LLVM libc++abi (__cxa_thread_atexit fallback)", "Apache-2.0 WITH LLVM-exception", "https://github.com/llvm/llvm-project"],
  ["Node.js polyfills embedded in the binary (buffer, events, util, url, …)", "MIT", "listed in Bun's LICENSE.md"],
];

export function runtimeComponentsNotice(runtime: { packageName: string; version: string; integrity: string }): string {
  const lines = [
    `bin/handler is one executable made by \`bun build --compile\`: Bun ${runtime.version} for x64 Linux, taken unmodified`,
    `from the npm registry package ${runtime.packageName}@${runtime.version} (integrity ${runtime.integrity}),`,
    "with this extension's handler (JavaScript and its bytecode) appended to it. Despite the package's name its",
    "binary is the same as the regular @oven/bun-linux-x64's; it needs glibc 2.17, Linux 3.10 and an x86-64 CPU",
    "with SSE4.2 (Nehalem or later).",
    "Bun itself is MIT-licensed; its source is https://github.com/oven-sh/bun (tag bun-v" + runtime.version + ").",
    "",
    "The binary statically links the libraries below. JavaScriptCore/WebKit (LGPL-2.0) and tinycc (LGPL-2.1):",
    "their complete corresponding source is at the addresses given (the WebKit commit Bun builds is named in",
    "Bun's source at that tag, scripts/build/deps/webkit.ts), and Bun's LICENSE.md explains how to relink the",
    "binary with a modified JavaScriptCore.",
    "",
    "To run the handler on such a modified Bun, rebuild bin/handler from this extension's complete source (MIT,",
    "published with this package: the repository it was built from, at the tag of this version). In a clone of it,",
    "`npm ci` and then `node scripts/build.mjs` make dist/handler/handler.mjs; then run, with your Bun build as",
    "<your-bun>:",
    "",
    "  <your-bun> build --compile --bytecode --format=esm --splitting --no-compile-autoload-dotenv \\",
    "    --no-compile-autoload-bunfig --compile-executable-path=<your-bun> \\",
    "    dist/handler/handler.mjs --outfile=handler",
    "",
    "and put the resulting handler in place of bin/handler (mode 0755). The handler needs nothing else from the",
    "runtime. The licence texts of all of them are in Bun's repository (LICENSE.md) and in each project's source.",
    "",
    ...BUN_COMPONENTS.map(([name, license, source]) => `- ${name}: ${license}; source ${source}`),
    "",
  ];
  return lines.join("\n");
}

/** THIRD-PARTY-NOTICES.txt: a header, then each package's name, version, licence and licence text. */
export function npmNotice(what: string, packages: readonly BundledPackage[]): string {
  const parts = [
    `${what} includes the following npm packages, bundled from node_modules at build time. Each is listed with`,
    "its version, its licence and the licence text its package ships.",
    "",
  ];
  for (const pkg of packages) {
    parts.push("=".repeat(78), `${pkg.name}@${pkg.version} — ${pkg.license}`, "-".repeat(78), pkg.licenseText, "");
  }
  return parts.join("\n");
}
