// omsadmin.sh, the agent's onboarding tool. Every call to it goes through this module: onboarding, listing
// the workspaces it knows and removing one; a failed onboarding becomes an error through its failure table
// (tool.ts). The workspace key never goes on a command line (any user can read /proc/<pid>/cmdline): it goes
// into /etc/omsagent-onboard.conf (0600, values shell-quoted), which omsadmin.sh sources when run without
// arguments, and the file is removed whatever happens.
import { closeSync, existsSync, openSync, rmSync, writeSync } from "node:fs";
import { ExtensionError } from "./errors.ts";
import { runChild, type ChildResult } from "./process.ts";
import { classifyExit, type Exit, type FailureTable, type ToolContext } from "./tool.ts";

export interface OnboardingRequest {
  workspaceId: string;
  workspaceKey: string;
  domain: string;
  proxy?: string;
  resourceId?: string;
}

/** Single-quotes a value for sh; refuses characters that could end the assignment line. */
export function shellQuote(value: string): string {
  if (/[\n\r\0]/.test(value))
    throw new ExtensionError("InvalidConfiguration", "a setting contains a line break", "remove line breaks from the settings and redeploy the extension");
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
const LIST_TIMEOUT_MS = 60_000;
const REMOVE_TIMEOUT_MS = 120_000;
const MAX_ONBOARDING_ATTEMPTS = 3;

async function runOnboarding({ paths, childEnv, deadline, log }: ToolContext, request: OnboardingRequest): Promise<ChildResult> {
  writeSecretFile(paths.onboardConf, renderOnboardConf(request));
  try {
    return await runChild({ label: "omsadmin", file: paths.omsadmin, args: [], timeoutMs: ONBOARD_TIMEOUT_MS, childEnv }, deadline, log);
  } finally {
    // A run that lost the handler lock leaves the file alone: it may already be the new holder's.
    const lockLost = deadline.signal.aborted && (deadline.signal.reason as ExtensionError | undefined)?.reason === "LockLost";
    if (!lockLost) {
      rmSync(paths.onboardConf, { force: true });
      if (existsSync(paths.onboardConf)) log.error(`could not remove ${paths.onboardConf}`);
    }
  }
}

/** Failures worth another attempt: the service was unavailable or the connection broke. */
export function isTransientOnboardingFailure(exitCode: number): boolean {
  return exitCode === 6 || exitCode === 8;
}

interface OnboardingExit extends Exit {
  /** The local time, quoted when a 403 may come from clock skew. */
  now: Date;
}

const ONBOARDING_FAILURES: FailureTable<OnboardingExit> = {
  evidence: [
    {
      // omsadmin.sh runs under `set -e` and logs every step with logger: without a syslog socket the first log
      // line before the onboarding ends it with logger's exit 1. Any other exit 1 falls through to `otherwise`.
      when: ({ exitCode, output }) => exitCode === 1 && /^logger: /m.test(output),
      row: ({ output }) => ({
        reason: "SyslogUnavailable",
        problem: `omsadmin.sh stopped before onboarding because it could not log to syslog (logger: ${/^logger: (.*)$/m.exec(output)?.[1]}): this machine has no syslog socket /dev/log`,
        action: "install and start a syslog daemon (rsyslog or syslog-ng) or enable systemd-journald's /dev/log socket, then retry",
      }),
    },
  ],
  exitCodes: {
    2: () => ({
      reason: "OnboardingInvalidOptions",
      problem: "omsadmin.sh rejected the onboarding options (exit 2)",
      action: "report this handler bug with extension.log attached",
    }),
    3: () => ({
      reason: "InvalidWorkspaceConfiguration",
      problem: "omsadmin.sh rejected the workspace ID or key (exit 3)",
      action: "check workspaceId and workspaceKey in the settings (copy them from the workspace's Agents page)",
    }),
    4: () => ({
      reason: "ProxyRejected",
      problem: "the proxy in the protected settings could not be used (exit 4)",
      action: "check the proxy address, port and credentials ([http|https://][user:password@]host[:port]) and that it allows CONNECT to *.opinsights.azure.com",
    }),
    5: ({ output, now }) => {
      const reason = /Reason:\s*([A-Za-z]*)/.exec(output)?.[1] ?? "";
      if (/^(InvalidWorkspaceKey|MissingHeader)$/.test(reason)) {
        return {
          reason: "WorkspaceKeyRejected",
          problem: `the Log Analytics service rejected the workspace key (HTTP 403, ${reason})`,
          action: "use the workspace's current primary or secondary key (Agents page of the workspace) in protectedSettings.workspaceKey",
        };
      }
      return {
        reason: "ClockSkewOrKeyRejected",
        problem: `the Log Analytics service refused the request (HTTP 403${reason ? `, ${reason}` : " without a reason"}), which happens when this machine's clock is off by more than 15 minutes (local time ${now.toISOString()})`,
        action: "synchronise the clock (chrony/ntp) and check the workspace key, then retry",
      };
    },
    6: ({ output }) => ({
      reason: "ServiceUnavailable",
      problem: `the Log Analytics service answered HTTP ${/HTTP code (\d+)/.exec(output)?.[1] ?? "error"} to the onboarding request`,
      action: "retry later; if it persists, check the workspace ID and the service health",
    }),
    7: () => ({
      reason: "CannotResolveHost",
      problem: "the workspace's service address could not be resolved (DNS)",
      action: "check the workspace ID, DNS and outbound internet access, or configure a proxy in the protected settings",
    }),
    8: ({ output }) => {
      const curlError = /curl returned (\d+)/.exec(output)?.[1];
      return {
        reason: "ServiceUnreachable",
        problem: `the onboarding request could not reach the Log Analytics service${curlError ? ` (curl error ${curlError})` : ""}`,
        action: "allow outbound HTTPS (443) to *.ods.opinsights.azure.com and *.oms.opinsights.azure.com, or configure a proxy",
      };
    },
    33: (exit) => metaConfigurationFailed(exit),
    34: (exit) => metaConfigurationFailed(exit),
    60: () => ({ reason: "PythonMissing", problem: "omsadmin.sh needs python, which is not installed", action: "install python3 (or python2), then retry" }),
    30: (exit) => internalError(exit),
    31: (exit) => internalError(exit),
    32: (exit) => internalError(exit),
  },
  otherwise: ({ exitCode }) => ({
    reason: "OnboardingFailed",
    problem: `omsadmin.sh failed with exit code ${exitCode}`,
    action: "see extension.log for its output, fix the cause, then retry",
  }),
};

/**
 * The line omsadmin.sh prints for a 33 or 34 (installer/scripts/omsadmin.sh, onboard()), without its "For more
 * details" tail; the output above it (su's and sudo's, a helper's traceback) may mention anything.
 */
const METACONFIG_LINE =
  /(Configuring omsconfig and generating metaconfig failed with error code \d+|MetaConfig generation script not available at \S+?)\.?(?: For more details.*)?$/m;

function metaConfigurationFailed({ exitCode, output }: OnboardingExit) {
  const said = METACONFIG_LINE.exec(output)?.[1];
  return {
    reason: "MetaConfigurationFailed",
    problem: `the workspace was onboarded and its agent started, but omsconfig could not generate its metaconfiguration (exit ${exitCode}${said ? `: ${said}` : ""})`,
    action: "check /var/opt/microsoft/omsconfig/omsconfig.log and that the omsagent user can run its sudo rules, then retry",
  } as const;
}

function internalError({ exitCode }: OnboardingExit) {
  const what = exitCode === 31 ? "could not generate the agent GUID" : exitCode === 32 ? "could not generate certificates" : "internal error";
  return {
    reason: "OnboardingInternalError",
    problem: `omsadmin.sh failed internally (exit ${exitCode}: ${what})`,
    action: "retry; if it persists, report it with extension.log attached",
  } as const;
}

export function classifyOnboardingFailure(exitCode: number, output: string, now: Date = new Date()): ExtensionError {
  return classifyExit(ONBOARDING_FAILURES, { exitCode, output, now });
}

function onboardingTimedOut(seconds: number): ExtensionError {
  return new ExtensionError(
    "OnboardingTimedOut",
    `omsadmin.sh was still onboarding after ${seconds} s and was stopped`,
    "check outbound HTTPS access to the Log Analytics service (or the proxy), then retry",
  );
}

/**
 * Onboards with `omsadmin.sh` (no arguments, the request in the onboarding file). An unavailable service or a
 * broken connection is tried again, backing off from `retryDelayMs`, while the deadline leaves room; any other
 * failure throws its classified error at once.
 */
export async function onboard(ctx: ToolContext, request: OnboardingRequest, retryDelayMs: number): Promise<void> {
  const { deadline, log } = ctx;
  let delay = retryDelayMs;
  for (let attempt = 1; ; attempt++) {
    const result = await runOnboarding(ctx, request);
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

/** `omsadmin.sh -l`: its output, one line per workspace it knows (parsed by connections.ts). */
export async function listWorkspaces({ paths, childEnv, deadline, log }: ToolContext): Promise<string> {
  const listed = await runChild({ label: "omsadmin list", file: paths.omsadmin, args: ["-l"], timeoutMs: LIST_TIMEOUT_MS, childEnv }, deadline, log);
  return listed.output;
}

/** `omsadmin.sh -x <workspace>`: its exit code, since a workspace that stays connected is only worth a warning. */
export async function removeWorkspace({ paths, childEnv, deadline, log }: ToolContext, workspaceId: string): Promise<number> {
  const result = await runChild(
    { label: "omsadmin remove", file: paths.omsadmin, args: ["-x", workspaceId], timeoutMs: REMOVE_TIMEOUT_MS, childEnv },
    deadline,
    log,
  );
  return result.exitCode;
}
