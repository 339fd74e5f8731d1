// Runs with nothing to do load only what they need (src/handler/fast-path.ts): proven by compiling the handler
// with the chunks that hold pino, ajv and execa replaced by modules that throw as soon as they are evaluated, and
// installing that executable. The nothing-to-do runs still succeed exactly as before; a run with real work fails
// (so the test would notice a fast path that loads them, or an executable that evaluated them at start-up).
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { compileExecutable } from "../../scripts/runtime.ts";
import { REPO_ROOT } from "../../scripts/stage.ts";
import { createSimulatedVm, WORKSPACE_ID, WORKSPACE_KEY, type SimulatedVm } from "../../simulator/vm.ts";

const SETTINGS = { publicSettings: { workspaceId: WORKSPACE_ID }, protectedSettings: { workspaceKey: WORKSPACE_KEY } };
/**
 * The chunks esbuild names after the modules that import pino (log.ts), ajv (settings-schema.ts) and execa, and
 * the modules of the two operations whose nothing-to-do answer src/handler/fast-path.ts gives (enable, disable).
 */
const HEAVY_CHUNKS = [/^log-.*\.mjs$/, /^settings-schema-.*\.mjs$/, /^execa-.*\.mjs$/, /^enable-.*\.mjs$/, /^disable-.*\.mjs$/];

const work = mkdtempSync(join(tmpdir(), "fast-path-"));
let withoutHeavyChunks = "";

/** dist/handler's esbuild output with each heavy chunk turned into a throw, compiled as scripts/build.mjs does. */
before(() => {
  const js = join(work, "js");
  cpSync(join(REPO_ROOT, "dist", "handler"), js, { recursive: true, filter: (path) => !path.endsWith("/handler/handler") });
  const names = readdirSync(join(js, "chunks"));
  for (const pattern of HEAVY_CHUNKS) {
    const matching = names.filter((name) => pattern.test(name));
    assert.equal(matching.length, 1, `one chunk matches ${pattern} in ${names.join(", ")}`);
    writeFileSync(join(js, "chunks", matching[0]!), `throw new Error("the test's stand-in for ${matching[0]} was evaluated");\n`);
  }
  withoutHeavyChunks = join(work, "handler");
  compileExecutable(join(js, "handler.mjs"), withoutHeavyChunks);
});

const vms: SimulatedVm[] = [];
after(async () => {
  await Promise.all(vms.map((vm) => vm.close()));
  rmSync(work, { recursive: true, force: true });
});

async function newVm() {
  const vm = await createSimulatedVm();
  vms.push(vm);
  const version = [...vm.staged.keys()][0]!;
  vm.agent.setup({ dir: vm.staged.get(version)!.dir }, { seq: 0, settings: SETTINGS });
  return { vm, version, agent: vm.agent };
}

/** Installs the executable whose heavy chunks throw in place of the extension's bin/handler. */
function removeHeavyChunks(vm: SimulatedVm, version: string): void {
  const handler = join(vm.agent.baseDir(version), "bin", "handler");
  rmSync(handler);
  symlinkSync(withoutHeavyChunks, handler);
}

test("a no-op enable needs neither pino, ajv, execa nor enable's own module, and leaves the status alone", async () => {
  const { vm, version, agent } = await newVm();
  assert.ok((await agent.firstInstall(version)).ok);
  const status = readFileSync(agent.statusFile(version, 0), "utf8");
  removeHeavyChunks(vm, version);

  const noop = await agent.run(version, "enable");
  assert.equal(noop.exitCode, 0, noop.output);
  assert.match(noop.stdout, /enable seq 0: success .* Enable succeeded: sequence 0 was already applied/);
  assert.equal(readFileSync(agent.statusFile(version, 0), "utf8"), status);
  assert.match(
    vm.extensionLog(),
    /INFO {2}enable seq=0 sequence 0 is already applied with these settings \(same settings file\): nothing to do\n.*INFO {2}enable seq=0 enable made no change; status left as it was\n.*INFO {2}enable seq=0 enable finished \{"exitCode":0,"durationMs":\d+\}\n$/,
  );

  // A new sequence has real work and needs them: proof that the installed executable is the one without them.
  agent.writeSettings(1, SETTINGS, version);
  const full = await agent.run(version, "enable");
  assert.equal(full.exitCode, 30, full.output);
  assert.match(
    agent.readStatus(version, 1).message,
    /^Enable failed \(30 UnexpectedError\): the handler hit an unexpected error \(the test's stand-in for (log|settings-schema|execa|enable|disable)-\w+\.mjs was evaluated\)/,
  );
});

test("disable, update and uninstall with nothing installed need neither pino, ajv nor execa (disable not even its module)", async () => {
  const { vm, version, agent } = await newVm();
  removeHeavyChunks(vm, version);
  const expected = {
    disable: /Disable succeeded: the Log Analytics agent is not installed, so there was nothing to stop/,
    update: /Update succeeded: prepared the update from 1\.0\.0 to \S+; no workspace configuration to keep/,
    uninstall: /Uninstall succeeded: the Log Analytics agent was removed/,
  };
  for (const [operation, message] of Object.entries(expected) as Array<[keyof typeof expected, RegExp]>) {
    const result = await agent.run(version, operation, { updatingFromVersion: "1.0.0" });
    assert.equal(result.exitCode, 0, `${operation}: ${result.output}`);
    assert.equal(agent.readStatus(version, 0).status, "success", operation);
    assert.match(agent.readStatus(version, 0).message, message, operation);
  }
  // install always has work to do: it fails without them.
  const install = await agent.run(version, "install");
  assert.equal(install.exitCode, 30, install.output);
  assert.match(agent.readStatus(version, 0).message, /^Install failed \(30 UnexpectedError\): .*the test's stand-in for \S+ was evaluated/);
});

test("an enable whose status file was lost or damaged runs fully instead of counting as applied", async () => {
  const { agent, version } = await newVm();
  assert.ok((await agent.firstInstall(version)).ok);
  for (const damage of ["", "[", JSON.stringify([{ status: { operation: "Enable", status: "error", code: 53 } }])]) {
    writeFileSync(agent.statusFile(version, 0), damage);
    const rerun = await agent.run(version, "enable");
    assert.equal(rerun.exitCode, 0, rerun.output);
    assert.match(agent.readStatus(version, 0).message, /^Enable succeeded: connected to workspace /, `after status ${JSON.stringify(damage)}`);
  }
});
