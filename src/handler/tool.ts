// The contract the OMS tool modules (bundle.ts, omsadmin.ts, service.ts) share: each runs its tool through
// process.ts and, when the child failed, looks its exit code up in the tool's failure table. What an exit code
// means is data, read and tested row by row, and every failure carries the tail of the tool's output as details.
import type { Deadline } from "./deadline.ts";
import { ExtensionError } from "./errors.ts";
import type { Logger } from "./log-line.ts";
import type { SystemPaths } from "./paths.ts";
import type { ChildEnvironment } from "./process-env.ts";
import { outputTail } from "./process.ts";
import type { Reason } from "./reasons.ts";

/** What running a tool needs; an OperationContext is one. */
export interface ToolContext {
  paths: SystemPaths;
  childEnv: ChildEnvironment;
  deadline: Deadline;
  log: Logger;
}

/** One row's verdict; the reason fixes the code (reasons.ts). */
interface Failure {
  reason: Reason;
  problem: string;
  action: string;
}

/** What a row sees: the finished child, plus whatever its tool module adds (the command, the mode, a clock). */
export interface Exit {
  exitCode: number;
  output: string;
}

export type Row<E extends Exit> = (exit: E) => Failure;

export interface FailureTable<E extends Exit> {
  /** Output evidence more specific than any exit code, tried first and in order. */
  evidence?: ReadonlyArray<{ when: (exit: E) => boolean; row: Row<E> }>;
  exitCodes: Readonly<Partial<Record<number, Row<E>>>>;
  /** Exit codes the table does not list. */
  otherwise: Row<E>;
}

export function classifyExit<E extends Exit>(table: FailureTable<E>, exit: E): ExtensionError {
  const row = table.evidence?.find((rule) => rule.when(exit))?.row ?? table.exitCodes[exit.exitCode] ?? table.otherwise;
  const { reason, problem, action } = row(exit);
  return new ExtensionError(reason, problem, action, { details: outputTail(exit.output) });
}
