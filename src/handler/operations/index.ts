// The command table: one module per guest-agent command, loaded only by the run that executes it, so that a
// run pays for its own operation's code and nothing else (a nothing-to-do enable or disable loads none).
import type { OperationName } from "../deadline.ts";
import type { Operation } from "./context.ts";

const OPERATIONS: Record<OperationName, () => Promise<Operation>> = {
  install: async () => (await import("./install.ts")).install,
  enable: async () => (await import("./enable.ts")).enable,
  disable: async () => (await import("./disable.ts")).disable,
  update: async () => (await import("./update.ts")).update,
  uninstall: async () => (await import("./uninstall.ts")).uninstall,
};

export function loadOperation(name: OperationName): Promise<Operation> {
  return OPERATIONS[name]();
}

/** Accepts `enable`, `-enable`, `/enable` or `--enable` (the legacy shim passed `-enable`). */
export function parseOperation(argument: string | undefined): OperationName | undefined {
  const name = argument?.replace(/^[-/]+/, "").toLowerCase();
  return name && Object.prototype.hasOwnProperty.call(OPERATIONS, name) ? (name as OperationName) : undefined;
}
