// One machine as the migration sees it: the legacy extension, AMA, the DCR associations, the managed identity
// AMA would authenticate with, and from those what `migrate` would do. Read-only; `migrate plan` prints it and
// `migrate` acts on it.
import type { ArmClients } from "../clients.ts";
import { MachineOps, StepError, type CurrentExtension } from "../arm.ts";
import type { Target } from "../targets.ts";
import type { MonitorClients } from "./clients.ts";

export const AMA_PUBLISHER = "Microsoft.Azure.Monitor";
export const AMA_TYPE = "AzureMonitorLinuxAgent";
/** AMA's extension resource name: the type, as the portal, `az vm extension set` and the built-in policies name it. */
export const AMA_NAME = "AzureMonitorLinuxAgent";

export interface MigrationTarget {
  /** The workspace's ARM id (the DCR's destination) and customerId (what legacy settings and queries use). */
  workspaceResourceId: string;
  workspaceCustomerId: string;
  dcrId: string;
  /** The legacy extension's resource name (--name, default OmsAgentForLinux). */
  legacyName: string;
  /** --user-assigned-identity: the identity AMA must use on VMs and scale sets. */
  userAssignedIdentity?: string;
  amaVersion: string;
  keepLegacy: boolean;
}

/** The identity AMA uses: the machine's system-assigned one, a user-assigned one (by resource id), or Arc's own. */
export type IdentityChoice = { kind: "system" } | { kind: "user"; id: string } | { kind: "arc" };

export interface MachineView {
  location?: string;
  osType?: string;
  agentStatus?: string;
  upgradeMode?: string;
  /** Scale sets: instances, which must each send a heartbeat. */
  instances?: number;
  identity: IdentityChoice | { blocked: string };
  legacy?: CurrentExtension & { workspaceId?: string };
  ama?: CurrentExtension;
  associations: { name: string; dataCollectionRuleId: string }[];
}

/**
 * The machine's id as the associations API's `{resourceUri}` wants it: without the leading slash (the path
 * template is `/{resourceUri}/providers/…`; the spec's examples pass `subscriptions/…`). With it the request
 * goes to `//subscriptions/…`, which a URL parser reads as a host name.
 */
export function resourceUri(t: Target): string {
  return t.id.replace(/^\/+/, "");
}

type Step = "install AMA" | "associate DCR" | "verify heartbeat" | "remove OmsAgentForLinux";

export interface MigrationPlan {
  action: "create" | "unchanged" | "blocked";
  steps: Step[];
  reason?: string;
  message: string;
}

const BUSY = new Set(["creating", "updating", "deleting"]);

export function isBusy(state: string | undefined): boolean {
  return state !== undefined && BUSY.has(state.toLowerCase());
}

/** The AMA settings for an identity choice (authentication.managedIdentity, as Azure's built-in AMA policies write it). */
export function amaSettings(identity: IdentityChoice): Record<string, unknown> {
  return identity.kind === "user" ? { authentication: { managedIdentity: { "identifier-name": "mi_res_id", "identifier-value": identity.id } } } : {};
}

function chooseIdentity(
  t: Target,
  identity: { type?: string; userAssignedIdentities?: Record<string, unknown> } | undefined,
  wanted: string | undefined,
): IdentityChoice | { blocked: string } {
  if (t.kind === "arc") return { kind: "arc" };
  const kind = t.kind === "vm" ? "vm" : "vmss";
  const assigned = Object.keys(identity?.userAssignedIdentities ?? {});
  const system = (identity?.type ?? "").toLowerCase().includes("systemassigned");
  if (wanted) {
    const match = assigned.find((a) => a.toLowerCase() === wanted.toLowerCase());
    if (match) return { kind: "user", id: match };
    return {
      blocked: `user-assigned identity ${wanted} is not assigned to this ${kind === "vm" ? "VM" : "scale set"} — assign it (az ${kind} identity assign -g ${t.resourceGroup} -n ${t.name} --identities ${wanted}) or leave out --user-assigned-identity`,
    };
  }
  if (system) return { kind: "system" };
  if (assigned.length === 1) return { kind: "user", id: assigned[0]! };
  if (assigned.length > 1)
    return {
      blocked: `${assigned.length} user-assigned identities and no system-assigned one — choose the one AMA uses with --user-assigned-identity <resource id>`,
    };
  return {
    blocked: `no managed identity, which AMA needs on Azure ${kind === "vm" ? "VMs" : "scale sets"} to authenticate — enable one (az ${kind} identity assign -g ${t.resourceGroup} -n ${t.name}), or give a user-assigned one with --user-assigned-identity after assigning it`,
  };
}

