// Most runs on a healthy machine have nothing to do: the guest agent re-runs enable on every goal state and
// after every reboot, and calls disable (and uninstall) where nothing may be installed yet. Such a run is
// recognised here from a few small files, and this module is all of that decision: invocation.ts asks it under the
// lock before it loads the operation (enable.ts and disable.ts rely on it), so a run that has nothing to do never
// loads an operation's module, pino, ajv or execa. Keep this module's imports to the few small modules a nothing-to-do run needs
// anyway: everything it imports is loaded by every run (invocation.ts imports it statically).
import { existsSync } from "node:fs";
import { agentProblem } from "./agent-health.ts";
import type { OperationName } from "./deadline.ts";
import type { HandlerEnvironment } from "./environment.ts";
import type { Logger } from "./log-line.ts";
import type { OperationOutcome } from "./operations/context.ts";
import { workspaceDirectories, type SystemPaths } from "./paths.ts";
import { settingsFileHash } from "./sequence.ts";
import type { AppliedEnable, StateStore } from "./state.ts";
import { hasSucceeded } from "./status.ts";

export interface RunFacts {
  env: HandlerEnvironment;
  seq: number;
  paths: SystemPaths;
  state: StateStore;
}

/** The enable this sequence asks for already succeeded, and its status file still says so. */
export function appliedBefore({ env, seq, state }: Omit<RunFacts, "paths">): AppliedEnable | undefined {
  const applied = state.applied();
  return applied?.seq === seq && hasSucceeded(env.statusFolder, seq, "Enable") ? applied : undefined;
}

/**
 * Already applied from this very settings file, and the workspace is still onboarded with its agent running:
 * decided without decrypting anything or starting a child.
 */
function appliedFromSameFile(facts: RunFacts): boolean {
  if (!existsSync(facts.paths.omsadmin)) return false;
  const fileHash = settingsFileHash(facts.env.configFolder, facts.seq);
  const applied = fileHash === undefined ? undefined : appliedBefore(facts);
  return applied !== undefined && applied.settingsFileHash === fileHash && agentProblem(facts.paths, applied.workspaceId) === undefined;
}

/** enable's answer when the sequence was already applied; `how` says how that was recognised. */
export function alreadyApplied(seq: number, log: Logger, how: string): OperationOutcome {
  log.info(`sequence ${seq} is already applied with these settings (${how}): nothing to do`);
  return { unchanged: true, message: `Enable succeeded: sequence ${seq} was already applied` };
}

/** disable's answer on a machine without the agent. */
const NOTHING_TO_STOP: OperationOutcome = {
  message: "Disable succeeded: the Log Analytics agent is not installed, so there was nothing to stop",
};

/**
 * The whole outcome of an enable or disable that has nothing to do, or undefined when the operation has work
 * (or, for update and uninstall, bookkeeping of their own: they run, cheaply, in their modules).
 */
export function nothingToDoOutcome(operation: OperationName, facts: RunFacts, log: Logger): OperationOutcome | undefined {
  switch (operation) {
    case "enable":
      return appliedFromSameFile(facts) ? alreadyApplied(facts.seq, log, "same settings file") : undefined;
    case "disable":
      return existsSync(facts.paths.serviceControl) ? undefined : NOTHING_TO_STOP;
    default:
      return undefined;
  }
}

/**
 * Whether this run looks like it has nothing to do, asked before the lock to choose the plain line logger over
 * pino; nothingToDoOutcome decides again under the lock, so a wrong guess costs speed, never behaviour.
 */
export function hasNothingToDo(operation: OperationName, facts: RunFacts): boolean {
  const { paths } = facts;
  switch (operation) {
    case "enable":
      return appliedFromSameFile(facts);
    case "disable":
      return !existsSync(paths.serviceControl);
    case "update":
      return workspaceDirectories(paths).size === 0;
    case "uninstall":
      return !existsSync(paths.omsadmin) && !existsSync(paths.serviceControl) && !existsSync(paths.omsagentEtc) && !existsSync(paths.omsagentVar);
    case "install":
      return false;
  }
}
