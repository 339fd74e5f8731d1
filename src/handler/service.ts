// service_control drives the omsagent daemons (systemd units or init.d scripts) per workspace. Every call to
// it goes through this module, and a failed one becomes an error through its failure table (tool.ts).
import { ExtensionError } from "./errors.ts";
import { outputTail, runChild, type ChildResult } from "./process.ts";
import { redact } from "./secrets.ts";
import { classifyExit, type Exit, type FailureTable, type Row, type ToolContext } from "./tool.ts";

const SERVICE_TIMEOUT_MS = 120_000;

interface ServiceExit extends Exit {
  command: string;
  timedOut: boolean;
}

const CHECK_SERVICES = "check the omsagent services with systemctl status 'omsagent-*', then retry";
const failedWithExit: Row<ServiceExit> = ({ command, exitCode }) => ({
  reason: "ServiceControlFailed",
  problem: `service_control ${command} failed (exit ${exitCode})`,
  action: CHECK_SERVICES,
});
const rejectedOptions: Row<ServiceExit> = ({ command, exitCode }) => ({
  reason: "ServiceControlRejectedOptions",
  problem: `service_control rejected '${command}' (exit ${exitCode})`,
  action: "report this handler bug with extension.log attached",
});

const SERVICE_FAILURES: FailureTable<ServiceExit> = {
  evidence: [
    {
      when: ({ timedOut }) => timedOut,
      row: ({ command }) => ({
        reason: "ServiceControlTimedOut",
        problem: `service_control ${command} did not finish in time and was stopped`,
        action: CHECK_SERVICES,
      }),
    },
  ],
  exitCodes: {
    77: ({ command }) => ({
      reason: "NotRunningAsRoot",
      problem: `service_control ${command} must run as root`,
      action: "run the guest agent as root (its default)",
    }),
    67: ({ command }) => ({
      reason: "ServiceManagerMissing",
      problem: `service_control ${command} found no service manager (systemd or init.d)`,
      action: "make sure systemd (or SysV init scripts) is available, then retry",
    }),
    21: ({ command }) => ({
      reason: "AgentFilesMissing",
      problem: `service_control ${command}: a file of the agent is missing (exit 21)`,
      action: "reinstall the extension to repair the agent",
    }),
    72: rejectedOptions,
    75: rejectedOptions,
    22: failedWithExit,
    30: failedWithExit,
    68: failedWithExit,
    69: failedWithExit,
  },
  // Otherwise service_control's exit code counts the workspaces whose service failed.
  otherwise: ({ command, exitCode }) => ({
    reason: "ServiceControlFailed",
    problem: `service_control ${command} failed for ${exitCode} agent service${exitCode === 1 ? "" : "s"}`,
    action: CHECK_SERVICES,
  }),
};

export function classifyServiceFailure(command: string, result: ChildResult): ExtensionError {
  return classifyExit(SERVICE_FAILURES, { command, exitCode: result.exitCode, output: result.output, timedOut: result.timedOut });
}

function runServiceControl({ paths, childEnv, deadline, log }: ToolContext, args: string[]): Promise<ChildResult> {
  return runChild({ label: "service_control", file: paths.serviceControl, args, timeoutMs: SERVICE_TIMEOUT_MS, childEnv }, deadline, log);
}

/** `service_control <command> <workspace>`; a failure throws its classified error. */
export async function serviceControl(ctx: ToolContext, command: "disable" | "enable" | "stop", workspaceId: string): Promise<void> {
  const result = await runServiceControl(ctx, [command, workspaceId]);
  if (result.timedOut || result.exitCode !== 0) throw classifyServiceFailure(command, result);
}

/** The last lines a tool printed, on one line, short enough to quote in a status message. */
function quoteOutput(output: string): string {
  const lines = output
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !/^service_control exiting with code/.test(line));
  const text = lines.slice(-3).join(" / ");
  return redact(text.length > 300 ? `…${text.slice(-300)}` : text);
}

/**
 * Starts the workspace's agent and checks that it runs: `service_control enable` only registers the unit, and
 * `start` can exit 0 for a daemon that dies at once. Fails quoting what the service said when it does not run.
 */
export async function startAgent(ctx: ToolContext, workspaceId: string): Promise<void> {
  const result = await runServiceControl(ctx, ["start", workspaceId]);
  if (result.timedOut) throw classifyServiceFailure("start", result);
  if (await isAgentRunning(ctx, workspaceId)) return;
  const said = quoteOutput(result.output);
  throw new ExtensionError(
    "AgentNotRunning",
    `the agent of workspace ${workspaceId} does not run: service_control start exited ${result.exitCode}${said ? ` and said "${said}"` : " and said nothing"}`,
    `run systemctl status omsagent-${workspaceId} and see /var/opt/microsoft/omsagent/${workspaceId}/log/omsagent.log, fix what stops it, then retry`,
    { details: outputTail(result.output) },
  );
}

/** `service_control is-running` answers 1 when the agent runs and 0 when it does not. */
export async function isAgentRunning(ctx: ToolContext, workspaceId: string): Promise<boolean> {
  const result = await runServiceControl(ctx, ["is-running", workspaceId]);
  return result.exitCode === 1;
}
