// The three operations on one machine, for each kind of target, through the real SDK clients. Errors are
// thrown as StepError (what was being done + the SDK's error); the rollout turns them into one row.
import type { ArmClients } from "./clients.ts";
import { httpStatusOf, isAbort } from "./errors.ts";
import { fromArcStatus, fromStatuses, type HandlerStatus } from "./instance-view.ts";
import { canonicalJson } from "./journal.ts";
import { retryScope, sleep } from "./retry.ts";
import type { Target } from "./targets.ts";

import { EXTENSION_TYPE, PUBLISHER } from "../shared/identity.ts";

export interface ExtensionSpec {
  /** The extension resource's name (usually the type). */
  name: string;
  typeHandlerVersion: string;
  autoUpgradeMinorVersion: boolean;
  /**
   * Always sent for VMs and scale sets: from compute API version 2025-04-01 (the SDK sends a later one) an
   * omitted value may turn platform-driven upgrades on.
   */
  enableAutomaticUpgrade: boolean;
  forceUpdateTag?: string;
  settings: Record<string, unknown>;
  protectedSettings: Record<string, unknown>;
}

type OutcomeResult = "ok" | "failed" | "transitioning" | "not-installed" | "skipped";

/** The errorCode of a machine left alone because it does not run Linux (plan, deploy, diagnose and Resource Graph alike). */
export const NOT_LINUX = "NotLinux";

export interface Outcome {
  result: OutcomeResult;
  code: number | null;
  reason?: string;
  errorCode?: string;
  message: string;
}

