// enable: connect the installed agent to the workspace. Runs on every goal state and after reboots, so an
// already-applied sequence with unchanged settings returns at once and leaves the status alone.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { locateBundle } from "../bundle.ts";
import { configuredWorkspaces, refuseMultipleConnections } from "../connections.ts";
import { ExtensionError } from "../errors.ts";
import { DEFAULT_DOMAIN, domainForEnvironment, fetchInstanceMetadata, isArcMachine, type InstanceMetadata } from "../metadata.ts";
import {
  classifyOnboardingFailure,
  configurationDifferences,
  configurationMismatch,
  keepAgentIdentity,
  ownWorkspaceTrees,
  readAgentConfiguration,
  isTransientOnboardingFailure,
  onboardingTimedOut,
  runOnboarding,
  type OnboardingRequest,
} from "../onboarding.ts";
import type { SystemPaths } from "../paths.ts";
import { runChild } from "../process.ts";
import { proxyEndpoint, registerProxySecrets } from "../secrets.ts";
import { classifyServiceFailure, isAgentRunning, serviceControl } from "../service.ts";
import { settingsFileHash, type Settings } from "../settings.ts";
import type { AppliedEnable } from "../state.ts";
import { hasSucceeded } from "../status.ts";
import { info, type OperationContext, type OperationOutcome } from "./context.ts";

const MAX_ONBOARDING_ATTEMPTS = 3;

interface Resolved<T> {
  value: T;
  source: string;
}

export interface ProxyChoice {
  value?: string;
  source: string;
  /** Sources that offered a proxy and were passed over, and why (for extension.log). */
  skipped?: string[];
}

