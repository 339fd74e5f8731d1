// service_control drives the omsagent daemons (systemd units or init.d scripts) per workspace.
import type { Deadline } from "./deadline.ts";
import { errorsWithDetails, type ExtensionError } from "./errors.ts";
import type { Logger } from "./log-line.ts";
import type { SystemPaths } from "./paths.ts";
import { outputTail, runChild, type ChildResult } from "./process.ts";

const SERVICE_TIMEOUT_MS = 120_000;

export async function serviceControl(paths: SystemPaths, args: string[], deadline: Deadline, log: Logger): Promise<ChildResult> {
  return runChild({ label: "service_control", file: paths.serviceControl, args, timeoutMs: SERVICE_TIMEOUT_MS }, deadline, log);
}

export function classifyServiceFailure(command: string, result: ChildResult): ExtensionError {
  const make = errorsWithDetails(outputTail(result.output));
  if (result.timedOut) {
    return make("ServiceControlTimedOut", `service_control ${command} did not finish in time and was stopped`, "check the omsagent services with systemctl status 'omsagent-*', then retry");
  }
  switch (result.exitCode) {
    case 77:
      return make("NotRunningAsRoot", `service_control ${command} must run as root`, "run the guest agent as root (its default)");
    case 67:
      return make("ServiceManagerMissing", `service_control ${command} found no service manager (systemd or init.d)`, "make sure systemd (or SysV init scripts) is available, then retry");
    case 21:
      return make("AgentFilesMissing", `service_control ${command}: a file of the agent is missing (exit 21)`, "reinstall the extension to repair the agent");
    case 72:
    case 75:
      return make("ServiceControlRejectedOptions", `service_control rejected '${command}' (exit ${result.exitCode})`, "report this handler bug with extension.log attached");
    case 22:
    case 30:
    case 68:
    case 69:
      return make("ServiceControlFailed", `service_control ${command} failed (exit ${result.exitCode})`, "check the omsagent services with systemctl status 'omsagent-*', then retry");
    default:
      return make("ServiceControlFailed", `service_control ${command} failed for ${result.exitCode} agent service${result.exitCode === 1 ? "" : "s"}`, "check the omsagent services with systemctl status 'omsagent-*', then retry");
  }
}

/** `service_control is-running` answers 1 when the agent runs and 0 when it does not. */
export async function isAgentRunning(paths: SystemPaths, workspaceId: string, deadline: Deadline, log: Logger): Promise<boolean> {
  const result = await serviceControl(paths, ["is-running", workspaceId], deadline, log);
  return result.exitCode === 1;
}
