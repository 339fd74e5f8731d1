// Cloud domain and resource id: protected settings first, then the instance metadata service (short
// timeout, loopback fake here), then defaults; what omsadmin.sh receives is checked in the agent's config.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import type { AgentExtensionStatus } from "../../simulator/agent/index.ts";
import { createSimulatedVm, WORKSPACE_ID, WORKSPACE_KEY, type SimulatedVm } from "../../simulator/vm.ts";
import { startFakeMetadata } from "../../simulator/system-root.ts";

const vms: SimulatedVm[] = [];
after(() => Promise.all(vms.map((vm) => vm.close())));

async function enableWith(protectedExtra: Record<string, string>, options: Parameters<typeof createSimulatedVm>[0]) {
  const vm = await createSimulatedVm(options);
  vms.push(vm);
  const version = [...vm.staged.keys()][0]!;
  vm.agent.setup(
    { dir: vm.staged.get(version)!.dir },
    { seq: 0, settings: { publicSettings: { workspaceId: WORKSPACE_ID }, protectedSettings: { workspaceKey: WORKSPACE_KEY, ...protectedExtra } } },
  );
  const result = await vm.agent.firstInstall(version);
  const conf = readFileSync(join(vm.root, "etc/opt/microsoft/omsagent", WORKSPACE_ID, "conf/omsadmin.conf"), "utf8");
  return { vm, result, status: vm.agent.readStatus(version, 0), conf };
}

const sub = (status: AgentExtensionStatus, name: string) => status.substatus.find((s) => s.name === name)?.message;

test("US Government cloud from metadata → opinsights.azure.us, resource id from metadata", async () => {
  const resourceId =
    "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/3";
  const { result, status, conf } = await enableWith({}, { metadata: { azEnvironment: "AzureUSGovernmentCloud", resourceId } });
  assert.ok(result.ok);
  assert.equal(sub(status, "CloudDomain"), "opinsights.azure.us (from instance metadata (AzureUSGovernmentCloud))");
  assert.equal(sub(status, "ResourceId"), resourceId);
  assert.match(conf, /URL_TLD=opinsights\.azure\.us/);
  assert.ok(conf.includes(`AZURE_RESOURCE_ID=${resourceId}`));
});

test("protected domain and vmResourceId win, and the metadata service is not asked", async () => {
  const resourceId = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/arc1";
  const { vm, status, conf } = await enableWith({ domain: "opinsights.azure.cn", vmResourceId: resourceId }, {});
  assert.equal(sub(status, "CloudDomain"), "opinsights.azure.cn (from protected settings)");
  assert.match(conf, /URL_TLD=opinsights\.azure\.cn/);
  assert.equal(vm.metadata?.requests, 0);
});

test("no metadata service (classic or non-Azure machine): default domain, no resource id passed", async () => {
  const { result, status, conf } = await enableWith({}, { metadata: null });
  assert.ok(result.ok);
  assert.equal(sub(status, "CloudDomain"), "opinsights.azure.com (from default)");
  assert.match(sub(status, "ResourceId") ?? "", /^none/);
  assert.doesNotMatch(conf, /AZURE_RESOURCE_ID=\S/, "no resource id (the legacy handler sent '-a None')");
});

test("a metadata service that never answers costs at most its short timeout", async () => {
  const silent = await startFakeMetadata("hang");
  try {
    const { result, status } = await enableWith({}, { metadata: null, env: { OMS_HANDLER_IMDS_ENDPOINT: silent.url } });
    assert.ok(result.ok);
    const enable = result.commands.find((c) => c.operation === "enable")!;
    assert.ok(enable.durationMs < 10_000, `${enable.durationMs} ms`);
    assert.equal(sub(status, "CloudDomain"), "opinsights.azure.com (from default)");
    assert.equal(silent.requests, 1);
  } finally {
    await silent.close();
  }
});

test("unknown cloud in metadata → default domain, named in the status", async () => {
  const { status } = await enableWith({}, { metadata: { azEnvironment: "AzureStackHub" } });
  assert.equal(sub(status, "CloudDomain"), "opinsights.azure.com (from default (unknown cloud AzureStackHub))");
});
