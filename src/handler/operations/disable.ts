// disable: stop the agent's services. The guest agent calls it before every update and uninstall, so
// "nothing installed" is a success.
import { existsSync } from "node:fs";
import { classifyServiceFailure, serviceControl } from "../service.ts";
import type { OperationContext, OperationOutcome } from "./context.ts";

export async function disable(ctx: OperationContext): Promise<OperationOutcome> {
  const { paths, log, deadline, state } = ctx;
  if (!existsSync(paths.serviceControl)) {
    return { message: "Disable succeeded: the Log Analytics agent is not installed, so there was nothing to stop" };
  }
  ctx.reportTransitioning("Stopping the Log Analytics agent");
  const result = await serviceControl(paths, ["disable"], deadline, log);
  if (result.timedOut || result.exitCode !== 0) throw classifyServiceFailure("disable", result);
  // The next enable must start the agent again even if its settings did not change.
  state.invalidateApplied();
  return { message: "Disable succeeded: the Log Analytics agent's services are stopped" };
}