/** The host an Arc proxy.bypass entry names: a URL, `*.domain`, `.domain` or a plain host (or a service tag). */
function bypassHost(entry: string): string {
  return entry.trim().toLowerCase().replace(/^[a-z]+:\/\//, "").replace(/[/:].*$/, "").replace(/^\*?\./, "");
}

/**
 * Whether an Arc proxy.bypass list covers the Log Analytics service of `domain` (its endpoints are
 * <workspace>.oms.<domain> and <workspace>.ods.<domain>): an entry `*`, or the domain or one of its parents.
 * Service tags (Arc, ARM, AAD) name other services.
 */
export function bypassCoversLogAnalytics(bypass: unknown, domain: string): boolean {
  const entries = Array.isArray(bypass) ? bypass : typeof bypass === "string" ? bypass.split(/[,;\s]+/) : [];
  const service = domain.toLowerCase();
  return entries.some((entry) => {
    if (typeof entry !== "string") return false;
    if (entry.trim() === "*") return true;
    const host = bypassHost(entry);
    return host.includes(".") && (service === host || service.endsWith(`.${host}`));
  });
}

/**
 * Protected settings first, then the Arc agent's configured proxy (unless its proxy.bypass covers the Log
 * Analytics service), then the guest agent's environment.
 */
export function resolveProxy(settings: Settings, paths: SystemPaths, processEnv: NodeJS.ProcessEnv, domain: string = DEFAULT_DOMAIN): ProxyChoice {
  if (settings.protected?.proxy) return { value: settings.protected.proxy, source: "protected settings" };
  const skipped: string[] = [];
  let bypassed: string | undefined;
  if (isArcMachine(paths)) {
    let config: Record<string, unknown> = {};
    try {
      const parsed = JSON.parse(readFileSync(paths.arcLocalConfig, "utf8")) as { config?: Record<string, unknown> } & Record<string, unknown>;
      config = { ...parsed, ...parsed.config };
    } catch {
      // No Arc proxy configured.
    }
    const url = config["proxy.url"];
    if (typeof url === "string" && url) {
      if (!bypassCoversLogAnalytics(config["proxy.bypass"], domain)) return { value: url, source: "Azure Arc agent configuration" };
      bypassed = url;
      skipped.push(`Azure Arc proxy.url ${proxyEndpoint(url)}: the Arc agent's proxy.bypass covers ${domain}`);
    }
  }
  for (const name of ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"]) {
    const value = processEnv[name];
    if (!value) continue;
    // The Arc agent hands its own proxy down in the environment; bypassed there, it is bypassed here too.
    if (bypassed !== undefined && value.replace(/\/$/, "") === bypassed.replace(/\/$/, "")) {
      skipped.push(`${name} ${proxyEndpoint(value)}: it is the Arc proxy that proxy.bypass excludes`);
      continue;
    }
    return { value, source: `environment (${name})`, ...(skipped.length > 0 ? { skipped } : {}) };
  }
  return { source: "none", ...(skipped.length > 0 ? { skipped } : {}) };
}

function resolveDomain(settings: Settings, metadata: InstanceMetadata): Resolved<string> {
  if (settings.protected?.domain) return { value: settings.protected.domain, source: "protected settings" };
  const fromCloud = domainForEnvironment(metadata.azEnvironment);
  if (fromCloud) return { value: fromCloud, source: `instance metadata (${metadata.azEnvironment})` };
  return { value: DEFAULT_DOMAIN, source: metadata.azEnvironment ? `default (unknown cloud ${metadata.azEnvironment})` : "default" };
}

async function onboardWithRetries(ctx: OperationContext, request: OnboardingRequest): Promise<void> {
  const { paths, deadline, log } = ctx;
  let delay = ctx.tuning.retryDelayMs;
  for (let attempt = 1; ; attempt++) {
    const result = await runOnboarding(paths, request, deadline, log);
    if (result.timedOut) throw onboardingTimedOut(Math.round(result.durationMs / 1000));
    if (result.exitCode === 0) return;
    const error = classifyOnboardingFailure(result.exitCode, result.output);
    const canRetry = isTransientOnboardingFailure(result.exitCode) && attempt < MAX_ONBOARDING_ATTEMPTS && deadline.remainingMs() > delay + 60_000;
    if (!canRetry) throw error;
    log.warn(`onboarding attempt ${attempt} failed (${error.reason}); retrying in ${Math.round(delay / 1000)} s`);
    await deadline.sleep(delay);
    delay *= 2;
  }
}

/**
 * The settings now name another workspace than the one this handler connected: disconnect the old one
 * first (no double billing, and omsadmin.sh would otherwise keep it as the primary workspace).
 */
async function disconnectPrevious(ctx: OperationContext, previous: string | undefined, current: string): Promise<string | undefined> {
  if (!previous || previous === current || !existsSync(ctx.paths.workspaceEtc(previous))) return undefined;
  ctx.log.info(`the workspace changed from ${previous} to ${current}: disconnecting ${previous}`);
  const result = await runChild({ label: "omsadmin remove", file: ctx.paths.omsadmin, args: ["-x", previous], timeoutMs: 120_000 }, ctx.deadline, ctx.log);
  if (result.exitCode !== 0) {
    ctx.log.warn(`could not disconnect the previous workspace ${previous} (omsadmin.sh -x exit ${result.exitCode})`);
    return undefined;
  }
  return previous;
}

/** omsadmin.sh exits 0 without configuring a workspace when another one is primary (OMS-Agent-for-Linux#1174). */
async function verifyOnboarded(ctx: OperationContext, workspaceId: string): Promise<void> {
  if (existsSync(join(ctx.paths.workspaceEtc(workspaceId), "conf", "omsadmin.conf"))) return;
  const { workspaces } = await configuredWorkspaces(ctx.paths, ctx.deadline, ctx.log);
  const others = [...workspaces].filter((id) => id !== workspaceId);
  throw new ExtensionError(
    "OnboardingSkipped",
    `omsadmin.sh reported success but workspace ${workspaceId} is not configured${others.length > 0 ? ` (the agent's primary workspace is ${others.join(", ")})` : ""}`,
    others.length > 0
      ? `to move this machine to ${workspaceId}, disconnect the other workspace first (/opt/microsoft/omsagent/bin/omsadmin.sh -x ${others[0]}), then retry`
      : "retry; if it persists, report it with extension.log attached",
  );
}

type AppliedCheck = Pick<OperationContext, "env" | "seq" | "state">;

/** The enable this sequence asks for already succeeded, and its status file still says so. */
function appliedBefore({ env, seq, state }: AppliedCheck): AppliedEnable | undefined {
  const applied = state.applied();
  return applied?.seq === seq && hasSucceeded(env.statusFolder, seq, "Enable") ? applied : undefined;
}

/** Already applied from this very settings file: decided without decrypting anything. */
export function appliedFromSameFile(ctx: AppliedCheck & Pick<OperationContext, "paths">): boolean {
  if (!existsSync(ctx.paths.omsadmin)) return false;
  const fileHash = settingsFileHash(ctx.env.configFolder, ctx.seq);
  return fileHash !== undefined && appliedBefore(ctx)?.settingsFileHash === fileHash;
}

export async function enable(ctx: OperationContext): Promise<OperationOutcome> {
  const { paths, log, deadline, state, seq } = ctx;
  if (!existsSync(paths.omsadmin)) {
    throw new ExtensionError("EnableBeforeInstall", "the Log Analytics agent is not installed (omsadmin.sh is missing), so there is nothing to enable", "check the install step's status and fix its error; the guest agent runs install again on the next goal state");
  }
  const applied = state.applied();
  const fileHash = settingsFileHash(ctx.env.configFolder, seq);
  const alreadyApplied = (how: string): OperationOutcome => {
    log.info(`sequence ${seq} is already applied with these settings (${how}): nothing to do`);
    return { unchanged: true, message: `Enable succeeded: sequence ${seq} was already applied` };
  };
  if (appliedFromSameFile(ctx)) return alreadyApplied("same settings file");
  const trusted = appliedBefore(ctx);
  if (applied?.seq === seq && !trusted) log.info(`sequence ${seq} was applied, but its status file does not say enable succeeded (empty, damaged or unfinished): running enable again`);

  const settings = (await ctx.settings({ needProtected: true }))!;
  settings.warnings.forEach((warning) => log.warn(warning));
  const workspaceId = settings.public.workspaceId;
  // The guest agent may rewrite the same settings re-encrypted: compare what they say, not their bytes.
  if (trusted?.settingsHash === settings.hash) return alreadyApplied("same effective settings");
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
  log.info(proxy.value ? `proxy: ${proxyEndpoint(proxy.value)} from ${proxy.source}` : `proxy: none (${proxy.skipped ? "every configured proxy is bypassed for the Log Analytics service" : "none configured in the settings, the Arc agent or the environment"})`);
  // omsadmin.sh exits 0 at once, configuring nothing, when the workspace is onboarded and its agent runs:
  // a changed proxy or domain would then never reach the agent. Note what differs before touching anything.
  const wanted = { domain: domain.value, proxy: proxy.value };
  const before = readAgentConfiguration(paths, workspaceId);
  const stale = before.onboarded ? configurationDifferences(before, wanted) : [];
  if (!proxy.value && existsSync(paths.proxyConf)) {
    // omsadmin.sh would keep using a proxy the settings no longer name.
    rmSync(paths.proxyConf, { force: true });
    log.info("removed the agent's previous proxy configuration: no proxy is configured now");
  }

  // Our own previous workspace is being replaced, not a second connection: remove it before looking.
  const disconnected = await disconnectPrevious(ctx, applied?.workspaceId, workspaceId);
  if (settings.public.stopOnMultipleConnections) {
    await refuseMultipleConnections(paths, workspaceId, deadline, log);
  }
  if (stale.length > 0 && (await isAgentRunning(paths, workspaceId, deadline, log))) {
    log.info(`the agent of workspace ${workspaceId} uses ${stale.join(" and ")}: stopping it so that omsadmin.sh configures it again`);
    const stopped = await serviceControl(paths, ["stop", workspaceId], deadline, log);
    if (stopped.timedOut || stopped.exitCode !== 0) throw classifyServiceFailure("stop", stopped);
  }
  const restoreIdentity = before.onboarded ? keepAgentIdentity(paths, workspaceId, log) : () => {};
  try {
    await onboardWithRetries(ctx, {
      workspaceId,
      workspaceKey: protectedSettings.workspaceKey,
      domain: domain.value,
      proxy: proxy.value,
      resourceId,
    });
  } catch (error) {
    restoreIdentity();
    throw error;
  }
  await verifyOnboarded(ctx, workspaceId);
  ownWorkspaceTrees(paths, workspaceId, log);
  // Success means the agent uses what the status is about to claim.
  const remaining = configurationDifferences(readAgentConfiguration(paths, workspaceId), wanted);
  if (remaining.length > 0) throw configurationMismatch(workspaceId, remaining);

  if (!(await isAgentRunning(paths, workspaceId, deadline, log))) {
    log.info("the agent is not running after onboarding: starting it");
    const started = await serviceControl(paths, ["enable", workspaceId], deadline, log);
    if (started.timedOut || started.exitCode !== 0) throw classifyServiceFailure("enable", started);
  }
  state.recordApplied({ seq, settingsHash: settings.hash, settingsFileHash: fileHash, workspaceId, handlerVersion: ctx.env.version, at: new Date().toISOString() });
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
