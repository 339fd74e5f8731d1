// disable: stop the agent's services. The guest agent calls it before every update and uninstall, so
// "nothing installed" is a success: fast-path.ts gives that answer under the lock (invocation.ts), before this
// module is loaded, so it only runs where service_control exists.
import { connectedWorkspaceDirectories } from "../connections.ts";
import { serviceControl } from "../service.ts";
import type { OperationContext, OperationOutcome } from "./context.ts";

export async function disable(ctx: OperationContext): Promise<OperationOutcome> {
  const { paths, log, state } = ctx;
  ctx.reportTransitioning("Stopping the Log Analytics agent");
  // One call per connected workspace: `service_control disable` without a workspace also walks the directories
  // a failed onboarding left (no omsadmin.conf) and fails for each, and a failed disable keeps the guest agent
  // from ever running uninstall.
  const workspaces = connectedWorkspaceDirectories(paths, log);
  for (const workspaceId of workspaces) {
    await serviceControl(ctx, "disable", workspaceId);
  }
  if (workspaces.length === 0) log.info("no workspace is connected: no agent service to stop");
  // The next enable must start the agent again even if its settings did not change.
  state.invalidateApplied();
  return { message: "Disable succeeded: the Log Analytics agent's services are stopped" };
}
