// Bundles the on-machine handler into one CommonJS file (dist/handler.cjs) that the shipped Node runtime
// runs with no node_modules beside it. The fleet CLI is a separate entry and never lands in this bundle.
import { build } from "esbuild";

await build({
  entryPoints: ["src/handler/main.ts"],
  outfile: "dist/handler.cjs",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  minify: false,
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
});
