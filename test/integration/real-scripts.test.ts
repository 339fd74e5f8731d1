// What the handler got wrong against the real, unmodified omsadmin.sh and service_control (issue 14), on the
// simulated VM whose tools now fail where and as the real ones do (simulator/README.md): an enable that reports
// success means the agent runs with the settings asked for, and an enable that fails leaves the machine as it was.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { compileExecutable } from "../../scripts/runtime.ts";
import { REPO_ROOT } from "../../scripts/stage.ts";
import { agentPid, killAgent, offboard, serviceState } from "../../simulator/oms/sim.ts";
import { lastResortStatus } from "../../src/handler/invocation.ts";
import { createSimulatedVm, OTHER_WORKSPACE_ID, WORKSPACE_ID, WORKSPACE_KEY, type SimulatedVm } from "../../simulator/vm.ts";

const vms: SimulatedVm[] = [];
after(() => Promise.all(vms.map((vm) => vm.close())));

type SettingsInput = Parameters<SimulatedVm["agent"]["writeSettings"]>[1];
const settingsFor = (workspaceId: string, extra: { proxy?: string; stopOnMultipleConnections?: boolean } = {}): SettingsInput => ({
  publicSettings: { workspaceId, ...(extra.stopOnMultipleConnections ? { stopOnMultipleConnections: true } : {}) },
  protectedSettings: { workspaceKey: WORKSPACE_KEY, ...(extra.proxy ? { proxy: extra.proxy } : {}) },
});

async function vmWith(settings: SettingsInput) {
  const vm = await createSimulatedVm();
  vms.push(vm);
  const version = [...vm.staged.keys()][0]!;
  vm.agent.setup({ dir: vm.staged.get(version)!.dir }, { seq: 0, settings });
  const etc = join(vm.root, "etc/opt/microsoft/omsagent");
  return { vm, version, agent: vm.agent, etc, proxyConf: join(etc, "proxy.conf") };
}

/** The daemon fails to start (simulator/README.md: "The agent daemon"). */
function daemonFails(vm: SimulatedVm, times?: number): void {
  vm.fault("omsagent-daemon", "fail", times);
}

test("1. enable starts an agent that is not running after onboarding, and fails quoting the service when it cannot", async () => {
  const { vm, version, agent } = await vmWith(settingsFor(WORKSPACE_ID));
  assert.equal((await agent.run(version, "install")).exitCode, 0);
  // omsadmin.sh starts the agent itself and ignores service_control's answer: with a daemon that fails once,
  // onboarding "succeeds" and the agent does not run; the handler starts it.
  daemonFails(vm, 1);
  const started = await agent.run(version, "enable");
  assert.equal(started.exitCode, 0, started.output);
  assert.equal(serviceState(vm.root, WORKSPACE_ID), "running");
  assert.ok(vm.calls().some((line) => line.startsWith(`service_control start ${WORKSPACE_ID}`)));

  // A daemon that cannot start at all: no "connected" status, but a code and the service's own words.
  agent.writeSettings(1, settingsFor(WORKSPACE_ID));
  offboard(vm.root, WORKSPACE_ID);
  daemonFails(vm);
  const failed = await agent.run(version, "enable");
  assert.equal(failed.exitCode, 30, failed.output);
  const status = agent.readStatus(version, 1);
  assert.match(
    status.message,
    /^Enable failed \(30 AgentNotRunning\): the agent of workspace \S+ does not run: service_control start exited 1 and said "Job for omsagent-\S+\.service failed/,
  );
  assert.match(status.message, /systemctl status omsagent-/);
  assert.equal(serviceState(vm.root, WORKSPACE_ID), "stopped");
});

/** `omsadmin.sh -x` by hand: the workspace is disconnected and its agent stopped. */
test("2. a rejected new proxy leaves proxy.conf (content, owner, mode) and the running agent as they were", async () => {
  const { vm, version, agent, proxyConf } = await vmWith(settingsFor(WORKSPACE_ID, { proxy: "http://good-proxy.example:3128" }));
  assert.ok((await agent.firstInstall(version)).ok);
  const before = { content: readFileSync(proxyConf, "utf8"), stat: statSync(proxyConf) };
  const pid = agentPid(vm.root, WORKSPACE_ID);
  assert.ok(pid);
  agent.writeSettings(1, settingsFor(WORKSPACE_ID, { proxy: "http://good-proxy.example:9999" }));
  vm.fault("omsadmin-onboard", "4-connect", 1);
  const failed = await agent.run(version, "enable");
  assert.equal(failed.exitCode, 53, failed.output);
  assert.equal(readFileSync(proxyConf, "utf8"), before.content, "the good proxy is back");
  const after = statSync(proxyConf);
  assert.deepEqual([after.mode, after.uid, after.gid], [before.stat.mode, before.stat.uid, before.stat.gid]);
  assert.equal(serviceState(vm.root, WORKSPACE_ID), "running", "the agent this enable stopped runs again");
  assert.ok(existsSync(join(vm.root, "etc/opt/microsoft/omsagent", WORKSPACE_ID, "certs/oms.key")));
});

