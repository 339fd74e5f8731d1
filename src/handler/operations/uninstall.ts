// uninstall: during an update, keep everything (the new version's install reuses it); otherwise remove
// the agent with the bundle shipped in the package (no network needed), the workspace's directories, and
// the handler's own state.
import { existsSync, lstatSync, rmdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import type { SystemPaths } from "../paths.ts";
import { sameVersion } from "../../shared/versions.ts";
import type { OperationContext, OperationOutcome } from "./context.ts";

/** Uninstall has 270 s in all: part of it may go to waiting for apt/dpkg/rpm. */
const LOCK_WAIT_MS = 60_000;

/**
 * omsadmin.sh points conf, certs (under /etc/opt/microsoft/omsagent) and tmp, run, state, log (under
 * /var/opt/microsoft/omsagent) at the primary workspace; once its directories are gone they lead nowhere.
 * Links that still lead to a workspace (one someone else connected) stay.
 */
function removeDanglingLinks(paths: SystemPaths): void {
  const links = [
    ...["conf", "certs"].map((name) => join(paths.omsagentEtc, name)),
    ...["tmp", "run", "state", "log"].map((name) => join(paths.omsagentVar, name)),
  ];
  for (const link of links) {
    try {
      if (lstatSync(link).isSymbolicLink() && !existsSync(link)) rmSync(link, { force: true });
    } catch {
      // Not there.
    }
  }
}

/**
 * The package's removal scripts rmdir /etc/opt/microsoft/omsagent and /var/opt/microsoft/omsagent only when
 * they are empty, which they are not while workspaces' files are in them, and then delete the omsagent user:
 * what stays is owned by a uid nobody has (installer/datafiles/base_omsagent.data, Postuninstall_10). Nothing
 * of the agent's trees may remain, and the parents the package would have removed go when empty.
 */
function removeAgentTrees(paths: SystemPaths, log: OperationContext["log"]): void {
  for (const tree of [paths.omsagentEtc, paths.omsagentVar]) {
    if (!existsSync(tree)) continue;
    rmSync(tree, { recursive: true, force: true });
    log.info(`removed ${tree}, which the package's removal left behind`);
  }
  for (const parent of [dirname(paths.omsagentEtc), dirname(dirname(paths.omsagentEtc))]) {
    try {
      rmdirSync(parent);
    } catch {
      // Not empty (other Microsoft software) or already gone.
    }
  }
}

export async function uninstall(ctx: OperationContext): Promise<OperationOutcome> {
  const { paths, log, deadline, state, env } = ctx;
  ctx.reportTransitioning("Uninstalling");
  // Only the version being updated *from* keeps everything; a later uninstall of the new version is real.
  const marker = state.updateMarker();
  const partOfUpdate =
    ctx.processEnv.updatingFromVersion !== undefined ||
    (marker !== undefined &&
      (sameVersion(marker.fromVersion, env.version) || (marker.fromVersion === "unknown" && !sameVersion(marker.toVersion, env.version))));
  if (partOfUpdate) {
    const to = marker?.toVersion ?? ctx.processEnv.version ?? "a newer version";
    log.info(`uninstall of ${env.version} is part of an update to ${to}: keeping the agent and its configuration`);
    return {
      message: `Uninstall succeeded: handler ${env.version} removed as part of the update to ${to}; the agent and its workspace configuration stay in place`,
    };
  }

  const workspaces = new Set<string>();
  const applied = state.applied();
  if (applied) workspaces.add(applied.workspaceId);
  // The settings name the workspace whose directories go; with no agent directories left there is nothing to find.
  if (existsSync(paths.omsagentEtc) || existsSync(paths.omsagentVar)) {
    const settings = await ctx.settings({ needProtected: false }).catch(() => null);
    if (settings) workspaces.add(settings.public.workspaceId);
  }

  if (existsSync(paths.omsadmin) || existsSync(paths.serviceControl)) {
    // Loaded here, not at the top: an uninstall with nothing installed (the guest agent runs one wherever an
    // install failed) needs neither, nor the child-process code behind them.
    const [{ locateBundle, runBundle }, { waitForPackageManager }] = await Promise.all([import("../bundle.ts"), import("../package-manager.ts")]);
    const bundle = locateBundle(env.extensionDir);
    await waitForPackageManager(paths.packageManagerLocks, Math.min(LOCK_WAIT_MS, ctx.tuning.packageLockWaitMs), deadline, log);
    await runBundle(ctx, bundle, "remove", []);
  } else {
    log.info("the agent is not installed: nothing for the bundle to remove");
  }
  for (const workspaceId of workspaces) {
    rmSync(paths.workspaceEtc(workspaceId), { recursive: true, force: true });
    rmSync(paths.workspaceVar(workspaceId), { recursive: true, force: true });
  }
  rmSync(paths.onboardConf, { force: true });
  // bundle --remove keeps proxy.conf, which holds the proxy's user and password: a real uninstall takes it.
  rmSync(paths.proxyConf, { force: true });
  removeDanglingLinks(paths);
  removeAgentTrees(paths, log);
  return {
    message: `Uninstall succeeded: the Log Analytics agent was removed${workspaces.size > 0 ? ` with the configuration of workspace ${[...workspaces].join(", ")}` : ""}`,
    purgeState: true,
  };
}
