// The settings validators as ajv standalone code: what src/shared/settings-validators.ts compiles at run time,
// compiled here once at build time (same schemas, same options, src/shared/ajv-options.json). scripts/build.mjs
// puts this code in the handler's bundle in place of that module; test/settings-validators.test.ts holds the
// shipped validators to the run-time ones.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import standalone from "ajv/dist/standalone/index.js";

const repo = fileURLToPath(new URL("..", import.meta.url));
const json = (path) => JSON.parse(readFileSync(new URL(path, new URL("..", import.meta.url)), "utf8"));

/** The module the bundle gets for src/shared/settings-validators.ts: ESM exporting validatePublic and validateProtected. */
export function settingsValidatorsModule() {
  const ajv = new Ajv({ ...json("src/shared/ajv-options.json"), code: { source: true, esm: true } });
  ajv.addSchema(json("schemas/public-settings.schema.json"), "public");
  ajv.addSchema(json("schemas/protected-settings.schema.json"), "protected");
  return standalone.default(ajv, { validatePublic: "public", validateProtected: "protected" });
}

/** esbuild plugin: serves the precompiled module for src/shared/settings-validators.ts. */
export const precompiledSettingsValidators = {
  name: "precompiled-settings-validators",
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/]shared[\\/]settings-validators\.ts$/ }, () => ({
      contents: settingsValidatorsModule(),
      loader: "js",
      // The standalone code requires ajv's small run-time helpers (e.g. ucs2length), bundled from node_modules.
      resolveDir: repo,
    }));
  },
};
