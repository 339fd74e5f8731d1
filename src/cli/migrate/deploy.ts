// `migrate`, one machine: install AMA with the identity it needs, associate the DCR, wait for AMA's heartbeat in
// the workspace, and only then remove the legacy agent. Every step first looks at what is already there, and
// the journal records each step as it completes, so a resumed run neither repeats a finished step nor sends a
// write whose operation is still running in Azure.
import type { ArmClients } from "../clients.ts";
import type { Journal, MachineState } from "../journal.ts";
import { MachineOps, StepError, type Outcome } from "../arm.ts";
import { retryScope, sleep } from "../retry.ts";
import type { Target } from "../targets.ts";
import type { MonitorClients } from "./clients.ts";
import type { HeartbeatWatcher } from "./heartbeat.ts";
import {
  AMA_NAME,
  AMA_PUBLISHER,
  AMA_TYPE,
  amaSettings,
  hasAssociation,
  inspect,
  isAmaHealthy,
  isBusy,
  planFor,
  resourceUri,
  type IdentityChoice,
  type MigrationTarget,
} from "./machine.ts";

/** The association's name; one per machine and rule, so a second run finds it instead of adding another. */
const ASSOCIATION_NAME = "omsagent-fleet-migration";

export interface MigrateContext {
  arm: ArmClients;
  monitor: MonitorClients;
  ops: MachineOps;
  goal: MigrationTarget;
  watcher: HeartbeatWatcher;
  heartbeatTimeoutMs: number;
  pollIntervalMs: number;
  journal?: Journal;
}

/** The step the journal last recorded for the machine in an earlier run, if any. */
export type Resumed = MachineState | undefined;

const BLOCKED = "Blocked";

async function record(ctx: MigrateContext, t: Target, state: MachineState): Promise<void> {
  await ctx.journal?.record(t.id, state).catch(() => undefined);
}

function lro(
  ctx: MigrateContext,
  signal: AbortSignal,
  onAccepted: () => void,
): { abortSignal: AbortSignal; updateIntervalInMs: number; onResponse: (r: { status: number }) => void } {
  let seen = false;
  return {
    abortSignal: signal,
    updateIntervalInMs: ctx.pollIntervalMs,
    onResponse: (r) => {
      if (!seen && r.status >= 200 && r.status < 300) onAccepted();
      seen = true;
    },
  };
}

async function putAma(ctx: MigrateContext, t: Target, identity: IdentityChoice, location: string, signal: AbortSignal): Promise<void> {
  const common = {
    publisher: AMA_PUBLISHER,
    typeHandlerVersion: ctx.goal.amaVersion,
    autoUpgradeMinorVersion: true,
    settings: amaSettings(identity),
  };
  await record(ctx, t, "ama-sending");
  const options = lro(ctx, signal, () => void record(ctx, t, "ama-accepted"));
  try {
    if (t.kind === "vm") {
      await ctx.arm
        .compute(t.subscriptionId)
        .virtualMachineExtensions.createOrUpdate(
          t.resourceGroup,
          t.name,
          AMA_NAME,
          { location, typePropertiesType: AMA_TYPE, enableAutomaticUpgrade: true, ...common },
          options,
        );
    } else if (t.kind === "vmss") {
      await ctx.arm
        .compute(t.subscriptionId)
        .virtualMachineScaleSetExtensions.createOrUpdate(
          t.resourceGroup,
          t.name,
          AMA_NAME,
          { name: AMA_NAME, typePropertiesType: AMA_TYPE, enableAutomaticUpgrade: true, ...common },
          options,
        );
    } else {
      // The Arc API version of this SDK has no enableAutomaticUpgrade; Arc upgrades AMA through its own setting.
      const poller = await ctx.arm
        .hybrid(t.subscriptionId)
        .machineExtensions.beginCreateOrUpdate(t.resourceGroup, t.name, AMA_NAME, { location, properties: { type: AMA_TYPE, ...common } }, options);
      await poller.pollUntilDone();
    }
  } catch (e) {
    throw e instanceof StepError ? e : new StepError("PUT AzureMonitorLinuxAgent", e);
  }
}

/** Polls an extension until no operation runs on it (an earlier run's PUT or DELETE, never sent again). */
async function settle(ctx: MigrateContext, t: Target, name: string, signal: AbortSignal): Promise<void> {
  for (;;) {
    const now = await ctx.ops.current(t, name, signal);
    if (!isBusy(now?.provisioningState)) return;
    await sleep(ctx.pollIntervalMs, signal);
  }
}

