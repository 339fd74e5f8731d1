// What every operation receives, and what it gives back to main.
import type { Deadline, OperationName } from "../deadline.ts";
import type { HandlerEnvironment } from "../environment.ts";
import type { Logger } from "../log-line.ts";
import type { SystemPaths } from "../paths.ts";
import type { ChildEnvironment, ProcessEnvironment, Tuning } from "../process-env.ts";
import type { Settings } from "../settings.ts";
import type { StateStore } from "../state.ts";
import type { SubStatus } from "../status.ts";

export interface OperationContext {
  operation: OperationName;
  env: HandlerEnvironment;
  seq: number;
  paths: SystemPaths;
  state: StateStore;
  log: Logger;
  deadline: Deadline;
  tuning: Tuning;
  processEnv: ProcessEnvironment;
  /** processEnv.childEnv, here so that the context is a ToolContext (tool.ts). */
  childEnv: ChildEnvironment;
  /** Settings for this sequence number (null: none). enable passes needProtected to decrypt the key. */
  settings(options: { needProtected: boolean }): Promise<Settings | null>;
  /** Writes the `transitioning` status: called once the operation knows it has real work to do. */
  reportTransitioning(message: string): void;
}

export interface OperationOutcome {
  message: string;
  substatus?: SubStatus[];
  /** Nothing was done and the previous terminal status still holds: leave the status file alone. */
  unchanged?: boolean;
  /** Remove the handler's state directory once the lock is released (a real uninstall). */
  purgeState?: boolean;
}

export type Operation = (context: OperationContext) => Promise<OperationOutcome>;

export function info(name: string, message: string): SubStatus {
  return { name, status: "success", code: 0, message };
}
