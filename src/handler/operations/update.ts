// update (runs in the new version, before the old version's uninstall): keep the workspace configuration
// and the agent's identity safe from that uninstall. The marker tells the old uninstall it is part of an
// update; the new install restores anything missing and clears it.
import { workspaceDirectories } from "../paths.ts";
import { sameVersion } from "../../shared/versions.ts";
import { info, type OperationContext, type OperationOutcome } from "./context.ts";

export async function update(ctx: OperationContext): Promise<OperationOutcome> {
  const { paths, log, state, env } = ctx;
  ctx.reportTransitioning("Preparing the update");
  // On a downgrade the agent runs the *old* (higher) version's update with VERSION set to the target.
  const target = ctx.processEnv.version;
  const downgrade = target !== undefined && target !== "" && !sameVersion(target, env.version);
  const fromVersion = downgrade ? env.version : ctx.processEnv.updatingFromVersion || "unknown";
  const toVersion = downgrade ? target : env.version;
  const stashed = state.stashWorkspaces(workspaceDirectories(paths));
  state.markUpdate({ fromVersion, toVersion, at: new Date().toISOString() });
  log.info(`update ${fromVersion} → ${toVersion}: kept ${stashed.length} workspace configuration(s)`);
  return {
    message:
      stashed.length > 0
        ? `Update succeeded: prepared the update from ${fromVersion} to ${toVersion}; workspace configuration kept for ${stashed.join(", ")}`
        : `Update succeeded: prepared the update from ${fromVersion} to ${toVersion}; no workspace configuration to keep`,
    substatus: stashed.length > 0 ? [info("Workspace", stashed.join(", "))] : undefined,
  };
}
