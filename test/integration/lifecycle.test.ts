// The handler run as a separate process, exactly as the guest agent runs it, against the simulated OMS
// toolchain: every operation's success, the guest agent's sequences, idempotency, locking and deadlines.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { createSimulatedVm, OTHER_WORKSPACE_ID, WORKSPACE_ID, WORKSPACE_KEY, type SimulatedVm, type SimulatedVmOptions } from "../../simulator/vm.ts";

const vms: SimulatedVm[] = [];
after(async () => {
  await Promise.all(vms.map((vm) => vm.close()));
});

const SETTINGS = { publicSettings: { workspaceId: WORKSPACE_ID }, protectedSettings: { workspaceKey: WORKSPACE_KEY } };

/** A VM with two staged versions, `first` installed and enabled, the other set up for an update. */
async function twoVersionVm(first: string, second: string) {
  const vm = await createSimulatedVm({ versions: [first, second] });
  vms.push(vm);
  vm.agent.setup({ dir: vm.staged.get(first)!.dir }, { seq: 0, settings: SETTINGS });
  assert.ok((await vm.agent.firstInstall(first)).ok);
  return vm;
}

async function vmWithSettings(settings: Parameters<SimulatedVm["agent"]["writeSettings"]>[1] = SETTINGS, options: SimulatedVmOptions = {}) {
  const vm = await createSimulatedVm(options);
  vms.push(vm);
  const version = [...vm.staged.keys()][0]!;
  vm.agent.setup({ dir: vm.staged.get(version)!.dir }, { seq: 0, settings });
  return { vm, version, agent: vm.agent };
}

test("first install then enable: success statuses, agent onboarded, log and telemetry written", async () => {
  const { vm, version, agent } = await vmWithSettings();
  const result = await agent.firstInstall(version);
  assert.ok(result.ok, JSON.stringify(result.error));
  assert.deepEqual(
    result.commands.map((c) => [c.operation, c.exitCode]),
    [
      ["install", 0],
      ["enable", 0],
    ],
  );
  const status = agent.readStatus(version, 0);
  assert.equal(status.status, "success");
  assert.equal(status.code, 0);
  assert.match(status.message, /^Enable succeeded: connected to workspace 0123abcd-1111-2222-3333-444455556666/);
  assert.deepEqual(
    status.substatus?.map((s) => s.name),
    ["Workspace", "CloudDomain", "ResourceId", "Proxy", "AgentBundle"],
  );
  assert.ok(existsSync(join(vm.root, "etc/opt/microsoft/omsagent", WORKSPACE_ID, "conf/omsadmin.conf")));
  assert.ok(!existsSync(join(vm.root, "etc/omsagent-onboard.conf")), "the onboarding file with the key is removed");
  assert.match(vm.extensionLog(), /^\S+Z INFO {2}install seq=0 install started/m);
  const events = readdirSync(agent.eventsDir());
  assert.equal(events.length, 2);
  for (const name of events) {
    assert.match(name, /^\d+\.json$/);
    const [event] = JSON.parse(readFileSync(join(agent.eventsDir(), name), "utf8"));
    for (const key of ["Version", "Timestamp", "TaskName", "EventLevel", "Message", "EventPid", "EventTid", "OperationId"])
      assert.equal(typeof event[key], "string", key);
  }
  assert.match(result.commands[1]!.stdout, /enable seq 0: success/);
  assert.equal(result.commands[1]!.stderr, "");
});

test("enable again with the same sequence returns at once and leaves the status alone", async () => {
  const { vm, version, agent } = await vmWithSettings();
  await agent.firstInstall(version);
  const statusFile = agent.statusFile(version, 0);
  const before = readFileSync(statusFile, "utf8");
  const mtime = statSync(statusFile).mtimeMs;
  const callsBefore = vm.calls().length;
  const again = await agent.enable(version);
  assert.ok(again.ok);
  assert.equal(readFileSync(statusFile, "utf8"), before);
  assert.equal(statSync(statusFile).mtimeMs, mtime);
  assert.equal(vm.calls().length, callsBefore, "no tool was run");
  assert.match(vm.extensionLog(), /already applied with these settings \(same settings file\)/);

  // The agent rewrites the same settings, encrypted anew: different bytes, same meaning, still nothing to do.
  agent.writeSettings(0, SETTINGS, version);
  assert.ok((await agent.enable(version)).ok);
  assert.equal(readFileSync(statusFile, "utf8"), before);
  assert.equal(vm.calls().length, callsBefore);
  assert.match(vm.extensionLog(), /already applied with these settings \(same effective settings\)/);
});