/** A failed step: `what` names it for the message ("GET virtual machine", "PUT extension"). */
export class StepError extends Error {
  constructor(
    readonly what: string,
    override readonly cause: unknown,
  ) {
    super(`${what}: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = "StepError";
  }
}

async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof StepError) throw e;
    throw new StepError(what, e);
  }
}

export interface Parent {
  location?: string;
  osType?: string;
  /** Arc: Connected / Disconnected / Expired. */
  agentStatus?: string;
  /** Scale sets: Automatic / Rolling / Manual. */
  upgradeMode?: string;
}

const KIND_NAME: Record<Target["kind"], string> = { vm: "virtual machine", vmss: "scale set", arc: "Arc machine" };

function toOutcome(status: HandlerStatus): Outcome {
  const result: OutcomeResult = status.state === "succeeded" ? "ok" : status.state === "failed" ? "failed" : "transitioning";
  return { result, code: status.code, ...(status.reason ? { reason: status.reason } : {}), message: status.message };
}

export interface MachineOpsOptions {
  /** LRO poll interval; ARM's Retry-After on a poll response overrides it. */
  pollIntervalMs?: number;
}

export interface DeployHooks {
  /** Awaited just before the PUT goes out (the journal's write-ahead record). */
  beforePut?: () => Promise<void>;
  /** ARM answered the PUT with 2xx: the operation now runs in Azure. */
  onAccepted?: () => void;
}

export interface CurrentExtension {
  publisher?: string;
  type?: string;
  typeHandlerVersion?: string;
  autoUpgradeMinorVersion?: boolean;
  enableAutomaticUpgrade?: boolean;
  settings?: unknown;
  provisioningState?: string;
}

interface Change {
  field: string;
  now: unknown;
  deploy: unknown;
}

export interface PlanItem {
  action: "create" | "update" | "unchanged" | "skip";
  current: CurrentExtension | null;
  changes: Change[];
  message: string;
}

const BUSY = new Set(["creating", "updating", "deleting"]);

/**
 * Arc reports the version it installed ("1.19.2" for a PUT of "1.19"; HybridCompute examples
 * Extension_CreateOrUpdate.json), VMs and scale sets the one asked for: either is the version deployed.
 */
export function sameHandlerVersion(now: string | undefined, deploy: string): boolean {
  return now === deploy || (now !== undefined && now.startsWith(`${deploy}.`));
}

/** Fields deploy sets that ARM reads back, compared the way ARM stores them. */
function differences(current: CurrentExtension, spec: ExtensionSpec, kind: Target["kind"]): Change[] {
  const changes: Change[] = [];
  const compare = (field: string, now: unknown, deploy: unknown, same = now === deploy): void => {
    if (!same) changes.push({ field, now: now ?? null, deploy });
  };
  compare("publisher", current.publisher, PUBLISHER, current.publisher?.toLowerCase() === PUBLISHER.toLowerCase());
  compare("type", current.type, EXTENSION_TYPE, current.type?.toLowerCase() === EXTENSION_TYPE.toLowerCase());
  compare("typeHandlerVersion", current.typeHandlerVersion, spec.typeHandlerVersion, sameHandlerVersion(current.typeHandlerVersion, spec.typeHandlerVersion));
  compare("autoUpgradeMinorVersion", current.autoUpgradeMinorVersion, spec.autoUpgradeMinorVersion);
  // Not in the Arc API version the SDK uses (see put()).
  if (kind !== "arc")
    compare(
      "enableAutomaticUpgrade",
      current.enableAutomaticUpgrade,
      spec.enableAutomaticUpgrade,
      (current.enableAutomaticUpgrade ?? null) === spec.enableAutomaticUpgrade,
    );
  const now = (current.settings ?? {}) as Record<string, unknown>;
  for (const key of [...new Set([...Object.keys(now), ...Object.keys(spec.settings)])].sort()) {
    compare(`settings.${key}`, now[key], spec.settings[key] ?? null, canonicalJson(now[key] ?? null) === canonicalJson(spec.settings[key] ?? null));
  }
  return changes;
}

function describeChange(c: Change): string {
  const show = (v: unknown): string => (v === null || v === undefined ? "(absent)" : JSON.stringify(v));
  return `${c.field} ${show(c.now)} → ${show(c.deploy)}`;
}

function manualScaleSet(status: Outcome): Outcome {
  return {
    ...status,
    result: "ok",
    message: `scale set model updated; instances get the extension when upgraded (upgrade policy Manual: az vmss update-instances) — ${status.message}`,
  };
}

/**
 * One rule for machines that are not Linux, in plan, deploy and diagnose: skipped with the reason, never failed
 * and never sent anything. An unknown OS is not a reason (the handler's own checks will say).
 */
export function notLinuxOutcome(t: Target, parent: Parent): Outcome | undefined {
  const os = parent.osType?.toLowerCase();
  if (!os || os === "linux") return undefined;
  return {
    result: "skipped",
    code: null,
    errorCode: NOT_LINUX,
    message: `${t.label} runs ${parent.osType}; OmsAgentForLinux only runs on Linux, so nothing was sent (Windows machines use Azure Monitor Agent)`,
  };
}

export class MachineOps {
  constructor(
    private readonly clients: ArmClients,
    private readonly options: MachineOpsOptions = {},
  ) {}

  private lro(
    signal: AbortSignal,
    onAccepted?: () => void,
  ): { abortSignal: AbortSignal; updateIntervalInMs?: number; onResponse?: (r: { status: number }) => void } {
    let seen = false;
    // The first response is the PUT's own (the retry policy sits below and only passes on the final attempt).
    const onResponse = onAccepted
      ? (r: { status: number }) => {
          if (!seen && r.status >= 200 && r.status < 300) onAccepted();
          seen = true;
        }
      : undefined;
    return {
      abortSignal: signal,
      ...(this.options.pollIntervalMs !== undefined ? { updateIntervalInMs: this.options.pollIntervalMs } : {}),
      ...(onResponse ? { onResponse } : {}),
    };
  }

  async parent(t: Target, signal: AbortSignal): Promise<Parent> {
    return step(`GET ${KIND_NAME[t.kind]}`, async () => {
      if (t.kind === "vm") {
        const vm = await this.clients.compute(t.subscriptionId).virtualMachines.get(t.resourceGroup, t.name, { abortSignal: signal });
        return { location: vm.location, osType: vm.storageProfile?.osDisk?.osType };
      }
      if (t.kind === "vmss") {
        const set = await this.clients.compute(t.subscriptionId).virtualMachineScaleSets.get(t.resourceGroup, t.name, { abortSignal: signal });
        return { location: set.location, osType: set.virtualMachineProfile?.storageProfile?.osDisk?.osType, upgradeMode: set.upgradePolicy?.mode };
      }
      const machine = await this.clients.hybrid(t.subscriptionId).machines.get(t.resourceGroup, t.name, { abortSignal: signal });
      return { location: machine.location, osType: machine.properties?.osName, agentStatus: machine.properties?.status };
    });
  }

  /** The machine's region, which resources created under it (Arc run commands) must name. */
  async location(t: Target, signal: AbortSignal): Promise<string> {
    const parent = await this.parent(t, signal);
    if (!parent.location) throw new StepError(`GET ${KIND_NAME[t.kind]}`, new Error("the machine has no location"));
    return parent.location;
  }

  /** Reasons not to send the PUT at all, each a cause and a fix. */
  private refuse(t: Target, parent: Parent): Outcome | undefined {
    const notLinux = notLinuxOutcome(t, parent);
    if (notLinux) return notLinux;
    const agent = parent.agentStatus?.toLowerCase();
    if (agent === "disconnected" || agent === "expired") {
      return {
        result: "failed",
        code: null,
        errorCode: `Agent${parent.agentStatus}`,
        message: `the Arc agent on ${t.label} is ${parent.agentStatus}; extension operations wait for it to reconnect — check \`azcmagent show\` on the machine, then retry`,
      };
    }
    return undefined;
  }

  async deploy(t: Target, spec: ExtensionSpec, location: string | undefined, signal: AbortSignal, hooks: DeployHooks = {}): Promise<Outcome> {
    const parent: Parent = location ? { location } : await this.parent(t, signal);
    const refused = this.refuse(t, parent);
    if (refused) return refused;
    if (t.kind !== "vmss" && !parent.location) {
      throw new StepError(`GET ${KIND_NAME[t.kind]}`, new Error("the machine has no location; pass --location"));
    }
    // Compute throttles extension writes per subscription and region: the pacer needs to know which bucket.
    const scope = retryScope.getStore();
    if (scope && parent.location) scope.region = parent.location;

    try {
      await hooks.beforePut?.();
      await step("PUT extension", () => this.put(t, spec, parent.location ?? "", signal, hooks.onAccepted));
    } catch (e) {
      const cause = e instanceof StepError ? e.cause : e;
      // An HTTP error or an abort means the handler never reported; only a failed operation has a status to read.
      if (isAbort(cause) || httpStatusOf(cause) !== undefined) throw e;
      const status = await this.read(t, spec.name, signal).catch(() => undefined);
      if (status?.result === "failed") return status;
      throw e;
    }
    const status = await this.read(t, spec.name, signal);
    if (t.kind === "vmss" && status.result === "transitioning" && parent.upgradeMode?.toLowerCase() === "manual") return manualScaleSet(status);
    return status;
  }

  /**
   * Finishes a deploy that an earlier, interrupted run had sent (or was about to send): an operation ARM
   * accepted is followed by polling the extension until it leaves Creating/Updating, never by a second PUT.
   * A PUT the journal never saw answered is sent again: what it carried cannot all be read back (ARM never
   * returns protectedSettings, so a rotated key looks exactly like the old one), and an identical PUT is
   * harmless. An operation still running is waited for first, so the second PUT does not meet a 409.
   */
  async resumeDeploy(
    t: Target,
    spec: ExtensionSpec,
    location: string | undefined,
    signal: AbortSignal,
    hooks: DeployHooks,
    state: "sending" | "accepted",
  ): Promise<Outcome> {
    const current = await this.current(t, spec.name, signal);
    if (current === undefined || state === "sending") {
      await this.settle(t, spec.name, current?.provisioningState, signal);
      return this.deploy(t, spec, location, signal, hooks);
    }
    hooks.onAccepted?.();
    await this.settle(t, spec.name, current.provisioningState, signal);
    const status = await this.read(t, spec.name, signal);
    if (t.kind === "vmss" && status.result === "transitioning") {
      const parent = await this.parent(t, signal);
      if (parent.upgradeMode?.toLowerCase() === "manual") return manualScaleSet(status);
    }
    return status;
  }

  /** Waits while an operation on the extension is still running (Creating, Updating, Deleting). */
  private async settle(t: Target, name: string, provisioning: string | undefined, signal: AbortSignal): Promise<void> {
    while (provisioning && BUSY.has(provisioning.toLowerCase())) {
      await sleep(this.options.pollIntervalMs ?? 10_000, signal);
      provisioning = (await this.current(t, name, signal))?.provisioningState;
    }
  }

  /** The extension as ARM has it now (no instance view), or undefined when it is not there. */
  async current(t: Target, name: string, signal: AbortSignal): Promise<CurrentExtension | undefined> {
    try {
      return await step("GET extension", async (): Promise<CurrentExtension> => {
        if (t.kind === "vm" || t.kind === "vmss") {
          // VM and scale-set extensions have the same shape.
          const compute = this.clients.compute(t.subscriptionId);
          const x =
            t.kind === "vm"
              ? await compute.virtualMachineExtensions.get(t.resourceGroup, t.name, name, { abortSignal: signal })
              : await compute.virtualMachineScaleSetExtensions.get(t.resourceGroup, t.name, name, { abortSignal: signal });
          return {
            publisher: x.publisher,
            type: x.typePropertiesType,
            typeHandlerVersion: x.typeHandlerVersion,
            autoUpgradeMinorVersion: x.autoUpgradeMinorVersion,
            enableAutomaticUpgrade: x.enableAutomaticUpgrade,
            settings: x.settings,
            provisioningState: x.provisioningState,
          };
        }
        const x = (await this.clients.hybrid(t.subscriptionId).machineExtensions.get(t.resourceGroup, t.name, name, { abortSignal: signal })).properties;
        return {
          publisher: x?.publisher,
          type: x?.type,
          typeHandlerVersion: x?.typeHandlerVersion,
          autoUpgradeMinorVersion: x?.autoUpgradeMinorVersion,
          settings: x?.settings,
          provisioningState: x?.provisioningState,
        };
      });
    } catch (e) {
      if (httpStatusOf((e as StepError).cause) === 404) return undefined;
      throw e;
    }
  }

  /**
   * What deploy would do to this machine, read-only: the extension now there against the spec. Protected
   * settings cannot be read back from ARM, so they are not compared.
   */
  async plan(t: Target, spec: ExtensionSpec, signal: AbortSignal): Promise<PlanItem> {
    const parent = await this.parent(t, signal);
    const refused = this.refuse(t, parent);
    if (refused) return { action: "skip", current: null, changes: [], message: refused.message };
    const current = await this.current(t, spec.name, signal);
    if (!current) return { action: "create", current: null, changes: [], message: `${spec.name} ${spec.typeHandlerVersion} would be created` };
    const changes = differences(current, spec, t.kind);
    if (changes.length === 0)
      return {
        action: "unchanged",
        current,
        changes,
        message: `${spec.name} ${current.typeHandlerVersion ?? "?"} (${current.provisioningState ?? "?"}) already has these public settings and properties`,
      };
    return { action: "update", current, changes, message: changes.map(describeChange).join("; ") };
  }

  private async put(t: Target, spec: ExtensionSpec, location: string, signal: AbortSignal, onAccepted?: () => void): Promise<void> {
    const common = {
      publisher: PUBLISHER,
      typeHandlerVersion: spec.typeHandlerVersion,
      autoUpgradeMinorVersion: spec.autoUpgradeMinorVersion,
      settings: spec.settings,
      protectedSettings: spec.protectedSettings,
      ...(spec.forceUpdateTag !== undefined ? { forceUpdateTag: spec.forceUpdateTag } : {}),
    };
    const automatic = { enableAutomaticUpgrade: spec.enableAutomaticUpgrade };
    if (t.kind === "vm") {
      // The compute models flatten `properties.type` to `typePropertiesType`; plain `type` is the resource type.
      await this.clients
        .compute(t.subscriptionId)
        .virtualMachineExtensions.createOrUpdate(
          t.resourceGroup,
          t.name,
          spec.name,
          { location, typePropertiesType: EXTENSION_TYPE, ...common, ...automatic },
          this.lro(signal, onAccepted),
        );
    } else if (t.kind === "vmss") {
      await this.clients
        .compute(t.subscriptionId)
        .virtualMachineScaleSetExtensions.createOrUpdate(
          t.resourceGroup,
          t.name,
          spec.name,
          { name: spec.name, typePropertiesType: EXTENSION_TYPE, ...common, ...automatic },
          this.lro(signal, onAccepted),
        );
    } else {
      // Arc (api-version 2021-05-20 in this SDK) has nested properties and no enableAutomaticUpgrade.
      const poller = await this.clients
        .hybrid(t.subscriptionId)
        .machineExtensions.beginCreateOrUpdate(
          t.resourceGroup,
          t.name,
          spec.name,
          { location, properties: { type: EXTENSION_TYPE, ...common } },
          this.lro(signal, onAccepted),
        );
      await poller.pollUntilDone();
    }
  }

  /** What the handler reported, read back from ARM. A missing extension is `not-installed`. */
  async read(t: Target, name: string, signal: AbortSignal): Promise<Outcome> {
    try {
      return await step("GET extension status", () => this.readStatus(t, name, signal));
    } catch (e) {
      if (httpStatusOf((e as StepError).cause) !== 404) throw e;
      // 404 is either "no such extension" or "no such machine": only the second is a failure.
      await this.parent(t, signal);
      return { result: "not-installed", code: null, message: `${name} is not installed on this ${KIND_NAME[t.kind]}` };
    }
  }

  private async readStatus(t: Target, name: string, signal: AbortSignal): Promise<Outcome> {
    if (t.kind === "vm") {
      const ext = await this.clients
        .compute(t.subscriptionId)
        .virtualMachineExtensions.get(t.resourceGroup, t.name, name, { expand: "instanceView", abortSignal: signal });
      return toOutcome(fromStatuses(ext.instanceView?.statuses, ext.provisioningState));
    }
    if (t.kind === "arc") {
      const ext = await this.clients.hybrid(t.subscriptionId).machineExtensions.get(t.resourceGroup, t.name, name, { abortSignal: signal });
      return toOutcome(fromArcStatus(ext.properties?.instanceView?.status, ext.properties?.provisioningState));
    }
    return this.readScaleSet(t, name, signal);
  }

  /**
   * A scale set has no extension instance view of its own: each instance has one. The row summarises them and
   * shows the first failed instance's code and message, since that is what the operator has to fix.
   */
  private async readScaleSet(t: Target, name: string, signal: AbortSignal): Promise<Outcome> {
    const compute = this.clients.compute(t.subscriptionId);
    const model = await compute.virtualMachineScaleSetExtensions.get(t.resourceGroup, t.name, name, { abortSignal: signal });
    const instances: { id: string; status: HandlerStatus | undefined }[] = [];
    for await (const vm of compute.virtualMachineScaleSetVMs.list(t.resourceGroup, t.name, { expand: "instanceView", abortSignal: signal })) {
      const ext = vm.instanceView?.extensions?.find((x) => x.name?.toLowerCase() === name.toLowerCase());
      instances.push({ id: vm.name ?? vm.instanceId ?? "?", status: ext ? fromStatuses(ext.statuses) : undefined });
    }
    const total = instances.length;
    if (total === 0) {
      return {
        result: model.provisioningState?.toLowerCase() === "failed" ? "failed" : "ok",
        code: null,
        message: `scale set model provisioning ${model.provisioningState ?? "unknown"}; the scale set has no instances`,
      };
    }
    const failed = instances.filter((i) => i.status?.state === "failed");
    const succeeded = instances.filter((i) => i.status?.state === "succeeded");
    const missing = instances.filter((i) => !i.status);
    if (failed.length > 0) {
      const first = failed[0]!;
      return {
        result: "failed",
        code: first.status?.code ?? null,
        ...(first.status?.reason ? { reason: first.status.reason } : {}),
        message: `${failed.length}/${total} instances failed; ${first.id}: ${first.status?.message ?? ""}`,
      };
    }
    const sample = succeeded[0]?.status?.message;
    if (succeeded.length === total) {
      return { result: "ok", code: 0, message: `${total}/${total} instances succeeded${sample ? `; ${sample}` : ""}` };
    }
    const waiting = total - succeeded.length - missing.length;
    const parts = [`${succeeded.length}/${total} instances succeeded`];
    if (waiting > 0) parts.push(`${waiting} still transitioning`);
    if (missing.length > 0) parts.push(`${missing.length} not reporting the extension yet`);
    return { result: "transitioning", code: null, message: parts.join(", ") };
  }

  async status(t: Target, name: string, signal: AbortSignal): Promise<Outcome> {
    return this.read(t, name, signal);
  }

  async remove(t: Target, name: string, signal: AbortSignal): Promise<Outcome> {
    // ARM answers a DELETE of an absent extension with 204 (or 404), of a present one with 200/202.
    let first: number | undefined;
    const options = { ...this.lro(signal), onResponse: (r: { status: number }) => void (first ??= r.status) };
    try {
      await step("DELETE extension", async () => {
        if (t.kind === "vm") {
          await this.clients.compute(t.subscriptionId).virtualMachineExtensions.delete(t.resourceGroup, t.name, name, options);
        } else if (t.kind === "vmss") {
          await this.clients.compute(t.subscriptionId).virtualMachineScaleSetExtensions.delete(t.resourceGroup, t.name, name, options);
        } else {
          const poller = await this.clients.hybrid(t.subscriptionId).machineExtensions.beginDelete(t.resourceGroup, t.name, name, options);
          await poller.pollUntilDone();
        }
      });
    } catch (e) {
      if (httpStatusOf((e as StepError).cause) !== 404) throw e;
      first = 404;
    }
    if (first === 204 || first === 404) {
      // Absent extension or absent machine? Only the second is a failure (the GET throws its 404).
      await this.parent(t, signal);
      return { result: "ok", code: null, message: `${name} was not installed` };
    }
    return { result: "ok", code: null, message: `${name} removed` };
  }
}
