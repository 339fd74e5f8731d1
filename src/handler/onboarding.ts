// Connecting the agent to the workspace with omsadmin.sh. The workspace key never goes on a command line
// (any user can read /proc/<pid>/cmdline): it goes into /etc/omsagent-onboard.conf (0600, values
// shell-quoted), which omsadmin.sh sources when run without arguments, and the file is removed whatever
// happens.
import { chmodSync, chownSync, closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Deadline } from "./deadline.ts";
import { errorsWithDetails, ExtensionError } from "./errors.ts";
import type { Logger } from "./log-line.ts";
import { agentAccount, AGENT_GROUP, AGENT_USER, type SystemPaths } from "./paths.ts";
import { outputTail, runChild, type ChildResult } from "./process.ts";
import { proxyEndpoint } from "./secrets.ts";
import { chownTree } from "./state.ts";

export interface OnboardingRequest {
  workspaceId: string;
  workspaceKey: string;
  domain: string;
  proxy?: string;
  resourceId?: string;
}

/** Single-quotes a value for sh; refuses characters that could end the assignment line. */
export function shellQuote(value: string): string {
  if (/[\n\r\0]/.test(value)) throw new ExtensionError("InvalidConfiguration", "a setting contains a line break", "remove line breaks from the settings and redeploy the extension");
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function renderOnboardConf(request: OnboardingRequest): string {
  const lines = [
    `WORKSPACE_ID=${shellQuote(request.workspaceId)}`,
    `SHARED_KEY=${shellQuote(request.workspaceKey)}`,
    `URL_TLD=${shellQuote(request.domain)}`,
    `PROXY=${shellQuote(request.proxy ?? "")}`,
    `AZURE_RESOURCE_ID=${shellQuote(request.resourceId ?? "")}`,
  ];
  return lines.join("\n") + "\n";
}

function writeSecretFile(path: string, content: string): void {
  // Removing first means the mode below applies even if a stale file with wider permissions exists.
  rmSync(path, { force: true });
  const fd = openSync(path, "wx", 0o600);
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

const ONBOARD_TIMEOUT_MS = 120_000;

export async function runOnboarding(paths: SystemPaths, request: OnboardingRequest, deadline: Deadline, log: Logger): Promise<ChildResult> {
  writeSecretFile(paths.onboardConf, renderOnboardConf(request));
  try {
    return await runChild({ label: "omsadmin", file: paths.omsadmin, args: [], timeoutMs: ONBOARD_TIMEOUT_MS }, deadline, log);
  } finally {
    rmSync(paths.onboardConf, { force: true });
    if (existsSync(paths.onboardConf)) log.error(`could not remove ${paths.onboardConf}`);
  }
}

/** Failures worth another attempt: the service was unavailable or the connection broke. */
export function isTransientOnboardingFailure(exitCode: number): boolean {
  return exitCode === 6 || exitCode === 8;
}

export function classifyOnboardingFailure(exitCode: number, output: string, now: Date = new Date()): ExtensionError {
  const make = errorsWithDetails(outputTail(output));
  const httpCode = /HTTP code (\d+)/.exec(output)?.[1];
  switch (exitCode) {
    case 2:
      return make("OnboardingInvalidOptions", "omsadmin.sh rejected the onboarding options (exit 2)", "report this handler bug with extension.log attached");
    case 3:
      return make("InvalidWorkspaceConfiguration", "omsadmin.sh rejected the workspace ID or key (exit 3)", "check workspaceId and workspaceKey in the settings (copy them from the workspace's Agents page)");
    case 4:
      return make("ProxyRejected", "the proxy in the protected settings could not be used (exit 4)", "check the proxy address, port and credentials ([http|https://][user:password@]host[:port]) and that it allows CONNECT to *.opinsights.azure.com");
    case 5: {
      const reason = /Reason:\s*([A-Za-z]*)/.exec(output)?.[1] ?? "";
      if (/^(InvalidWorkspaceKey|MissingHeader)$/.test(reason)) {
        return make("WorkspaceKeyRejected", `the Log Analytics service rejected the workspace key (HTTP 403, ${reason})`, "use the workspace's current primary or secondary key (Agents page of the workspace) in protectedSettings.workspaceKey");
      }
      return make(
        "ClockSkewOrKeyRejected",
        `the Log Analytics service refused the request (HTTP 403${reason ? `, ${reason}` : " without a reason"}), which happens when this machine's clock is off by more than 15 minutes (local time ${now.toISOString()})`,
        "synchronise the clock (chrony/ntp) and check the workspace key, then retry",
      );
    }
    case 6:
      return make("ServiceUnavailable", `the Log Analytics service answered HTTP ${httpCode ?? "error"} to the onboarding request`, "retry later; if it persists, check the workspace ID and the service health");
    case 7:
      return make("CannotResolveHost", "the workspace's service address could not be resolved (DNS)", "check the workspace ID, DNS and outbound internet access, or configure a proxy in the protected settings");
    case 8:
      return make("ServiceUnreachable", `the onboarding request could not reach the Log Analytics service${/curl returned (\d+)/.test(output) ? ` (curl error ${/curl returned (\d+)/.exec(output)![1]})` : ""}`, "allow outbound HTTPS (443) to *.ods.opinsights.azure.com and *.oms.opinsights.azure.com, or configure a proxy");
    case 33:
    case 34:
      return make(
        "MetaConfigurationFailed",
        /Permission denied/.test(output)
          ? "omsconfig could not generate its metaconfiguration: permission denied"
          : `omsconfig could not generate its metaconfiguration (exit ${exitCode})`,
        "check /var/opt/microsoft/omsconfig/omsconfig.log and that the omsagent user can run its sudo rules, then retry",
      );
    case 60:
      return make("PythonMissing", "omsadmin.sh needs python, which is not installed", "install python3 (or python2), then retry");
    case 30:
    case 31:
    case 32:
      return make("OnboardingInternalError", `omsadmin.sh failed internally (exit ${exitCode}: ${exitCode === 31 ? "could not generate the agent GUID" : exitCode === 32 ? "could not generate certificates" : "internal error"})`, "retry; if it persists, report it with extension.log attached");
    default:
      return make("OnboardingFailed", `omsadmin.sh failed with exit code ${exitCode}`, "see extension.log for its output, fix the cause, then retry");
  }
}

export function onboardingTimedOut(seconds: number): ExtensionError {
  return new ExtensionError("OnboardingTimedOut", `omsadmin.sh was still onboarding after ${seconds} s and was stopped`, "check outbound HTTPS access to the Log Analytics service (or the proxy), then retry");
}

/** What the agent of one workspace actually uses: omsadmin.conf's URL_TLD and the agent-wide proxy.conf. */
export interface AgentConfiguration {
  /** false: the workspace has no omsadmin.conf (never onboarded, or a failed onboarding). */
  onboarded: boolean;
  domain?: string;
  proxy?: string;
}

export function readAgentConfiguration(paths: SystemPaths, workspaceId: string): AgentConfiguration {
  let conf: string | undefined;
  try {
    conf = readFileSync(join(paths.workspaceEtc(workspaceId), "conf", "omsadmin.conf"), "utf8");
  } catch {
    // Not onboarded.
  }
  let proxy: string | undefined;
  try {
    // omsadmin.sh writes it with `echo -n`; it reads it back with `cat`, which drops a final newline.
    proxy = readFileSync(paths.proxyConf, "utf8").replace(/\n$/, "");
  } catch {
    // No proxy.
  }
  const domain = conf === undefined ? undefined : /^URL_TLD=(.*)$/m.exec(conf)?.[1]?.trim();
  return { onboarded: conf !== undefined, domain, proxy: proxy === "" ? undefined : proxy };
}

/**
 * How the agent's configuration differs from what the settings ask for, in words fit for a status (proxy
 * endpoints only, never credentials). Empty when they agree.
 */
export function configurationDifferences(actual: AgentConfiguration, wanted: { domain: string; proxy?: string }): string[] {
  const differences: string[] = [];
  if (actual.domain !== wanted.domain) differences.push(`cloud domain ${actual.domain ?? "none"} instead of ${wanted.domain}`);
  if ((actual.proxy ?? "") !== (wanted.proxy ?? "")) {
    const show = (proxy: string | undefined) => (proxy ? proxyEndpoint(proxy) : "none");
    differences.push(
      actual.proxy && wanted.proxy && show(actual.proxy) === show(wanted.proxy)
        ? `proxy ${show(actual.proxy)} with other credentials or scheme than the settings'`
        : `proxy ${show(actual.proxy)} instead of ${show(wanted.proxy)}`,
    );
  }
  return differences;
}

export function configurationMismatch(workspaceId: string, differences: string[]): ExtensionError {
  return new ExtensionError(
    "AgentConfigurationMismatch",
    `omsadmin.sh reported success but the agent of workspace ${workspaceId} still uses ${differences.join(" and ")}`,
    "retry; if it persists, remove and re-add the extension (or run /opt/microsoft/omsagent/bin/omsadmin.sh -x with the workspace id, then retry) and report it with extension.log attached",
  );
}

/**
 * omsadmin.sh deletes certs/oms.crt and oms.key when an onboarding request fails (cleanup_certs), even when
 * they are an existing workspace's identity. Before re-onboarding an onboarded workspace we keep them in memory
 * and put them back if they went missing, so a rejected proxy does not cost the agent its identity.
 */
export function keepAgentIdentity(paths: SystemPaths, workspaceId: string, log: Logger): () => void {
  const certs = join(paths.workspaceEtc(workspaceId), "certs");
  const kept = ["oms.crt", "oms.key"].flatMap((name) => {
    const path = join(certs, name);
    try {
      const stats = statSync(path);
      return [{ path, content: readFileSync(path), mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid }];
    } catch {
      return [];
    }
  });
  return () => {
    if (kept.length < 2 || !existsSync(join(paths.workspaceEtc(workspaceId), "conf", "omsadmin.conf"))) return;
    for (const file of kept) {
      if (existsSync(file.path) || !existsSync(certs)) continue;
      writeFileSync(file.path, file.content, { mode: file.mode });
      chmodSync(file.path, file.mode);
      if (process.getuid?.() === 0) chownSync(file.path, file.uid, file.gid);
      log.info(`restored ${file.path}, which the failed onboarding removed: the agent keeps its identity`);
    }
  };
}

/**
 * The agent runs as omsagent:omiusers and must read everything under its workspace's directories (its key
 * above all). After a restore or an onboarding the trees are given to it, as the legacy handler did after every
 * onboarding: files root left there (a restore, an edit by hand) would otherwise stop the agent.
 */
export function ownWorkspaceTrees(paths: SystemPaths, workspaceId: string, log: Logger): void {
  if (process.getuid?.() !== 0) return;
  const account = agentAccount(paths);
  if (!account) {
    log.warn(`no ${AGENT_USER} user or ${AGENT_GROUP} group on this machine: the files of workspace ${workspaceId} keep their owners`);
    return;
  }
  for (const tree of [paths.workspaceEtc(workspaceId), paths.workspaceVar(workspaceId)]) chownTree(tree, account.uid, account.gid);
  log.info(`workspace ${workspaceId}'s files belong to ${AGENT_USER}:${AGENT_GROUP}`);
}
