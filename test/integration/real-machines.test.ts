// What real machines do that a kind toolchain hides (issue 9): changed proxies, failed onboardings, removal
// leftovers, ownership. The simulated tools reproduce the real ones' behaviour here; each test names it.
import assert from "node:assert/strict";
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { createSimulatedVm, OTHER_WORKSPACE_ID, WORKSPACE_ID, WORKSPACE_KEY, type SimulatedVm, type SimulatedVmOptions } from "../support/simulated-vm.ts";

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
  const { vm, version, agent, etc, varDir } = await vmWith({ ...SETTINGS, protectedSettings: { ...SETTINGS.protectedSettings, proxy: "http://user:s3cret-pw@proxy.example:3128" } });
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
  assert.ok(existsSync(join(etc, OTHER_WORKSPACE_ID)) && !existsSync(join(etc, OTHER_WORKSPACE_ID, "conf/omsadmin.conf")), "the simulator left what the real omsadmin.sh leaves");

  const removal = await agent.uninstall(version);
  assert.deepEqual(removal.commands.map((c) => `${c.operation}=${c.exitCode}`), ["disable=0", "uninstall=0"], JSON.stringify(removal.commands.map((c) => c.stdout)));
  assert.ok(!existsSync(join(etc, OTHER_WORKSPACE_ID)), "the failed onboarding's directory went with the uninstall");
});

test("a failed onboarding's directory does not count as a connection for stopOnMultipleConnections", async () => {
  const { vm, version, agent, etc } = await vmWith({ ...SETTINGS, publicSettings: { workspaceId: WORKSPACE_ID, stopOnMultipleConnections: true } });
  assert.equal((await agent.run(version, "install")).exitCode, 0);
  // Someone tried another workspace by hand with a wrong key.
  vm.fault("omsadmin-onboard", "5-key", 1);
  const { spawnSync } = await import("node:child_process");
  const manual = spawnSync(join(vm.root, "opt/microsoft/omsagent/bin/omsadmin.sh"), ["-w", OTHER_WORKSPACE_ID, "-s", WORKSPACE_KEY], { env: { ...process.env, OMS_HANDLER_ROOT: vm.root } });
  assert.equal(manual.status, 5);
  assert.ok(existsSync(join(etc, OTHER_WORKSPACE_ID)) && !existsSync(join(etc, OTHER_WORKSPACE_ID, "conf/omsadmin.conf")));
  const enable = await agent.run(version, "enable");
  assert.equal(enable.exitCode, 0, enable.stdout);
});
