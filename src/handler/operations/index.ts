// The command table: one function per guest-agent command.
import type { OperationName } from "../deadline.ts";
import type { Operation } from "./context.ts";
import { disable } from "./disable.ts";
import { enable } from "./enable.ts";
import { install } from "./install.ts";
import { uninstall } from "./uninstall.ts";
import { update } from "./update.ts";

export const operations: Record<OperationName, Operation> = { install, enable, disable, update, uninstall };

/** Accepts `enable`, `-enable`, `/enable` or `--enable` (the legacy shim passed `-enable`). */
export function parseOperation(argument: string | undefined): OperationName | undefined {
  const name = argument?.replace(/^[-/]+/, "").toLowerCase();
  return name && Object.prototype.hasOwnProperty.call(operations, name) ? (name as OperationName) : undefined;
}
