// install: preflight → multiple-connection check → restore config stashed by an update → wait for the
// package manager → bundle --upgrade. Heavy work lives here (900 s budget), not in enable (300 s).
import { existsSync } from "node:fs";
import { locateBundle, runBundle, verifyBundle } from "../bundle.ts";
import { refuseMultipleConnections } from "../connections.ts";
import { ExtensionError } from "../errors.ts";
import { ownWorkspaceTrees } from "../onboarding.ts";
import { waitForPackageManager } from "../package-manager.ts";
import { checkArchitecture, checkDiskSpace, checkOperatingSystem, checkTools } from "../preflight.ts";
import { info, type OperationContext, type OperationOutcome } from "./context.ts";

const MAX_BUNDLE_RUNS = 3;
/** Keep at least this much of the budget for the bundle itself when waiting for package-manager locks. */
const BUNDLE_RESERVE_MS = 120_000;

export async function install(ctx: OperationContext): Promise<OperationOutcome> {
  const { paths, log, deadline, state } = ctx;
  ctx.reportTransitioning("Installing the Log Analytics agent");
  const settings = await ctx.settings({ needProtected: false });
  if (!settings) log.warn("no settings for this sequence number: installing with defaults");
  settings?.warnings.forEach((warning) => log.warn(warning));

  checkArchitecture();
  const os = checkOperatingSystem(paths);
  checkDiskSpace(paths, ctx.tuning.minFreeMb);
  await checkTools(ctx);
  const bundle = locateBundle(ctx.env.extensionDir);
  verifyBundle(bundle);
  log.info(`preflight passed on ${os}; bundle ${bundle.version} verified`);

  if (settings?.public.stopOnMultipleConnections) {
    await refuseMultipleConnections(ctx, settings.public.workspaceId);
  }

  const restored = state.restoreWorkspaces(paths.workspaceEtc);
  if (restored.length > 0) log.info(`restored workspace configuration kept during the update: ${restored.join(", ")}`);
  for (const workspaceId of restored) ownWorkspaceTrees(paths, workspaceId, log);
  state.clearUpdateMarker();

  const skipDocker = Boolean(settings?.public.skipDockerProviderInstall);
  for (let run = 1; ; run++) {
    const lockBudget = Math.min(ctx.tuning.packageLockWaitMs, deadline.remainingMs() - BUNDLE_RESERVE_MS);
    await waitForPackageManager(paths.packageManagerLocks, Math.max(lockBudget, 0), deadline, log);
    try {
      await runBundle(ctx, bundle, "upgrade", skipDocker ? ["--skip-docker-provider-install"] : []);
      break;
    } catch (error) {
      if (error instanceof ExtensionError && error.reason === "PackageManagerLocked" && run < MAX_BUNDLE_RUNS && deadline.remainingMs() > BUNDLE_RESERVE_MS) {
        log.warn(`bundle run ${run} hit a package-manager lock; waiting and retrying`);
        continue;
      }
      throw error;
    }
  }

  if (!existsSync(paths.omsadmin)) {
    throw new ExtensionError(
      "OmsAgentInstallFailed",
      "the bundle reported success but omsadmin.sh is not installed",
      "see extension.log for the bundle's output, then retry the installation",
    );
  }
  return {
    message: `Install succeeded: Log Analytics agent bundle ${bundle.version} installed on ${os}${skipDocker ? " (Docker provider skipped)" : ""}`,
    substatus: [info("AgentBundle", bundle.version), info("OperatingSystem", os)],
  };
}
