import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadEnvironment } from "../../src/handler/environment.ts";
import { ExtensionError } from "../../src/handler/errors.ts";
import { parseProcessEnvironment } from "../../src/handler/process-env.ts";
import { currentSequence } from "../../src/handler/sequence.ts";
import { makeTempDir } from "../../simulator/system-root.ts";

function layout() {
  const lib = makeTempDir();
  const ext = join(lib, "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux-1.2.3");
  mkdirSync(join(ext, "config"), { recursive: true });
  writeFileSync(join(ext, "manifest.xml"), "<ExtensionImage><Version>1.2.3</Version></ExtensionImage>");
  const handlerEnvironment = [
    {
      name: "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux",
      version: 1.0,
      handlerEnvironment: {
        logFolder: join(lib, "log"),
        configFolder: join(ext, "config"),
        statusFolder: join(ext, "status"),
        heartbeatFile: join(ext, "heartbeat.log"),
        eventsFolder: join(lib, "log", "events"),
      },
    },
  ];
  return { lib, ext, text: JSON.stringify(handlerEnvironment) };
}

test("HandlerEnvironment.json is read from the extension directory", () => {
  const { lib, ext, text } = layout();
  writeFileSync(join(ext, "HandlerEnvironment.json"), text);
  const env = loadEnvironment(ext, {});
  assert.equal(env.version, "1.2.3");
  assert.equal(env.statusFolder, join(ext, "status"));
  assert.equal(env.libDir, lib);
  assert.equal(env.stateDir, join(lib, "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux"));
});

test("HandlerEnvironment.json one level above is found too; a BOM is tolerated", () => {
  const { ext, text } = layout();
  writeFileSync(join(ext, "..", "HandlerEnvironment.json"), `\uFEFF${text}`);
  assert.equal(loadEnvironment(ext, {}).logFolder.endsWith("log"), true);
});

test("a missing or broken HandlerEnvironment.json is a clear error", () => {
  const { ext } = layout();
  assert.throws(
    () => loadEnvironment(ext, {}),
    (e: unknown) => e instanceof ExtensionError && /not found/.test(e.problem),
  );
  writeFileSync(join(ext, "HandlerEnvironment.json"), "[{}]");
  assert.throws(
    () => loadEnvironment(ext, {}),
    (e: unknown) => e instanceof ExtensionError && /handlerEnvironment/.test(e.problem),
  );
});

test("sequence number: ConfigSequenceNumber wins, else the highest N.settings, else 0", () => {
  const dir = makeTempDir();
  assert.equal(currentSequence(dir, {}), 0);
  for (const name of ["2.settings", "10.settings", "9.settings", "HandlerState", "11.settings.tmp"]) writeFileSync(join(dir, name), "");
  assert.equal(currentSequence(dir, {}), 10);
  assert.equal(currentSequence(dir, parseProcessEnvironment({ ConfigSequenceNumber: "4" })), 4);
  assert.equal(currentSequence(dir, parseProcessEnvironment({ ConfigSequenceNumber: "junk" })), 10);
});
