// The README's error-code table and settings reference are part of the product: keep them true.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ErrorCodes } from "../src/handler/errors.ts";
import { ReasonCodes } from "../src/handler/reasons.ts";
import publicSchema from "../schemas/public-settings.schema.json" with { type: "json" };
import protectedSchema from "../schemas/protected-settings.schema.json" with { type: "json" };

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

test("every error code has a row in the README's table", () => {
  for (const code of Object.keys(ErrorCodes)) assert.match(readme, new RegExp(`^\\| ${code} \\| `, "m"), `code ${code}`);
});

test("every reason the handler can report is listed in its code's row", () => {
  const reasons = Object.entries(ReasonCodes);
  assert.ok(reasons.length > 50, `found ${reasons.length} reasons`);
  for (const [reason, code] of reasons) {
    const row = readme.split("\n").find((line) => line.startsWith(`| ${code} | `));
    assert.ok(row?.includes(`\`${reason}\``), `README row for ${code} lacks ${reason}`);
  }
});

test("every reason a README row names is a reason the handler reports under that row's code", () => {
  const table = readme.slice(readme.indexOf("## Error codes"), readme.indexOf("## Where status"));
  const named = table.split("\n").filter((line) => /^\| \d+ \| /.test(line));
  assert.ok(named.length >= Object.keys(ErrorCodes).length);
  for (const line of named) {
    const [, code, , reasons] = line.split(/\s*\|\s*/);
    for (const [, reason] of reasons!.matchAll(/`([A-Z][A-Za-z]+)`/g)) {
      assert.equal(ReasonCodes[reason as keyof typeof ReasonCodes], Number(code), `README row for ${code} names ${reason}`);
    }
  }
});

test("every setting in the schemas is in the settings reference", () => {
  for (const key of [...Object.keys(publicSchema.properties), ...Object.keys(protectedSchema.properties)]) {
    assert.match(readme, new RegExp(`^\\| \`${key}\` \\|`, "m"), key);
  }
});

test("the quick start is two commands, and CI runs the README's test command", () => {
  const quickStart = /## Quick start[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  const commands = quickStart.split("\n").filter((line) => line.trim() !== "");
  assert.equal(commands.length, 2);
  const testCommand = commands[1]!.split("#")[0]!.trim();
  assert.equal(testCommand, "npm test");
  const ci = readFileSync(new URL("../.ci/run", import.meta.url), "utf8");
  assert.match(ci, /^npm test$/m);
});