test("2. a refusal (10) and a failed onboarding without a proxy leave proxy.conf in place", async () => {
  const { vm, version, agent, proxyConf } = await vmWith(settingsFor(WORKSPACE_ID, { proxy: "http://good-proxy.example:3128" }));
  assert.ok((await agent.firstInstall(version)).ok);
  // Someone connected another workspace by hand.
  const manual = spawnSync(join(vm.root, "opt/microsoft/omsagent/bin/omsadmin.sh"), ["-w", OTHER_WORKSPACE_ID, "-s", WORKSPACE_KEY, "-m", "manual"], {
    env: { ...process.env, OMS_HANDLER_ROOT: vm.root },
  });
  assert.equal(manual.status, 0, manual.stdout.toString());
  agent.writeSettings(1, settingsFor(WORKSPACE_ID, { stopOnMultipleConnections: true }));
  const refused = await agent.run(version, "enable");
  assert.equal(refused.exitCode, 10, refused.output);
  assert.equal(readFileSync(proxyConf, "utf8"), "http://good-proxy.example:3128", "nothing deleted before the refusal");

  agent.writeSettings(2, settingsFor(WORKSPACE_ID));
  await killAgent(vm.root, WORKSPACE_ID); // so that omsadmin.sh really onboards
  vm.fault("omsadmin-onboard", "5-key", 1);
  const failed = await agent.run(version, "enable");
  assert.equal(failed.exitCode, 53, failed.output);
  assert.equal(readFileSync(proxyConf, "utf8"), "http://good-proxy.example:3128", "the failed onboarding keeps the proxy");
});

test("3. a workspace this handler onboarded is its own although omsadmin.sh exited 33 after onboarding it", async () => {
  const { vm, version, agent } = await vmWith(settingsFor(WORKSPACE_ID));
  assert.ok((await agent.firstInstall(version)).ok);
  agent.writeSettings(1, settingsFor(OTHER_WORKSPACE_ID));
  vm.fault("omsadmin-onboard", "exit:33", 1);
  const metaconfig = await agent.run(version, "enable");
  assert.equal(metaconfig.exitCode, 33, metaconfig.output);
  assert.ok(existsSync(join(vm.root, "etc/opt/microsoft/omsagent", OTHER_WORKSPACE_ID, "conf/omsadmin.conf")), "onboarded before the 33");
  // Back to the first workspace with stopOnMultipleConnections: the 33's workspace is not "another connection".
  agent.writeSettings(2, settingsFor(WORKSPACE_ID, { stopOnMultipleConnections: true }));
  const back = await agent.run(version, "enable");
  assert.equal(back.exitCode, 0, back.output);
  assert.match(agent.readStatus(version, 2).message, new RegExp(`disconnected the previous workspace ${OTHER_WORKSPACE_ID}`));
});

test("5. enable repairs: after omsadmin.sh -x or a dead agent, the same sequence onboards and starts it again", async () => {
  const { vm, version, agent } = await vmWith(settingsFor(WORKSPACE_ID));
  assert.ok((await agent.firstInstall(version)).ok);
  await killAgent(vm.root, WORKSPACE_ID);
  const afterDeath = await agent.run(version, "enable");
  assert.equal(afterDeath.exitCode, 0, afterDeath.output);
  assert.equal(serviceState(vm.root, WORKSPACE_ID), "running");
  assert.match(vm.extensionLog(), /was applied, but the agent of workspace \S+ does not run \(pid \d+ is gone\): running enable again/);

  offboard(vm.root, WORKSPACE_ID);
  const afterRemoval = await agent.run(version, "enable");
  assert.equal(afterRemoval.exitCode, 0, afterRemoval.output);
  assert.ok(existsSync(join(vm.root, "etc/opt/microsoft/omsagent", WORKSPACE_ID, "conf/omsadmin.conf")));
  assert.equal(serviceState(vm.root, WORKSPACE_ID), "running");
  assert.match(agent.readStatus(version, 0).message, /^Enable succeeded: connected to workspace /);
});

