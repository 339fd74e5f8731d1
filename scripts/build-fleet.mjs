// Bundles the fleet CLI (src/cli, src/shared, schemas, ajv) into one ES module, cli/dist/omsagent-fleet.mjs,
// the `bin` of the omsagent-fleet npm package (cli/package.json). The Azure SDK stays outside the bundle: it is
// the package's runtime dependencies, installed by npm next to it, and never part of the extension zip.
// Beside the bin it writes cli/LICENSE (this repository's) and cli/THIRD-PARTY-NOTICES.txt: the licence text of
// every npm package esbuild put into the bin, found from the build's own metafile. Run with tsx loaded (the
// package.json scripts do) because the notices come from scripts/notices.ts.
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { bundledPackages, npmNotice } from "./notices.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const manifest = JSON.parse(readFileSync(join(root, "cli", "package.json"), "utf8"));

const result = await build({
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
  metafile: true,
});

const bundled = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const packages = [...input.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)];
  if (packages.length > 0) bundled.add(packages.at(-1)[1]);
}
copyFileSync(join(root, "LICENSE"), join(root, "cli", "LICENSE"));
writeFileSync(
  join(root, "cli", "THIRD-PARTY-NOTICES.txt"),
  npmNotice(
    "dist/omsagent-fleet.mjs (its dependencies listed in package.json are installed by npm beside it, each with its own licence)",
    bundledPackages([...bundled].sort(), root),
  ),
);
