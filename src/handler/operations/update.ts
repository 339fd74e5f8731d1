// update (runs in the new version, before the old version's uninstall): keep the workspace configuration
// and the agent's identity safe from that uninstall. The marker tells the old uninstall it is part of an
// update; the new install restores anything missing and clears it.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { info, type OperationContext, type OperationOutcome } from "./context.ts";

const WORKSPACE_DIR = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function update(ctx: OperationContext): Promise<OperationOutcome> {
  const { paths, log, state, env } = ctx;
  ctx.reportTransitioning("Preparing the update");
  const fromVersion = ctx.processEnv.AZURE_GUEST_AGENT_UPDATING_FROM_VERSION || "unknown";
  const workspaces = new Map<string, string>();
  try {
    for (const entry of readdirSync(paths.omsagentEtc)) {
      const dir = join(paths.omsagentEtc, entry);
      if (WORKSPACE_DIR.test(entry) && statSync(dir).isDirectory()) workspaces.set(entry, dir);
    }
  } catch {
    // The agent was never configured: nothing to keep.
  }
  const stashed = state.stashWorkspaces(workspaces);
  state.markUpdate({ fromVersion, toVersion: env.version, at: new Date().toISOString() });
  log.info(`update ${fromVersion} → ${env.version}: kept ${stashed.length} workspace configuration(s)`);
  return {
    message:
      stashed.length > 0
        ? `Update succeeded: prepared the update from ${fromVersion} to ${env.version}; workspace configuration kept for ${stashed.join(", ")}`
        : `Update succeeded: prepared the update from ${fromVersion} to ${env.version}; no workspace configuration to keep`,
    substatus: stashed.length > 0 ? [info("Workspace", stashed.join(", "))] : undefined,
  };
}
