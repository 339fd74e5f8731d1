// enable: connect the installed agent to the workspace. Runs on every goal state and after reboots, so an
// already-applied sequence with unchanged settings returns at once and leaves the status alone: from the same
// settings file, fast-path.ts answers under the lock (invocation.ts) before this module is loaded; re-encrypted
// but saying the same, this module does once it has decrypted them.
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { agentProblem } from "../agent-health.ts";
import { locateBundle } from "../bundle.ts";
import { refuseMultipleConnections } from "../connections.ts";
import { resolveDomain, resolveProxy } from "../connectivity.ts";
import { ExtensionError } from "../errors.ts";
import { alreadyApplied, appliedBefore } from "../fast-path.ts";
import { fetchInstanceMetadata } from "../metadata.ts";
import { onboard, removeWorkspace } from "../omsadmin.ts";
import {
  configurationDifferences,
  configurationMismatch,
  keepAgentIdentity,
  keepProxyConf,
  ownWorkspaceTrees,
  readAgentConfiguration,
  verifyOnboarded,
} from "../onboarding.ts";
import { proxyEndpoint, registerProxySecrets } from "../secrets.ts";
import { isAgentRunning, serviceControl, startAgent } from "../service.ts";
import { settingsFileHash } from "../sequence.ts";
import { info, type OperationContext, type OperationOutcome } from "./context.ts";

/**
 * The settings now name another workspace than the one this handler connected: disconnect the old one
 * first (no double billing, and omsadmin.sh would otherwise keep it as the primary workspace).
 */
async function disconnectPrevious(ctx: OperationContext, previous: string | undefined, current: string): Promise<string | undefined> {
  if (!previous || previous === current || !existsSync(ctx.paths.workspaceEtc(previous))) return undefined;
  ctx.log.info(`the workspace changed from ${previous} to ${current}: disconnecting ${previous}`);
  const exitCode = await removeWorkspace(ctx, previous);
  if (exitCode !== 0) {
    ctx.log.warn(`could not disconnect the previous workspace ${previous} (omsadmin.sh -x exit ${exitCode})`);
    return undefined;
  }
  return previous;
}

interface FailedEnable {
  workspaceId: string;
  /** The workspace had no omsadmin.conf before this enable's onboarding. */
  createdWorkspace: boolean;
  stoppedAgent: boolean;
  restoreProxy: () => void;
  restoreIdentity: () => void;
}

/**
 * A failed enable leaves the machine as it found it: proxy.conf and the certificates back, and the agent
 * running again if this enable stopped it. omsadmin.sh's 33 and 34 come after the workspace was onboarded and
 * its agent started with the new configuration, which stays; that workspace is then this handler's own.
 */
async function undoFailedEnable(ctx: OperationContext, error: unknown, failed: FailedEnable): Promise<void> {
  const { paths, log, state } = ctx;
  const { workspaceId } = failed;
  const onboardedAnyway = error instanceof ExtensionError && error.reason === "MetaConfigurationFailed";
  if (failed.createdWorkspace && existsSync(join(paths.workspaceEtc(workspaceId), "conf", "omsadmin.conf"))) {
    // seq -1: the next enable runs fully, but knows which workspace is its own (connections.ts).
    state.recordApplied({ seq: -1, settingsHash: "", workspaceId, handlerVersion: ctx.env.version, at: new Date().toISOString() });
    log.info(`workspace ${workspaceId} was onboarded by this enable although it failed: it counts as this handler's own`);
  }
  if (!onboardedAnyway) {
    failed.restoreIdentity();
    failed.restoreProxy();
  }
  if (failed.stoppedAgent && !(await isAgentRunning(ctx, workspaceId).catch(() => false))) {
    log.info(`starting the agent of workspace ${workspaceId} again: this enable stopped it and then failed`);
    await startAgent(ctx, workspaceId).catch((restartError: unknown) =>
      log.warn(`could not start the agent of workspace ${workspaceId} again: ${(restartError as Error).message}`),
    );
  }
}

