// Builds the on-machine handler: esbuild bundles src/handler into dist/handler/ (the entry handler.mjs and the
// chunks it imports on demand, chunks/), then Bun compiles those into one executable with their bytecode,
// dist/handler/handler, which the package ships as bin/handler (README: "The runtime: Bun"). Code splitting is
// what keeps a run with nothing to do fast: pino, ajv and execa sit in chunks that only real work imports
// (src/handler/fast-path.ts), and the executable still evaluates a dynamically imported module only when it is
// imported. The fleet CLI is a separate entry and never lands here.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { tsImport } from "tsx/esm/api";
import { precompiledSettingsValidators } from "./settings-validators.mjs";

/**
 * proper-lockfile's signal-exit 3 (its lock release at exit) loads node:assert and node:events and hooks 17
 * signals: src/handler/exit-hooks.cjs keeps what the handler needs of it. Only proper-lockfile's: execa's
 * signal-exit 4 (killing children when the handler exits) stays itself.
 */
const lockfileExitHooks = {
  name: "lockfile-exit-hooks",
  setup(build) {
    build.onResolve({ filter: /^signal-exit$/ }, ({ importer }) =>
      /[\\/]node_modules[\\/]proper-lockfile[\\/]/.test(importer)
        ? { path: fileURLToPath(new URL("../src/handler/exit-hooks.cjs", import.meta.url)) }
        : undefined,
    );
  },
};

const outdir = "dist/handler";
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { handler: "src/handler/main.ts" },
  outdir,
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // The CommonJS dependencies (pino, ajv, proper-lockfile) call require() for Node's built-in modules. Every
  // chunk gets this banner, but only a chunk that calls require() creates one: createRequire cost ~0.4 ms per
  // chunk at start-up, for the ten chunks a run loads.
  banner: {
    js: 'import { createRequire as __handlerRequire } from "node:module";\nlet __handlerRequireFn;\nfunction require(id) { return (__handlerRequireFn ??= __handlerRequire(import.meta.url))(id); }',
  },
  alias: {
    // graceful-fs (pulled in by proper-lockfile) patches fs to retry EMFILE under heavy fan-out; a handler run
    // opens a handful of files, and loading it was half the start-up cost of a run with nothing to do.
    "graceful-fs": "./src/handler/plain-fs.cjs",
  },
  // pino's transports find their worker scripts beside pino's own files (__dirname); the handler uses no transport and
  // ships no worker, and left free, Bun's compile would write the build machine's directory into the executable,
  // so that the same sources built in another checkout gave other bytes.
  define: { __dirname: JSON.stringify("/pino-transport-workers-not-shipped") },
  // The settings validators compiled now rather than by ajv at every run that validates settings.
  plugins: [precompiledSettingsValidators, lockfileExitHooks],
  minify: false,
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
});

// Compiled on the pinned runtime itself (scripts/runtime.ts compileExecutable, never a Bun that the build would
// download): shippedRuntime() refuses a runtime that is missing or not the pinned version, and then nothing is
// built. Bytecode takes parsing the handler's JavaScript out of every start.
const { compileExecutable } = await tsImport("./runtime.ts", import.meta.url);
compileExecutable(`${outdir}/handler.mjs`, "dist/handler/handler");

// The simulated OMS bundle is generated, not committed: every npm script that needs it (test, start, package,
// bench) starts here, so a fresh clone gets it from its sources in simulator/oms/src/.
execFileSync("sh", ["simulator/oms/build-bundle.sh"], { stdio: ["ignore", "ignore", "inherit"] });