test("a new sequence with new settings runs enable fully; a failed enable records nothing and is retried", async () => {
  const { vm, version, agent } = await vmWithSettings();
  await agent.firstInstall(version);
  agent.writeSettings(1, { ...SETTINGS, publicSettings: { workspaceId: WORKSPACE_ID, skipDockerProviderInstall: "true" } });
  // A failure omsadmin.sh reports before its check for a running agent (which would skip the onboarding).
  vm.fault("omsadmin-onboard", "exit:3", 1);
  const failed = await agent.enable(version);
  assert.equal(failed.commands[0]!.exitCode, 53);
  assert.equal(agent.readStatus(version, 1).status, "error");
  const retried = await agent.enable(version);
  assert.equal(retried.commands[0]!.exitCode, 0);
  assert.equal(agent.readStatus(version, 1).status, "success");
});

test("disable stops the agent, and the next enable with the same settings starts it again", async () => {
  const { vm, version, agent } = await vmWithSettings();
  await agent.firstInstall(version);
  const disabled = await agent.disable(version);
  assert.equal(disabled.commands[0]!.exitCode, 0);
  assert.match(agent.readStatus(version, 0).message, /^Disable succeeded: the Log Analytics agent's services are stopped/);
  assert.ok(vm.calls().some((line) => line.startsWith("service_control disable")));
  const calls = vm.calls().length;
  const enabled = await agent.enable(version);
  assert.equal(enabled.commands[0]!.exitCode, 0);
  assert.ok(vm.calls().length > calls, "enable ran the tools again after a disable");
  assert.equal(agent.readStatus(version, 0).operation, "Enable");
});

test("disable before install succeeds and says nothing was installed", async () => {
  const { version, agent } = await vmWithSettings();
  const result = await agent.run(version, "disable");
  assert.equal(result.exitCode, 0);
  assert.match(agent.readStatus(version, 0).message, /not installed, so there was nothing to stop/);
});

test("enable before install is 9", async () => {
  const { version, agent } = await vmWithSettings();
  const result = await agent.run(version, "enable");
  assert.equal(result.exitCode, 9);
  const status = agent.readStatus(version, 0);
  assert.equal(status.status, "error");
  assert.equal(status.code, 9);
  assert.match(status.message, /^Enable failed \(9 EnableBeforeInstall\): .* — /);
  assert.match(result.stderr, /Enable failed \(9 EnableBeforeInstall\)/);
});

test("update A→B keeps the workspace configuration and the agent identity", async () => {
  const vm = await twoVersionVm("1.19.0", "1.19.1");
  const { agent } = vm;
  const conf = join(vm.root, "etc/opt/microsoft/omsagent", WORKSPACE_ID, "conf/omsadmin.conf");
  const agentGuid = /AGENT_GUID=(\S+)/.exec(readFileSync(conf, "utf8"))?.[1];
  assert.ok(agentGuid);

  agent.setup({ dir: vm.staged.get("1.19.1")!.dir }, { seq: 0, settings: SETTINGS });
  const update = await agent.update("1.19.0", "1.19.1");
  assert.ok(update.ok, JSON.stringify(update.error));
  assert.deepEqual(
    update.commands.map((c) => `${c.version}.${c.operation}=${c.exitCode}`),
    ["1.19.0.disable=0", "1.19.1.update=0", "1.19.0.uninstall=0", "1.19.1.install=0", "1.19.1.enable=0"],
  );
  assert.ok(!existsSync(agent.baseDir("1.19.0")));
  assert.equal(/AGENT_GUID=(\S+)/.exec(readFileSync(conf, "utf8"))?.[1], agentGuid, "same agent identity");
  assert.ok(!vm.calls().some((line) => line.startsWith("bundle --remove")), "the old version's uninstall removed nothing");
  assert.equal(agent.readStatus("1.19.1", 0).status, "success");
  assert.match(update.commands[2]!.stdout, /part of the update to 1\.19\.1/);
});

test("uninstall removes the agent, the workspace configuration and the handler's state", async () => {
  const { vm, version, agent } = await vmWithSettings();
  await agent.firstInstall(version);
  const result = await agent.uninstall(version);
  assert.ok(result.ok && !result.error, JSON.stringify(result.error));
  assert.deepEqual(
    result.commands.map((c) => [c.operation, c.exitCode]),
    [
      ["disable", 0],
      ["uninstall", 0],
    ],
  );
  assert.ok(vm.calls().some((line) => line.startsWith("bundle --remove")));
  assert.ok(!existsSync(join(vm.root, "etc/opt/microsoft/omsagent", WORKSPACE_ID)));
  assert.ok(!existsSync(join(vm.root, "var/opt/microsoft/omsagent", WORKSPACE_ID)));
  assert.ok(!existsSync(join(agent.libDir, "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux")), "no handler state left");
  assert.ok(!existsSync(join(vm.root, "opt/microsoft/omsagent/bin/omsadmin.sh")));
});

test('stopOnMultipleConnections: true and "true" refuse another workspace with 10 naming it; false multi-homes', async () => {
  for (const [flag, expected] of [
    [true, 10],
    ["true", 10],
    ["TRUE", 10],
    [false, 0],
  ] as const) {
    const { vm, version, agent } = await vmWithSettings({ ...SETTINGS, publicSettings: { workspaceId: WORKSPACE_ID, stopOnMultipleConnections: flag } });
    // Another workspace is already connected on this machine (omsadmin.sh wrote its omsadmin.conf).
    const other = join(vm.root, "etc/opt/microsoft/omsagent", OTHER_WORKSPACE_ID, "conf");
    mkdirSync(other, { recursive: true });
    writeFileSync(join(other, "omsadmin.conf"), `WORKSPACE_ID=${OTHER_WORKSPACE_ID}\n`);
    const install = await agent.run(version, "install");
    assert.equal(install.exitCode, expected, `flag ${JSON.stringify(flag)}`);
    if (expected === 10) {
      const status = agent.readStatus(version, 0);
      assert.equal(status.code, 10);
      assert.match(status.message, new RegExp(`^Install failed \\(10 MultipleConnections\\): this machine already reports to workspace ${OTHER_WORKSPACE_ID}`));
      assert.match(status.message, /stopOnMultipleConnections to false/);
    }
  }
});

test("stopOnMultipleConnections is also checked at enable", async () => {
  const { vm, version, agent } = await vmWithSettings({ ...SETTINGS, publicSettings: { workspaceId: WORKSPACE_ID, stopOnMultipleConnections: "true" } });
  assert.equal((await agent.run(version, "install")).exitCode, 0);
  mkdirSync(join(vm.root, "etc/opt/microsoft/omsagent", OTHER_WORKSPACE_ID, "conf"), { recursive: true });
  writeFileSync(join(vm.root, "etc/opt/microsoft/omsagent", OTHER_WORKSPACE_ID, "conf/omsadmin.conf"), `WORKSPACE_ID=${OTHER_WORKSPACE_ID}\n`);
  const enable = await agent.run(version, "enable");
  assert.equal(enable.exitCode, 10);
  assert.match(agent.readStatus(version, 0).message, new RegExp(OTHER_WORKSPACE_ID));
});

/** Resolves once the simulated bundle has been started (by an install that holds the handler lock). */
async function bundleStarted(vm: SimulatedVm): Promise<void> {
  while (!vm.calls().some((line) => line.startsWith("bundle --upgrade"))) await new Promise((r) => setTimeout(r, 50));
}

test("two concurrent invocations are serialised by the handler lock", async () => {
  const { vm, version, agent } = await vmWithSettings();
  vm.fault("bundle-upgrade", "slow:2", 1);
  // The second starts once the first holds the lock (it runs the bundle under it), however loaded the machine is.
  const [first, second] = await Promise.all([agent.run(version, "install"), bundleStarted(vm).then(() => agent.run(version, "disable"))]);
  assert.equal(first.exitCode, 0);
  assert.equal(second.exitCode, 0);
  assert.match(vm.extensionLog(), /another handler operation is running: waiting for it to finish/);
  // disable ran after install finished, so it found the agent installed and stopped it.
  assert.match(second.stdout, /services are stopped/);
});

test("a second invocation gives up within its own budget with a clear message", async () => {
  const { vm, version, agent } = await vmWithSettings(SETTINGS, { env: {} });
  vm.fault("bundle-upgrade", "slow:6", 1);
  const installing = agent.run(version, "install");
  await bundleStarted(vm);
  const waiting = await agent.run(version, "disable", { extraEnv: { OMS_HANDLER_DEADLINE_SECONDS: "2" } });
  assert.equal(waiting.exitCode, 30);
  assert.match(waiting.stderr, /Disable failed \(30 AnotherOperationRunning\): another OmsAgentForLinux operation held the handler lock/);
  assert.equal((await installing).exitCode, 0);
});

test("a hanging child is killed with its process group at the deadline and reported with a code", async () => {
  const { vm, version, agent } = await vmWithSettings();
  vm.fault("bundle-upgrade", "hang");
  const started = Date.now();
  const result = await agent.run(version, "install", { extraEnv: { OMS_HANDLER_DEADLINE_SECONDS: "3" } });
  assert.ok(Date.now() - started < 15_000);
  assert.equal(result.exitCode, 55);
  assert.match(agent.readStatus(version, 0).message, /^Install failed \(55 BundleTimedOut\)/);
  const leftovers = readdirSync("/proc")
    .filter((pid) => /^\d+$/.test(pid))
    .filter((pid) => {
      try {
        // Every process of the tree inherited the simulated root in its environment.
        return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(`OMS_HANDLER_ROOT=${vm.root}`);
      } catch {
        return false;
      }
    });
  assert.deepEqual(leftovers, [], "no process of the bundle's tree survives");
});

test("downgrade B→A (the agent runs the newer version's update) also keeps the workspace", async () => {
  const vm = await twoVersionVm("1.19.1", "1.19.0");
  const { agent } = vm;
  agent.setup({ dir: vm.staged.get("1.19.0")!.dir }, { seq: 0, settings: SETTINGS });
  const downgrade = await agent.update("1.19.1", "1.19.0");
  assert.ok(downgrade.ok, JSON.stringify(downgrade.error));
  assert.deepEqual(
    downgrade.commands.map((c) => `${c.version}.${c.operation}=${c.exitCode}`),
    ["1.19.1.disable=0", "1.19.1.update=0", "1.19.1.uninstall=0", "1.19.0.install=0", "1.19.0.enable=0"],
  );
  assert.ok(!vm.calls().some((line) => line.startsWith("bundle --remove")));
  assert.ok(existsSync(join(vm.root, "etc/opt/microsoft/omsagent", WORKSPACE_ID, "conf/omsadmin.conf")));
});

test("an update marker only protects the version being updated from", async () => {
  const vm = await twoVersionVm("1.19.0", "1.19.1");
  const { agent } = vm;
  agent.setup({ dir: vm.staged.get("1.19.1")!.dir }, { seq: 0, settings: SETTINGS });
  // The update was prepared, then the sequence stopped (e.g. the agent restarted) before 1.19.1's install.
  assert.equal((await agent.run("1.19.1", "update", { updatingFromVersion: "1.19.0", updateToVersion: "1.19.1" })).exitCode, 0);
  // Removing 1.19.1 now is a real uninstall, not "part of the update".
  const removal = await agent.run("1.19.1", "uninstall");
  assert.equal(removal.exitCode, 0);
  assert.match(removal.stdout, /the Log Analytics agent was removed/);
  assert.ok(vm.calls().some((line) => line.startsWith("bundle --remove")));
  assert.ok(!existsSync(join(vm.root, "etc/opt/microsoft/omsagent", WORKSPACE_ID)));
});