/** Reads what the migration needs to know about one machine. */
export async function inspect(
  arm: ArmClients,
  monitor: MonitorClients,
  ops: MachineOps,
  t: Target,
  goal: MigrationTarget,
  signal: AbortSignal,
): Promise<MachineView> {
  const view: MachineView = { identity: { kind: "arc" }, associations: [] };
  const parent = step(`GET ${t.kind === "arc" ? "Arc machine" : t.kind === "vm" ? "virtual machine" : "scale set"}`, async () => {
    if (t.kind === "vm") {
      const vm = await arm.compute(t.subscriptionId).virtualMachines.get(t.resourceGroup, t.name, { abortSignal: signal });
      Object.assign(view, {
        location: vm.location,
        osType: vm.storageProfile?.osDisk?.osType,
        identity: chooseIdentity(t, vm.identity, goal.userAssignedIdentity),
      });
    } else if (t.kind === "vmss") {
      const compute = arm.compute(t.subscriptionId);
      const set = await compute.virtualMachineScaleSets.get(t.resourceGroup, t.name, { abortSignal: signal });
      let instances = 0;
      for await (const page of compute.virtualMachineScaleSetVMs.list(t.resourceGroup, t.name, { abortSignal: signal }).byPage()) instances += page.length;
      Object.assign(view, {
        location: set.location,
        osType: set.virtualMachineProfile?.storageProfile?.osDisk?.osType,
        upgradeMode: set.upgradePolicy?.mode,
        instances,
        identity: chooseIdentity(t, set.identity, goal.userAssignedIdentity),
      });
    } else {
      const m = await arm.hybrid(t.subscriptionId).machines.get(t.resourceGroup, t.name, { abortSignal: signal });
      Object.assign(view, { location: m.location, osType: m.properties?.osName, agentStatus: m.properties?.status, identity: { kind: "arc" } });
    }
  });
  const legacy = ops.current(t, goal.legacyName, signal);
  const ama = ops.current(t, AMA_NAME, signal);
  const associations = step("GET data collection rule associations", async () => {
    const found: { name: string; dataCollectionRuleId: string }[] = [];
    for await (const a of monitor.insights(t.subscriptionId).dataCollectionRuleAssociations.listByResource(resourceUri(t), { abortSignal: signal }))
      found.push({ name: a.name ?? "?", dataCollectionRuleId: a.dataCollectionRuleId ?? "" });
    return found;
  });
  // The four reads go out together (a machine's latency, not four); the machine's own error explains a 404
  // of the others, so it is the one reported.
  const settled = await Promise.allSettled([parent, legacy, ama, associations]);
  for (const r of settled) if (r.status === "rejected") throw r.reason;
  const [, l, a, list] = settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [
    unknown,
    CurrentExtension | undefined,
    CurrentExtension | undefined,
    MachineView["associations"],
  ];
  if (l) view.legacy = { ...l, workspaceId: (l.settings as { workspaceId?: string } | undefined)?.workspaceId };
  view.ama = a;
  view.associations = list;
  return view;
}

async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    throw e instanceof StepError ? e : new StepError(what, e);
  }
}

export function isAmaHealthy(ama: CurrentExtension | undefined, identity: IdentityChoice): boolean {
  if (!ama || ama.provisioningState?.toLowerCase() !== "succeeded") return false;
  const want = JSON.stringify(amaSettings(identity));
  return JSON.stringify(ama.settings ?? {}) === want;
}

export function hasAssociation(view: MachineView, dcrId: string): boolean {
  return view.associations.some((a) => a.dataCollectionRuleId.toLowerCase() === dcrId.toLowerCase());
}

/** What `migrate` would do to this machine, or why it will not. */
export function planFor(view: MachineView, goal: MigrationTarget): MigrationPlan {
  const blocked = (reason: string): MigrationPlan => ({ action: "blocked", steps: [], reason, message: `blocked: ${reason}` });
  if (view.osType?.toLowerCase() === "windows") return blocked("runs Windows; this migration moves Linux machines (AzureMonitorLinuxAgent)");
  const agent = view.agentStatus?.toLowerCase();
  if (agent === "disconnected" || agent === "expired")
    return blocked(`the Arc agent is ${view.agentStatus}; extensions wait for it to reconnect — check \`azcmagent show\` on the machine`);
  if ("blocked" in view.identity) return blocked(view.identity.blocked);
  if (view.legacy?.workspaceId && view.legacy.workspaceId.toLowerCase() !== goal.workspaceCustomerId.toLowerCase())
    return blocked(
      `${goal.legacyName} reports to workspace ${view.legacy.workspaceId}, not to ${goal.workspaceCustomerId} (--workspace); migrate it with that workspace and its own DCR`,
    );
  if (isBusy(view.ama?.provisioningState) || isBusy(view.legacy?.provisioningState))
    return blocked(`an extension operation is still running (${view.ama?.provisioningState ?? view.legacy?.provisioningState}); wait for it to finish`);
  const steps: Step[] = [];
  if (!isAmaHealthy(view.ama, view.identity)) steps.push("install AMA");
  if (!hasAssociation(view, goal.dcrId)) steps.push("associate DCR");
  const legacyGoes = view.legacy !== undefined && !goal.keepLegacy;
  if (steps.length > 0 || legacyGoes) steps.push("verify heartbeat");
  if (legacyGoes) steps.push("remove OmsAgentForLinux");
  const identity =
    view.identity.kind === "system"
      ? "system-assigned identity"
      : view.identity.kind === "user"
        ? `user-assigned identity ${view.identity.id.split("/").at(-1)}`
        : "Arc identity";
  const legacy = view.legacy
    ? `${goal.legacyName} ${view.legacy.typeHandlerVersion ?? "?"} (${view.legacy.provisioningState ?? "?"})`
    : `no ${goal.legacyName}`;
  const ama = view.ama ? `AMA ${view.ama.typeHandlerVersion ?? "?"} (${view.ama.provisioningState ?? "?"})` : "no AMA";
  if (steps.length === 0) return { action: "unchanged", steps, message: `${legacy}; ${ama}; DCR associated; ${identity}` };
  return {
    action: "create",
    steps,
    message: `${steps.join(" → ")}; now ${legacy}, ${ama}, ${hasAssociation(view, goal.dcrId) ? "DCR associated" : "DCR not associated"}; ${identity}`,
  };
}
