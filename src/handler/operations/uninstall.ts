// uninstall: during an update, keep everything (the new version's install reuses it); otherwise remove
// the agent with the bundle shipped in the package (no network needed), the workspace's directories, and
// the handler's own state.
import { existsSync, rmSync } from "node:fs";
import { bundleTimedOut, classifyBundleFailure, locateBundle, runBundle } from "../bundle.ts";
import { waitForPackageManager } from "../package-manager.ts";
import { sameVersion } from "../state.ts";
import type { OperationContext, OperationOutcome } from "./context.ts";

/** Uninstall has 270 s in all: part of it may go to waiting for apt/dpkg/rpm. */
const LOCK_WAIT_MS = 60_000;

export async function uninstall(ctx: OperationContext): Promise<OperationOutcome> {
  const { paths, log, deadline, state, env } = ctx;
  ctx.reportTransitioning("Uninstalling");
  // Only the version being updated *from* keeps everything; a later uninstall of the new version is real.
  const marker = state.updateMarker();
  const partOfUpdate =
    ctx.processEnv.AZURE_GUEST_AGENT_UPDATING_FROM_VERSION !== undefined ||
    (marker !== undefined && (sameVersion(marker.fromVersion, env.version) || (marker.fromVersion === "unknown" && !sameVersion(marker.toVersion, env.version))));
  if (partOfUpdate) {
    const to = marker?.toVersion ?? ctx.processEnv.VERSION ?? "a newer version";
    log.info(`uninstall of ${env.version} is part of an update to ${to}: keeping the agent and its configuration`);
    return { message: `Uninstall succeeded: handler ${env.version} removed as part of the update to ${to}; the agent and its workspace configuration stay in place` };
  }

  const workspaces = new Set<string>();
  const applied = state.applied();
  if (applied) workspaces.add(applied.workspaceId);
  const settings = await ctx.settings({ needProtected: false }).catch(() => null);
  if (settings) workspaces.add(settings.public.workspaceId);

  if (existsSync(paths.omsadmin) || existsSync(paths.serviceControl)) {
    const bundle = locateBundle(env.extensionDir);
    await waitForPackageManager(paths.packageManagerLocks, Math.min(LOCK_WAIT_MS, ctx.tuning.packageLockWaitMs), deadline, log);
    const result = await runBundle(bundle, ["--remove"], deadline.remainingMs(), deadline, log);
    if (result.timedOut) throw bundleTimedOut(Math.round(result.durationMs / 1000));
    if (result.exitCode !== 0) throw classifyBundleFailure(result.exitCode, result.output, "remove");
  } else {
    log.info("the agent is not installed: nothing for the bundle to remove");
  }
  for (const workspaceId of workspaces) {
    rmSync(paths.workspaceEtc(workspaceId), { recursive: true, force: true });
    rmSync(paths.workspaceVar(workspaceId), { recursive: true, force: true });
  }
  rmSync(paths.onboardConf, { force: true });
  return {
    message: `Uninstall succeeded: the Log Analytics agent was removed${workspaces.size > 0 ? ` with the configuration of workspace ${[...workspaces].join(", ")}` : ""}`,
    purgeState: true,
  };
}
