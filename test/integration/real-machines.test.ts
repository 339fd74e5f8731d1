// What real machines do that a kind toolchain hides (issue 9): changed proxies, failed onboardings, removal
// leftovers, ownership. The simulated tools reproduce the real ones' behaviour here; each test names it.
import assert from "node:assert/strict";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { agentPid, serviceState } from "../../simulator/oms/sim.ts";
import { createSimulatedVm, OTHER_WORKSPACE_ID, WORKSPACE_ID, WORKSPACE_KEY, type SimulatedVm, type SimulatedVmOptions } from "../../simulator/vm.ts";

const vms: SimulatedVm[] = [];
after(() => Promise.all(vms.map((vm) => vm.close())));

const SETTINGS = { publicSettings: { workspaceId: WORKSPACE_ID }, protectedSettings: { workspaceKey: WORKSPACE_KEY } };
type SettingsInput = Parameters<SimulatedVm["agent"]["writeSettings"]>[1];

async function vmWith(settings: SettingsInput = SETTINGS, options: SimulatedVmOptions = {}) {
  const vm = await createSimulatedVm(options);
  vms.push(vm);
  const version = [...vm.staged.keys()][0]!;
  vm.agent.setup({ dir: vm.staged.get(version)!.dir }, { seq: 0, settings });
  return { vm, version, agent: vm.agent, etc: join(vm.root, "etc/opt/microsoft/omsagent"), varDir: join(vm.root, "var/opt/microsoft/omsagent") };
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

test("a real uninstall removes proxy.conf (it holds the proxy credentials) and the links left dangling", async () => {
  const { vm, version, agent, etc, varDir } = await vmWith({
    ...SETTINGS,
    protectedSettings: { ...SETTINGS.protectedSettings, proxy: "http://user:s3cret-pw@proxy.example:3128" },
  });
  assert.ok((await agent.firstInstall(version)).ok);
  assert.match(readFileSync(join(etc, "proxy.conf"), "utf8"), /s3cret-pw/);
  assert.ok(exists(join(etc, "conf")) && exists(join(varDir, "run")));
  const result = await agent.uninstall(version);
  assert.ok(result.ok, JSON.stringify(result.error));
  // The real bundle's --remove keeps proxy.conf and the links (simulator README: "bundle --remove").
  assert.ok(vm.calls().some((line) => line.startsWith("bundle --remove")));
  assert.ok(!exists(join(etc, "proxy.conf")), "proxy.conf removed");
  for (const link of ["conf", "certs"]) assert.ok(!exists(join(etc, link)), `${link} link removed`);
  for (const link of ["tmp", "run", "state", "log"]) assert.ok(!exists(join(varDir, link)), `${link} link removed`);
  assert.ok(!existsSync(join(etc, WORKSPACE_ID)));
});

test("a failed onboarding (workspace directory without omsadmin.conf) blocks neither disable nor uninstall", async () => {
  const { vm, version, agent, etc } = await vmWith();
  assert.ok((await agent.firstInstall(version)).ok);
  // Moving to another workspace with a wrong key: omsadmin.sh creates its directory, then the service says 403.
  vm.fault("omsadmin-onboard", "5-key", 1);
  agent.writeSettings(1, { publicSettings: { workspaceId: OTHER_WORKSPACE_ID }, protectedSettings: { workspaceKey: WORKSPACE_KEY } });
  const failed = await agent.enable(version);
  assert.equal(failed.commands.at(-1)?.exitCode, 53);
  assert.ok(
    existsSync(join(etc, OTHER_WORKSPACE_ID)) && !existsSync(join(etc, OTHER_WORKSPACE_ID, "conf/omsadmin.conf")),
    "the simulator left what the real omsadmin.sh leaves",
  );

  const removal = await agent.uninstall(version);
  assert.deepEqual(
    removal.commands.map((c) => `${c.operation}=${c.exitCode}`),
    ["disable=0", "uninstall=0"],
    JSON.stringify(removal.commands.map((c) => c.stdout)),
  );
  assert.ok(!existsSync(join(etc, OTHER_WORKSPACE_ID)), "the failed onboarding's directory went with the uninstall");
});

test("a failed onboarding's directory does not count as a connection for stopOnMultipleConnections", async () => {
  const { vm, version, agent, etc } = await vmWith({ ...SETTINGS, publicSettings: { workspaceId: WORKSPACE_ID, stopOnMultipleConnections: true } });
  assert.equal((await agent.run(version, "install")).exitCode, 0);
  // Someone tried another workspace by hand with a wrong key.
  vm.fault("omsadmin-onboard", "5-key", 1);
  const { spawnSync } = await import("node:child_process");
  const manual = spawnSync(join(vm.root, "opt/microsoft/omsagent/bin/omsadmin.sh"), ["-w", OTHER_WORKSPACE_ID, "-s", WORKSPACE_KEY], {
    env: { ...process.env, OMS_HANDLER_ROOT: vm.root },
  });
  assert.equal(manual.status, 5);
  assert.ok(existsSync(join(etc, OTHER_WORKSPACE_ID)) && !existsSync(join(etc, OTHER_WORKSPACE_ID, "conf/omsadmin.conf")));
  const enable = await agent.run(version, "enable");
  assert.equal(enable.exitCode, 0, enable.stdout);
});

const withProxy = (proxy: string | undefined, domain?: string): SettingsInput => ({
  publicSettings: { workspaceId: WORKSPACE_ID },
  protectedSettings: { workspaceKey: WORKSPACE_KEY, ...(proxy ? { proxy } : {}), ...(domain ? { domain } : {}) },
});

test("a changed proxy reaches the agent although omsadmin.sh exits 0 early for a running, onboarded workspace", async () => {
  const { vm, version, agent, etc } = await vmWith(withProxy("http://old-proxy.example:3128"));
  assert.ok((await agent.firstInstall(version)).ok);
  const conf = join(etc, WORKSPACE_ID, "conf/omsadmin.conf");
  const guid = /AGENT_GUID=(\S+)/.exec(readFileSync(conf, "utf8"))?.[1];
  agent.writeSettings(1, withProxy("http://new-proxy.example:8080"));
  const result = await agent.enable(version);
  assert.ok(result.ok, JSON.stringify(result.error));
  assert.equal(readFileSync(join(etc, "proxy.conf"), "utf8"), "http://new-proxy.example:8080");
  assert.equal(agent.readStatus(version, 1).substatus?.find((s) => s.name === "Proxy")?.message, "new-proxy.example:8080 (from protected settings)");
  assert.equal(/AGENT_GUID=(\S+)/.exec(readFileSync(conf, "utf8"))?.[1], guid, "same agent identity");
  assert.equal(serviceState(vm.root, WORKSPACE_ID), "running");
  assert.match(vm.extensionLog(), /INFO {2}enable seq=1 proxy: new-proxy\.example:8080 from protected settings/, "the log says which proxy source won");
});

test("a removed proxy and a changed domain reach the agent too", async () => {
  const { version, agent, etc } = await vmWith(withProxy("http://old-proxy.example:3128"));
  assert.ok((await agent.firstInstall(version)).ok);
  agent.writeSettings(1, withProxy(undefined, "opinsights.azure.us"));
  const result = await agent.enable(version);
  assert.ok(result.ok, JSON.stringify(result.error));
  assert.ok(!existsSync(join(etc, "proxy.conf")));
  assert.match(readFileSync(join(etc, WORKSPACE_ID, "conf/omsadmin.conf"), "utf8"), /^URL_TLD=opinsights\.azure\.us$/m);
});

test("when the agent's configuration still differs after onboarding, enable fails with a code instead of claiming the new proxy", async () => {
  const { vm, version, agent } = await vmWith(withProxy("http://old-proxy.example:3128"));
  assert.ok((await agent.firstInstall(version)).ok);
  agent.writeSettings(1, withProxy("http://new-proxy.example:8080"));
  vm.fault("omsadmin-onboard", "0-already-onboarded");
  const result = await agent.run(version, "enable");
  assert.equal(result.exitCode, 30);
  const status = agent.readStatus(version, 1);
  assert.match(status.message, /^Enable failed \(30 AgentConfigurationMismatch\): .*proxy/);
  assert.doesNotMatch(JSON.stringify(status), /new-proxy\.example:8080 \(from/);
});

test("a new proxy the service path rejects fails with 53 and the agent keeps its identity (omsadmin.sh deletes the certificates)", async () => {
  const { vm, version, agent, etc } = await vmWith(withProxy("http://old-proxy.example:3128"));
  assert.ok((await agent.firstInstall(version)).ok);
  const certs = join(etc, WORKSPACE_ID, "certs");
  const key = readFileSync(join(certs, "oms.key"), "utf8");
  agent.writeSettings(1, withProxy("http://bad-proxy.example:8080"));
  vm.fault("omsadmin-onboard", "exit:4", 1);
  const result = await agent.run(version, "enable");
  assert.equal(result.exitCode, 53);
  assert.equal(readFileSync(join(certs, "oms.key"), "utf8"), key, "the agent's key is back");
  assert.ok(existsSync(join(certs, "oms.crt")));
});

// The simulated bundle creates omsagent (uid 4711) and omiusers (gid 4712), as the real packages create them.
const AGENT_UID = 4711;
const AGENT_GID = 4712;
const asRoot = process.getuid?.() === 0;

test(
  "an update from a handler whose uninstall deletes the workspace keeps the agent's ownership and modes",
  { skip: !asRoot && "chown needs root" },
  async () => {
    const { version, agent, etc } = await vmWith();
    assert.ok((await agent.firstInstall(version)).ok);
    const key = join(etc, WORKSPACE_ID, "certs/oms.key");
    const before = lstatSync(key);
    assert.deepEqual([before.uid, before.gid, before.mode & 0o777], [AGENT_UID, AGENT_GID, 0o640], "the simulator owns the key as the real agent does");
    // A file someone left root-owned: after the restore the whole tree belongs to the agent again.
    const { writeFileSync, rmSync } = await import("node:fs");
    writeFileSync(join(etc, WORKSPACE_ID, "conf/omsagent.d/custom.conf"), "# root-owned\n");

    assert.equal((await agent.run(version, "update", { updatingFromVersion: "1.18.0", updateToVersion: version })).exitCode, 0);
    // The legacy handler's uninstall removes the workspace's directories.
    rmSync(join(etc, WORKSPACE_ID), { recursive: true, force: true });
    assert.equal((await agent.run(version, "install")).exitCode, 0);

    const after = lstatSync(key);
    assert.deepEqual([after.uid, after.gid, after.mode & 0o777], [AGENT_UID, AGENT_GID, 0o640], "key restored with its owner and mode");
    const certs = lstatSync(join(etc, WORKSPACE_ID, "certs"));
    assert.deepEqual([certs.uid, certs.gid, certs.mode & 0o777], [AGENT_UID, AGENT_GID, 0o700]);
    const custom = lstatSync(join(etc, WORKSPACE_ID, "conf/omsagent.d/custom.conf"));
    assert.deepEqual([custom.uid, custom.gid], [AGENT_UID, AGENT_GID], "the workspace tree is owned as the agent expects");
  },
);

test("after onboarding the workspace tree belongs to the agent, whatever root left in it", { skip: !asRoot && "chown needs root" }, async () => {
  const { version, agent, etc } = await vmWith();
  assert.ok((await agent.firstInstall(version)).ok);
  const { writeFileSync, chownSync } = await import("node:fs");
  const stray = join(etc, WORKSPACE_ID, "conf/omsagent.d/custom.conf");
  writeFileSync(stray, "# written by root\n");
  chownSync(join(etc, WORKSPACE_ID, "certs/oms.key"), 0, 0);
  agent.writeSettings(1, { ...SETTINGS, publicSettings: { workspaceId: WORKSPACE_ID, skipDockerProviderInstall: true } });
  assert.ok((await agent.enable(version)).ok);
  for (const path of [stray, join(etc, WORKSPACE_ID, "certs/oms.key")]) {
    const stats = lstatSync(path);
    assert.deepEqual([stats.uid, stats.gid], [AGENT_UID, AGENT_GID], path);
  }
});

test("an empty or invalid status file never lets enable count as already applied", async () => {
  const { vm, version, agent } = await vmWith();
  assert.ok((await agent.firstInstall(version)).ok);
  const { writeFileSync } = await import("node:fs");
  for (const broken of ["", '[{"version": "1.0", "sta', "[]", '[{"status":{"status":"transitioning","code":0}}]']) {
    writeFileSync(agent.statusFile(version, 0), broken);
    const onboardings = vm.calls().filter((line) => line.startsWith("omsadmin")).length;
    const result = await agent.run(version, "enable");
    assert.equal(result.exitCode, 0);
    assert.ok(vm.calls().filter((line) => line.startsWith("omsadmin")).length > onboardings, `enable ran fully after a status of ${JSON.stringify(broken)}`);
    assert.equal(agent.readStatus(version, 0).status, "success");
  }
});

test("a full log disk: the operation still succeeds, writes its status, removes the onboarding file and leaves no child", async () => {
  const { vm, version, agent } = await vmWith();
  assert.ok((await agent.firstInstall(version)).ok);
  const { rmSync, symlinkSync } = await import("node:fs");
  // Every write to extension.log now fails with ENOSPC, as on a full /var/log.
  rmSync(join(agent.logDir(), "extension.log"), { force: true });
  symlinkSync("/dev/full", join(agent.logDir(), "extension.log"));
  agent.writeSettings(1, withProxy("http://proxy.example:3128"));
  const result = await agent.run(version, "enable");
  assert.equal(result.exitCode, 0, result.stderr);
  assert.equal(agent.readStatus(version, 1).status, "success");
  assert.ok(!existsSync(join(vm.root, "etc/omsagent-onboard.conf")), "the onboarding file with the key is gone");
  assert.ok(
    vm.calls().some((line) => line.startsWith("omsadmin")),
    "onboarding ran",
  );
  assert.deepEqual(processesUnder(vm.root), [], "no simulated tool left running");
});

/** Processes whose command line names a path under `root` (the simulated tools all live there). */
/** Processes whose command line names the VM's root, but not the agent daemons service_control started. */
function processesUnder(root: string): string[] {
  const agents = new Set(
    [WORKSPACE_ID, OTHER_WORKSPACE_ID]
      .map((id) => agentPid(root, id))
      .filter((pid): pid is number => pid !== undefined)
      .map(String),
  );
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry) && !agents.has(entry))
    .flatMap((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
        return cmdline.includes(root) ? [`${pid}: ${cmdline}`] : [];
      } catch {
        return [];
      }
    });
}

