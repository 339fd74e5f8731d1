// Lint: JavaScript's and typescript-eslint's recommended rules over the handler, the CLI, the scripts and the
// tests. Formatting is prettier's job (.prettierrc.json); unused code is knip's (knip.json) and tsc's.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "cli/dist/**", "node_modules/**", "simulator/oms/omsagent-*.sh", ".cache/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: "readonly",
        Buffer: "readonly",
        console: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        URL: "readonly",
        AbortController: "readonly",
        AbortSignal: "readonly",
        TextEncoder: "readonly",
        performance: "readonly",
        crypto: "readonly",
        structuredClone: "readonly",
        queueMicrotask: "readonly",
        fetch: "readonly",
      },
    },
    rules: {
      // `_name` marks a value destructured away on purpose.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
    },
  },
  {
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { module: "writable", require: "readonly" } },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
