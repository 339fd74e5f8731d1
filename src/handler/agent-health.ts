// Whether an applied enable still holds, from two cheap file checks (no child process): the workspace is
// onboarded (its conf/omsadmin.conf exists; `omsadmin.sh -x` removes it) and its agent runs (the pid file
// service_control keeps in the workspace's run/ directory names a live process, the check of service_control's
// own this_omsagent_running). The enable fast path and enable itself use it so that every enable, and every
// boot, repairs an agent that was removed or died instead of reporting the old success.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { SystemPaths } from "./paths.ts";

/** Why the workspace's agent is not in the state an applied enable left it in, or undefined when it is. */
export function agentProblem(paths: Pick<SystemPaths, "workspaceEtc" | "workspaceVar">, workspaceId: string): string | undefined {
  try {
    statSync(join(paths.workspaceEtc(workspaceId), "conf", "omsadmin.conf"));
  } catch {
    return `workspace ${workspaceId} is no longer onboarded (no conf/omsadmin.conf)`;
  }
  let pid: number;
  try {
    pid = Number(readFileSync(join(paths.workspaceVar(workspaceId), "run", "omsagent.pid"), "utf8").trim());
  } catch {
    return `the agent of workspace ${workspaceId} does not run (no pid file)`;
  }
  if (!Number.isInteger(pid) || pid <= 0) return `the agent of workspace ${workspaceId} does not run (its pid file names no process)`;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to someone else, which is how a root-less check sees a live agent.
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return `the agent of workspace ${workspaceId} does not run (pid ${pid} is gone)`;
  }
  return undefined;
}
