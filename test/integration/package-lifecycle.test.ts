// The real package (Bun runtime, zip unpacked like the guest agent does) through its whole
// life: install, enable, new settings, idempotent enable, disable, enable, update A→B, uninstall.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { buildPackage, type BuiltPackage } from "../../scripts/package.ts";
import { BUN_RUNTIME } from "../../scripts/runtime.ts";
import { runLifecycle, type StepRecord } from "../../simulator/lifecycle.ts";
import { createSimulatedVm, WORKSPACE_ID, type SimulatedVm } from "../../simulator/vm.ts";
import { makeTempDir } from "../../simulator/system-root.ts";

const A = "1.19.0";
const B = "1.19.1";
let vm: SimulatedVm;
let steps: StepRecord[];
let packages: BuiltPackage[];

before(async () => {
  const out = makeTempDir("omsext-pkg-");
  packages = [await buildPackage({ version: A, outDir: out }), await buildPackage({ version: B, outDir: out })];
  vm = await createSimulatedVm({ versions: [] });
  steps = await runLifecycle(vm, {
    from: { version: A, source: { zip: packages[0]!.zipPath } },
    to: { version: B, source: { zip: packages[1]!.zipPath } },
  });
});
after(() => vm?.close());

const ops = (step: StepRecord) => step.commands.map((c) => `${c.version}.${c.operation}=${c.exitCode}`);

test("the package carries its own runtime: the unpacked handler runs the bundled Bun", () => {
  assert.ok(packages.every((p) => p.entries.some((e) => e.name === "bin/handler")));
  // The tests run under this machine's Node; every handler command ran under the runtime in the package.
  assert.equal(process.versions.bun, undefined);
  const runtimes = [...vm.extensionLog().matchAll(/ started \{"handlerVersion":"[^"]+","runtime":"([^"]+)"/g)].map((m) => m[1]);
  assert.ok(runtimes.length >= 8, `${runtimes.length} commands logged their runtime`);
  assert.deepEqual(new Set(runtimes), new Set([`bun ${BUN_RUNTIME.version}`]));
});

test("first install then enable", () => {
  const [step] = steps;
  assert.deepEqual(ops(step!), [`${A}.install=0`, `${A}.enable=0`]);
  assert.equal(step!.handlerStatus?.status, "Ready");
  assert.equal(step!.status?.status, "success");
  assert.equal(step!.status?.operation, "Enable");
  assert.match(step!.status!.message, new RegExp(`^Enable succeeded: connected to workspace ${WORKSPACE_ID}`));
});

test("new settings (seq 1) run enable fully and report the proxy without its credentials", () => {
  const step = steps[1]!;
  assert.deepEqual(ops(step), [`${A}.enable=0`]);
  assert.equal(step.seq, 1);
  assert.equal(step.status?.status, "success");
  assert.equal(step.status?.substatus.find((s) => s.name === "Proxy")?.message, "proxy.contoso.example:3128 (from protected settings)");
});

test("enable again with the same seq returns fast and leaves the status untouched", () => {
  const [, before, again] = steps;
  assert.deepEqual(ops(again!), [`${A}.enable=0`]);
  assert.equal(again!.statusMtimeMs, before!.statusMtimeMs);
  assert.equal(again!.status?.raw, before!.status?.raw);
  assert.ok(again!.commands[0]!.durationMs < before!.commands[0]!.durationMs, "the no-op enable is faster than a real one");
});

test("disable, then enable again", () => {
  assert.deepEqual(ops(steps[3]!), [`${A}.disable=0`]);
  assert.equal(steps[3]!.status?.operation, "Disable");
  assert.equal(steps[3]!.handlerStatus?.message, "Plugin disabled");
  assert.deepEqual(ops(steps[4]!), [`${A}.enable=0`]);
  assert.equal(steps[4]!.status?.operation, "Enable");
  assert.equal(steps[4]!.status?.status, "success");
});

test("update A→B keeps the workspace onboarded with the same agent identity", () => {
  const step = steps[5]!;
  assert.deepEqual(ops(step), [`${A}.disable=0`, `${B}.update=0`, `${A}.uninstall=0`, `${B}.install=0`, `${B}.enable=0`]);
  assert.equal(step.status?.status, "success");
  assert.match(step.status!.message, new RegExp(`connected to workspace ${WORKSPACE_ID}`));
  assert.equal(step.handlerStatus?.status, "Ready");
});

test("uninstall removes the agent and leaves no handler state behind", () => {
  const step = steps[6]!;
  assert.deepEqual(ops(step), [`${B}.disable=0`, `${B}.uninstall=0`]);
  assert.ok(!existsSync(vm.agent.baseDir(B)));
  assert.deepEqual(
    readdirSync(vm.agent.libDir).filter((name) => name.startsWith("Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux")),
    [],
  );
  assert.ok(!existsSync(join(vm.root, "etc/opt/microsoft/omsagent", WORKSPACE_ID)));
  assert.ok(!existsSync(join(vm.root, "opt/microsoft/omsagent/bin/omsadmin.sh")));
});

test("the agent identity survived the update", () => {
  // The simulated omsadmin.sh logs the agent GUID on every onboarding; update must not mint a new one.
  const guids = new Set([...vm.extensionLog().matchAll(/Agent GUID is ([0-9a-f-]{36})/g)].map((m) => m[1]));
  assert.equal(guids.size, 1, [...guids].join(", "));
  assert.ok(!readFileSync(join(vm.agent.logDir(), "extension.log"), "utf8").includes("S3cret-Proxy-Pw"));
});