test("6. no syslog socket: logger's exit 1 gets its own message; the 33 message comes from the script's line", async () => {
  const { vm, version, agent } = await vmWith(settingsFor(WORKSPACE_ID));
  assert.equal((await agent.run(version, "install")).exitCode, 0);
  rmSync(join(vm.root, "dev/log"));
  const noSyslog = await agent.run(version, "enable");
  assert.equal(noSyslog.exitCode, 52, noSyslog.output);
  assert.match(
    agent.readStatus(version, 0).message,
    /^Enable failed \(52 SyslogUnavailable\): omsadmin.sh stopped before onboarding because it could not log to syslog \(logger: socket \/dev\/log: No such file or directory\)/,
  );

  writeFileSync(join(vm.root, "dev/log"), "");
  vm.fault("omsadmin-onboard", "exit:33", 1); // the helper's traceback mentions "Permission denied"
  const metaconfig = await agent.run(version, "enable");
  assert.equal(metaconfig.exitCode, 33, metaconfig.output);
  const message = agent.readStatus(version, 0).message;
  assert.match(message, /\(exit 33: Configuring omsconfig and generating metaconfig failed with error code 1\)/);
  assert.doesNotMatch(message, /permission denied/i);
});

test("4. uninstall leaves nothing of the agent's trees, and no directory owned by the deleted omsagent user", async () => {
  const { vm, version, agent } = await vmWith(settingsFor(WORKSPACE_ID, { proxy: "http://proxy.example:3128" }));
  assert.ok((await agent.firstInstall(version)).ok);
  // A workspace someone else connected: its files keep the package's rmdir from working too.
  mkdirSync(join(vm.root, "var/opt/microsoft/omsagent", OTHER_WORKSPACE_ID, "log"), { recursive: true });
  chmodSync(join(vm.root, "var/opt/microsoft/omsagent", OTHER_WORKSPACE_ID), 0o750);
  const removal = await agent.uninstall(version);
  assert.ok(removal.ok, JSON.stringify(removal.commands.map((c) => c.output)));
  for (const tree of ["etc/opt/microsoft/omsagent", "var/opt/microsoft/omsagent"]) assert.ok(!existsSync(join(vm.root, tree)), `${tree} removed`);
  assert.doesNotMatch(readFileSync(join(vm.root, "etc/passwd"), "utf8"), /^omsagent:/m, "the package deleted its user");
});

test("7. an uncaught exception in the shipped runtime exits 30 and leaves an error status, not the previous one", async () => {
  const { vm, version, agent } = await vmWith(settingsFor(WORKSPACE_ID));
  assert.equal((await agent.run(version, "install")).exitCode, 0);
  // A damaged entry whose timer throws outside every promise chain: only the entry's last resort can see it.
  // Compiled as scripts/build.mjs compiles the shipped one, and installed in its place.
  const js = join(vm.dir, "damaged");
  cpSync(join(REPO_ROOT, "dist", "handler"), js, { recursive: true, filter: (path) => !path.endsWith("/handler/handler") });
  writeFileSync(join(js, "handler.mjs"), `${readFileSync(join(js, "handler.mjs"), "utf8")}\nsetTimeout(() => { throw new Error("injected fault"); }, 0);\n`);
  compileExecutable(join(js, "handler.mjs"), join(js, "handler"));
  rmSync(join(agent.baseDir(version), "bin", "handler"));
  symlinkSync(join(js, "handler"), join(agent.baseDir(version), "bin", "handler"));
  const run = await agent.run(version, "enable");
  assert.equal(run.exitCode, 30, run.output);
  assert.match(run.output, /internal error \(injected fault\)/);
  const status = agent.readStatus(version, 0);
  assert.equal(status.operation, "Enable");
  assert.equal(status.status, "error");
  assert.equal(status.code, 30);
  assert.match(status.message, /^Enable failed \(30 UnexpectedError\): the handler hit an unexpected error \(injected fault\)/);
});

test("7. the entry's last resort for an uncaught exception leaves a status with code 30", async () => {
  const { version, agent } = await vmWith(settingsFor(WORKSPACE_ID));
  assert.equal((await agent.run(version, "install")).exitCode, 0);
  // What main.ts's uncaughtException handler calls before exiting 30.
  lastResortStatus("enable", agent.baseDir(version), { ConfigSequenceNumber: "0" }, new Error("boom in a timer"));
  const status = agent.readStatus(version, 0);
  assert.equal(status.status, "error");
  assert.equal(status.code, 30);
  assert.match(status.message, /^Enable failed \(30 UnexpectedError\): the handler hit an unexpected error \(boom in a timer\)/);
});
