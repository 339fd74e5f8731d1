// disable: stop the agent's services. The guest agent calls it before every update and uninstall, so
// "nothing installed" is a success.
import { connectedWorkspaceDirectories } from "../connections.ts";
import { nothingToDoOutcome } from "../fast-path.ts";
import { serviceControl } from "../service.ts";
import type { OperationContext, OperationOutcome } from "./context.ts";

export async function disable(ctx: OperationContext): Promise<OperationOutcome> {
  const { paths, log, state } = ctx;
  const quick = nothingToDoOutcome("disable", ctx, log);
  if (quick) return quick;
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