test("a full log disk during a failing onboarding: the error status is written and the onboarding file removed", async () => {
  const { vm, version, agent } = await vmWith();
  assert.equal((await agent.run(version, "install")).exitCode, 0);
  const { rmSync, symlinkSync } = await import("node:fs");
  rmSync(join(agent.logDir(), "extension.log"), { force: true });
  symlinkSync("/dev/full", join(agent.logDir(), "extension.log"));
  vm.fault("omsadmin-onboard", "exit:7");
  const result = await agent.run(version, "enable");
  assert.equal(result.exitCode, 55, result.stderr);
  assert.match(agent.readStatus(version, 0).message, /^Enable failed \(55 CannotResolveHost\)/);
  assert.ok(!existsSync(join(vm.root, "etc/omsagent-onboard.conf")));
});

test("a compromised handler lock (holder stalled past the stale time, or a clock step forward): the holder aborts cleanly with 30 LockLost", async () => {
  const { vm, version, agent } = await vmWith();
  assert.ok((await agent.firstInstall(version)).ok);
  agent.writeSettings(1, withProxy("http://proxy.example:3128"));
  vm.fault("omsadmin-onboard", "slow:120", 1);
  const onboardings = () => vm.calls().filter((line) => line.startsWith("omsadmin")).length;
  const before = onboardings();
  const holder = agent.run(version, "enable");
  while (onboardings() === before) await new Promise((resolve) => setTimeout(resolve, 100));
  // What a waiter sees when the holder has not refreshed the lock for an hour — a stalled holder, or the wall
  // clock stepped an hour forward: proper-lockfile judges staleness by the lock's mtime against the wall clock.
  const { utimesSync } = await import("node:fs");
  const lock = join(agent.libDir, "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux", "handler.lock");
  const anHourAgo = new Date(Date.now() - 3600_000);
  utimesSync(lock, anHourAgo, anHourAgo);
  const taker = await agent.run(version, "enable");
  assert.equal(taker.exitCode, 0, taker.stdout);
  const held = await holder;
  assert.equal(held.exitCode, 30, held.stdout);
  assert.match(held.stderr, /^Enable failed \(30 LockLost\): another OmsAgentForLinux operation took over the handler lock/m);
  assert.ok(!existsSync(join(vm.root, "etc/omsagent-onboard.conf")), "the holder removed the onboarding file");
  assert.deepEqual(processesUnder(vm.root), [], "the holder's child was killed with its process group");
});
