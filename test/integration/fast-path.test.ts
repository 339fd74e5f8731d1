// Runs with nothing to do load only what they need (src/handler/fast-path.ts): proven by taking the chunks
// that hold pino, ajv and execa out of the installed extension. The nothing-to-do runs still succeed exactly
// as before; a run with real work fails without them (so the test would notice a fast path that loads them).
import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { createSimulatedVm, WORKSPACE_ID, WORKSPACE_KEY, type SimulatedVm } from "../../simulator/vm.ts";

const SETTINGS = { publicSettings: { workspaceId: WORKSPACE_ID }, protectedSettings: { workspaceKey: WORKSPACE_KEY } };
/** The chunks esbuild names after the modules that import pino (log.ts), ajv (settings-schema.ts) and execa. */
const HEAVY_CHUNKS = [/^log-.*\.mjs$/, /^settings-schema-.*\.mjs$/, /^execa-.*\.mjs$/];

const vms: SimulatedVm[] = [];
after(async () => {
  await Promise.all(vms.map((vm) => vm.close()));
});

async function newVm() {
  const vm = await createSimulatedVm();
  vms.push(vm);
  const version = [...vm.staged.keys()][0]!;
  vm.agent.setup({ dir: vm.staged.get(version)!.dir }, { seq: 0, settings: SETTINGS });
  return { vm, version, agent: vm.agent };
}

/**
 * Removes pino's, ajv's and execa's chunks from the installed extension, and `also` (operations' modules whose
 * nothing-to-do answer src/handler/fast-path.ts gives); fails if any of them is not found.
 */
function removeHeavyChunks(vm: SimulatedVm, version: string, also: RegExp[] = []): void {
  const chunks = join(vm.agent.baseDir(version), "bin", "chunks");
  const names = readdirSync(chunks);
  for (const pattern of [...HEAVY_CHUNKS, ...also]) {
    const matching = names.filter((name) => pattern.test(name));
    assert.equal(matching.length, 1, `one chunk matches ${pattern} in ${names.join(", ")}`);
    rmSync(join(chunks, matching[0]!));
  }
}

test("a no-op enable needs neither pino, ajv, execa nor enable's own module, and leaves the status alone", async () => {
  const { vm, version, agent } = await newVm();
  assert.ok((await agent.firstInstall(version)).ok);
  const status = readFileSync(agent.statusFile(version, 0), "utf8");
  removeHeavyChunks(vm, version, [/^enable-.*\.mjs$/]);

  const noop = await agent.run(version, "enable");
  assert.equal(noop.exitCode, 0, noop.output);
  assert.match(noop.stdout, /enable seq 0: success .* Enable succeeded: sequence 0 was already applied/);
  assert.equal(readFileSync(agent.statusFile(version, 0), "utf8"), status);
  assert.match(
    vm.extensionLog(),
    /INFO {2}enable seq=0 sequence 0 is already applied with these settings \(same settings file\): nothing to do\n.*INFO {2}enable seq=0 enable made no change; status left as it was\n.*INFO {2}enable seq=0 enable finished \{"exitCode":0,"durationMs":\d+\}\n$/,
  );

  // A new sequence has real work and needs them: proof that the chunks are really gone.
  agent.writeSettings(1, SETTINGS, version);
  const full = await agent.run(version, "enable");
  assert.equal(full.exitCode, 30, full.output);
  assert.match(
    agent.readStatus(version, 1).message,
    /^Enable failed \(30 HandlerFilesMissing\): the extension's files on this machine are incomplete .* — remove the extension and add it again/,
  );
});

test("disable, update and uninstall with nothing installed need neither pino, ajv nor execa (disable not even its module)", async () => {
  const { vm, version, agent } = await newVm();
  removeHeavyChunks(vm, version, [/^disable-.*\.mjs$/]);
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
  assert.match(agent.readStatus(version, 0).message, /^Install failed \(30 HandlerFilesMissing\)/);
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
