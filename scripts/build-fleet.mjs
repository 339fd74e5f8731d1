// Bundles the fleet CLI (src/cli, src/shared, schemas, ajv) into one ES module, cli/dist/omsagent-fleet.mjs,
// the `bin` of the omsagent-fleet npm package (cli/package.json). The Azure SDK stays outside the bundle: it is
// the package's runtime dependencies, installed by npm next to it, and never part of the extension zip.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const manifest = JSON.parse(readFileSync(join(root, "cli", "package.json"), "utf8"));

await build({
  absWorkingDir: root,
  entryPoints: ["src/cli/bin.ts"],
  outfile: "cli/dist/omsagent-fleet.mjs",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: Object.keys(manifest.dependencies),
  // ajv is CommonJS; bundled into an ES module its require() calls need a real require.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __fleetCreateRequire } from 'node:module';\nconst require = __fleetCreateRequire(import.meta.url);",
  },
  legalComments: "none",
  logLevel: "warning",
});
