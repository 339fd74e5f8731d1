// What real machines do that a kind toolchain hides (issue 9): changed proxies, failed onboardings, removal
// leftovers, ownership. The simulated tools reproduce the real ones' behaviour here; each test names it.
import assert from "node:assert/strict";
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { createSimulatedVm, WORKSPACE_ID, WORKSPACE_KEY, type SimulatedVm, type SimulatedVmOptions } from "../support/simulated-vm.ts";

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
