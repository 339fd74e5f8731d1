// Most runs on a healthy machine have nothing to do: the guest agent re-runs enable on every goal state and
// after every reboot, and calls disable (and uninstall) where nothing may be installed yet. Such a run is
// recognised here from a few small files before anything heavy is loaded, so it costs little more than
// starting the runtime: it logs through the plain line logger instead of pino, and never reaches the code
// that loads ajv (settings validation) or execa (children). The operations still make the same decision
// themselves; this only picks the cheap way to run them, so a wrong guess here costs speed, never behaviour.
import { existsSync } from "node:fs";
import type { OperationName } from "./deadline.ts";
import type { HandlerEnvironment } from "./environment.ts";
import { appliedFromSameFile } from "./operations/enable.ts";
import { workspaceDirectories, type SystemPaths } from "./paths.ts";
import type { StateStore } from "./state.ts";

export interface RunFacts {
  env: HandlerEnvironment;
  seq: number;
  paths: SystemPaths;
  state: StateStore;
}

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
