import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { createLineLogger } from "../../src/handler/log-line.ts";
import { createLogger } from "../../src/handler/log.ts";
import { registerSecret } from "../../src/handler/secrets.ts";
import { makeTempDir } from "../../simulator/system-root.ts";

/** The same calls through a logger; returns its lines without the timestamps. */
function linesOf(make: typeof createLogger): string[] {
  const dir = makeTempDir();
  const log = make({ logFolder: dir, operation: "enable", seq: 7 });
  log.info("plain message");
  log.warn({ child: "omsadmin", exitCode: 3 }, "with fields");
  log.info({ workspaceKey: "a-key", nested: { proxy: "http://u:p@h:1", keep: 1 }, key: "k" }, "masked fields");
  log.error({ code: 53, reason: "WorkspaceKeyRejected", details: undefined }, "two\nlines and LineLoggerSecret99");
  return readFileSync(`${dir}/extension.log`, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => line.replace(/^\S+Z /, ""));
}

test("the plain logger of nothing-to-do runs writes exactly the lines the pino logger writes", () => {
  registerSecret("LineLoggerSecret99");
  const pino = linesOf(createLogger);
  assert.deepEqual(linesOf(createLineLogger), pino);
  assert.deepEqual(pino, [
    "INFO  enable seq=7 plain message",
    'WARN  enable seq=7 with fields {"child":"omsadmin","exitCode":3}',
    'INFO  enable seq=7 masked fields {"workspaceKey":"***","nested":{"proxy":"***","keep":1},"key":"***"}',
    'ERROR enable seq=7 two\\nlines and *** {"code":53,"reason":"WorkspaceKeyRejected"}',
  ]);
});