export async function migrateMachine(ctx: MigrateContext, t: Target, resumed: Resumed, signal: AbortSignal): Promise<Outcome> {
  // An operation an earlier run started is finished first, so the view below is not a moment in its middle.
  if (resumed === "ama-sending" || resumed === "ama-accepted") await settle(ctx, t, AMA_NAME, signal);
  if (resumed === "legacy-removing") await settle(ctx, t, ctx.goal.legacyName, signal);
  const view = await inspect(ctx.arm, ctx.monitor, ctx.ops, t, ctx.goal, signal);
  const plan = planFor(view, ctx.goal);
  if (plan.action === "blocked") return { result: "failed", code: null, errorCode: BLOCKED, message: plan.reason ?? plan.message };
  const identity = view.identity as IdentityChoice;
  const scope = retryScope.getStore();
  if (scope && view.location) scope.region = view.location;
  const done: string[] = [];

  if (!isAmaHealthy(view.ama, identity)) {
    if (t.kind !== "vmss" && !view.location) throw new StepError("GET machine", new Error("the machine has no location"));
    try {
      await putAma(ctx, t, identity, view.location ?? "", signal);
    } catch (e) {
      const status = await ctx.ops.read(t, AMA_NAME, signal).catch(() => undefined);
      if (status?.result === "failed") return { ...status, message: `AMA failed to install; ${ctx.goal.legacyName} kept: ${status.message}` };
      throw e;
    }
    const status = await ctx.ops.read(t, AMA_NAME, signal);
    if (status.result !== "ok") {
      const manual =
        t.kind === "vmss" && view.upgradeMode?.toLowerCase() === "manual"
          ? " — the scale set's upgrade policy is Manual: upgrade its instances (az vmss update-instances), then resume"
          : "";
      return { ...status, result: "failed", message: `AMA did not succeed (${status.result}); ${ctx.goal.legacyName} kept: ${status.message}${manual}` };
    }
    done.push("AMA installed");
  }

  if (!hasAssociation(view, ctx.goal.dcrId)) {
    try {
      await ctx.monitor
        .insights(t.subscriptionId)
        .dataCollectionRuleAssociations.create(resourceUri(t), ASSOCIATION_NAME, { body: { dataCollectionRuleId: ctx.goal.dcrId }, abortSignal: signal });
    } catch (e) {
      throw new StepError("PUT data collection rule association", e);
    }
    await record(ctx, t, "associated");
    done.push("DCR associated");
  }

  const legacyGoes = view.legacy !== undefined && !ctx.goal.keepLegacy;
  const verifiedBefore = resumed === "verified" || resumed === "legacy-removing";
  if (!verifiedBefore && (done.length > 0 || legacyGoes)) {
    const beat = await ctx.watcher.wait(t.id, ctx.heartbeatTimeoutMs, view.instances ?? 1, signal);
    if (signal.aborted) throw signal.reason;
    if (!beat) {
      const minutes = Math.round(ctx.heartbeatTimeoutMs / 60_000);
      const problem = ctx.watcher.problem ? ` (last query error: ${ctx.watcher.problem})` : "";
      return {
        result: "failed",
        code: null,
        errorCode: "NoHeartbeat",
        message: `no AMA heartbeat${view.instances ? ` from all ${view.instances} instances` : ""} in workspace ${ctx.goal.workspaceCustomerId} within ${minutes >= 1 ? `${minutes} min` : `${ctx.heartbeatTimeoutMs} ms`}${problem}; ${view.legacy ? `${ctx.goal.legacyName} kept (still reporting)` : "no legacy agent to keep"} — check AMA's status on the machine (azuremonitoragent service, /var/opt/microsoft/azuremonitoragent/log), its identity and outbound access to *.ods.opinsights.azure.com and *.handler.control.monitor.azure.com, then resume`,
      };
    }
    await record(ctx, t, "verified");
    done.push(`heartbeat ${beat.at.toISOString()}`);
  }

  if (legacyGoes) {
    await record(ctx, t, "legacy-removing");
    const removed = await ctx.ops.remove(t, ctx.goal.legacyName, signal);
    if (removed.result !== "ok") return { ...removed, message: `AMA verified, but removing ${ctx.goal.legacyName} failed: ${removed.message}` };
    done.push(`${ctx.goal.legacyName} removed`);
  } else if (view.legacy) {
    done.push(`${ctx.goal.legacyName} kept (--keep-legacy)`);
  }
  return { result: "ok", code: null, message: done.length > 0 ? done.join("; ") : `already migrated (${plan.message})` };
}