export async function enable(ctx: OperationContext): Promise<OperationOutcome> {
  const { paths, log, state, seq } = ctx;
  if (!existsSync(paths.omsadmin)) {
    throw new ExtensionError(
      "EnableBeforeInstall",
      "the Log Analytics agent is not installed (omsadmin.sh is missing), so there is nothing to enable",
      "check the install step's status and fix its error; the guest agent runs install again on the next goal state",
    );
  }
  const applied = state.applied();
  const fileHash = settingsFileHash(ctx.env.configFolder, seq);
  const trusted = appliedBefore(ctx);
  if (applied?.seq === seq && !trusted)
    log.info(`sequence ${seq} was applied, but its status file does not say enable succeeded (empty, damaged or unfinished): running enable again`);
  // Enable repairs: the guest agent runs it at every boot, after someone ran omsadmin.sh -x or the agent died.
  const broken = trusted ? agentProblem(paths, trusted.workspaceId) : undefined;
  if (broken) log.info(`sequence ${seq} was applied, but ${broken}: running enable again to repair it`);

  const settings = (await ctx.settings({ needProtected: true }))!;
  settings.warnings.forEach((warning) => log.warn(warning));
  const workspaceId = settings.public.workspaceId;
  // The guest agent may rewrite the same settings re-encrypted: compare what they say, not their bytes.
  if (trusted?.settingsHash === settings.hash && !broken) return alreadyApplied(seq, log, "same effective settings");
  ctx.reportTransitioning(`Connecting to workspace ${workspaceId}`);

  const protectedSettings = settings.protected!;
  const needMetadata = !protectedSettings.domain || !protectedSettings.vmResourceId;
  const metadata = needMetadata ? await fetchInstanceMetadata(paths, log, ctx.processEnv) : {};
  const domain = resolveDomain(settings, metadata);
  const resourceId = protectedSettings.vmResourceId ?? metadata.resourceId;
  const proxy = resolveProxy(settings, paths, ctx.processEnv, domain.value);
  registerProxySecrets(proxy.value);
  log.info({ domain: domain.value, domainSource: domain.source, resourceId, proxySource: proxy.source }, "resolved onboarding parameters");
  for (const reason of proxy.skipped ?? []) log.info(`proxy source passed over: ${reason}`);
  log.info(
    proxy.value
      ? `proxy: ${proxyEndpoint(proxy.value)} from ${proxy.source}`
      : `proxy: none (${proxy.skipped ? "every configured proxy is bypassed for the Log Analytics service" : "none configured in the settings, the Arc agent or the environment"})`,
  );
  // omsadmin.sh exits 0 at once, configuring nothing, when the workspace is onboarded and its agent runs:
  // a changed proxy or domain would then never reach the agent. Note what differs before touching anything.
  const wanted = { domain: domain.value, proxy: proxy.value };
  const before = readAgentConfiguration(paths, workspaceId);
  const stale = before.onboarded ? configurationDifferences(before, wanted) : [];

  // A refusal changes nothing: it comes before anything is removed or stopped. The workspace this handler
  // connected before is being replaced, not kept beside the new one.
  const previous = applied?.workspaceId !== undefined && applied.workspaceId !== workspaceId ? [applied.workspaceId] : [];
  if (settings.public.stopOnMultipleConnections) {
    await refuseMultipleConnections(ctx, workspaceId, previous);
  }

  // From here on the machine changes. Keep what omsadmin.sh may change or remove, to put it back if this fails.
  const restoreProxy = keepProxyConf(paths, log);
  const restoreIdentity = before.onboarded ? keepAgentIdentity(paths, workspaceId, log) : () => {};
  let stoppedAgent = false;
  let disconnected: string | undefined;
  try {
    if (!proxy.value && existsSync(paths.proxyConf)) {
      // omsadmin.sh would keep using a proxy the settings no longer name.
      rmSync(paths.proxyConf, { force: true });
      log.info("removed the agent's previous proxy configuration: no proxy is configured now");
    }
    disconnected = await disconnectPrevious(ctx, applied?.workspaceId, workspaceId);
    // omsadmin.sh exits 0 at once, configuring nothing, when the workspace is onboarded and its agent runs:
    // a changed proxy or domain would then never reach the agent.
    if (stale.length > 0 && (await isAgentRunning(ctx, workspaceId))) {
      log.info(`the agent of workspace ${workspaceId} uses ${stale.join(" and ")}: stopping it so that omsadmin.sh configures it again`);
      await serviceControl(ctx, "stop", workspaceId);
      stoppedAgent = true;
    }
    const request = { workspaceId, workspaceKey: protectedSettings.workspaceKey, domain: domain.value, proxy: proxy.value, resourceId };
    await onboard(ctx, request, ctx.tuning.retryDelayMs);
    await verifyOnboarded(ctx, workspaceId);
    ownWorkspaceTrees(paths, workspaceId, log);
    // Success means the agent uses what the status is about to claim.
    const remaining = configurationDifferences(readAgentConfiguration(paths, workspaceId), wanted);
    if (remaining.length > 0) throw configurationMismatch(workspaceId, remaining);
    // "Connected" means the agent process runs; `service_control enable` would only register it.
    if (!(await isAgentRunning(ctx, workspaceId))) {
      log.info("the agent is not running after onboarding: starting it");
      await startAgent(ctx, workspaceId);
    }
  } catch (error) {
    await undoFailedEnable(ctx, error, { workspaceId, createdWorkspace: !before.onboarded, stoppedAgent, restoreProxy, restoreIdentity });
    throw error;
  }

  state.recordApplied({
    seq,
    settingsHash: settings.hash,
    settingsFileHash: fileHash,
    workspaceId,
    handlerVersion: ctx.env.version,
    at: new Date().toISOString(),
  });
  let bundleVersion = "unknown";
  try {
    bundleVersion = locateBundle(ctx.env.extensionDir).version;
  } catch {
    // Only informational here.
  }
  const proxyText = proxy.value ? `${proxyEndpoint(proxy.value)} (from ${proxy.source})` : "none";
  return {
    message: `Enable succeeded: connected to workspace ${workspaceId} (${domain.value})${disconnected ? `; disconnected the previous workspace ${disconnected}` : ""}`,
    substatus: [
      info("Workspace", workspaceId),
      info("CloudDomain", `${domain.value} (from ${domain.source})`),
      info("ResourceId", resourceId ?? "none (not reported: no vmResourceId and no instance metadata)"),
      info("Proxy", proxyText),
      info("AgentBundle", bundleVersion),
    ],
  };
}
