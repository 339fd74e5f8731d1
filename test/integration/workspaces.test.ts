// Changing the workspace, and machines already connected elsewhere.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { createSimulatedVm, OTHER_WORKSPACE_ID, WORKSPACE_ID, WORKSPACE_KEY, type SimulatedVm } from "../../simulator/vm.ts";

const vms: SimulatedVm[] = [];
after(() => Promise.all(vms.map((vm) => vm.close())));

async function installedVm() {
  const vm = await createSimulatedVm();
  vms.push(vm);
  const version = [...vm.staged.keys()][0]!;
  vm.agent.setup(
    { dir: vm.staged.get(version)!.dir },
    { seq: 0, settings: { publicSettings: { workspaceId: WORKSPACE_ID }, protectedSettings: { workspaceKey: WORKSPACE_KEY } } },
  );
  return { vm, version };
}

test("new settings naming another workspace move the machine to it and disconnect the old one", async () => {
  const { vm, version } = await installedVm();
  assert.ok((await vm.agent.firstInstall(version)).ok);
  vm.agent.writeSettings(1, { publicSettings: { workspaceId: OTHER_WORKSPACE_ID }, protectedSettings: { workspaceKey: WORKSPACE_KEY } });
  const result = await vm.agent.enable(version);
  assert.ok(result.ok, JSON.stringify(result.error));
  const status = vm.agent.readStatus(version, 1);
  assert.match(status.message, new RegExp(`connected to workspace ${OTHER_WORKSPACE_ID} .*disconnected the previous workspace ${WORKSPACE_ID}`));
  assert.ok(vm.calls().some((line) => line.startsWith(`omsadmin -x ${WORKSPACE_ID}`)));
  assert.ok(!existsSync(join(vm.root, "etc/opt/microsoft/omsagent", WORKSPACE_ID)));
  assert.ok(existsSync(join(vm.root, "etc/opt/microsoft/omsagent", OTHER_WORKSPACE_ID, "conf/omsadmin.conf")));
});

test("another tool's workspace as primary: omsadmin.sh skips ours, and we say so instead of claiming success", async () => {
  const { vm, version } = await installedVm();
  assert.equal((await vm.agent.run(version, "install")).exitCode, 0);
  // Someone else onboarded this machine to another workspace (e.g. by hand).
  execFileSync(join(vm.root, "opt/microsoft/omsagent/bin/omsadmin.sh"), ["-w", OTHER_WORKSPACE_ID, "-s", WORKSPACE_KEY], {
    env: { ...process.env, OMS_HANDLER_ROOT: vm.root },
    stdio: "ignore",
  });
  const result = await vm.agent.run(version, "enable");
  assert.equal(result.exitCode, 30);
  const status = vm.agent.readStatus(version, 0);
  assert.match(
    status.message,
    new RegExp(
      `^Enable failed \\(30 OnboardingSkipped\\): omsadmin.sh reported success but workspace ${WORKSPACE_ID} is not configured \\(the agent's primary workspace is ${OTHER_WORKSPACE_ID}\\) — .*omsadmin.sh -x ${OTHER_WORKSPACE_ID}`,
    ),
  );
});

test("SCOM (OMI listening on 1270) counts as another connection when stopOnMultipleConnections is set", async () => {
  const { vm, version } = await installedVm();
  vm.agent.writeSettings(0, {
    publicSettings: { workspaceId: WORKSPACE_ID, stopOnMultipleConnections: true },
    protectedSettings: { workspaceKey: WORKSPACE_KEY },
  });
  mkdirSync(join(vm.root, "etc/opt/omi/conf"), { recursive: true });
  writeFileSync(join(vm.root, "etc/opt/omi/conf/omiserver.conf"), "httpsport=0,1270\n");
  const result = await vm.agent.run(version, "install");
  assert.equal(result.exitCode, 10);
  assert.match(vm.agent.readStatus(version, 0).message, /System Center Operations Manager/);
});
