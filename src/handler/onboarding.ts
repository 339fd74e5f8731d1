// What surrounds an onboarding (omsadmin.sh itself is run by omsadmin.ts): what the agent of a workspace
// actually uses, whether omsadmin.sh did what it claimed, the agent's identity kept across a failed attempt,
// and the ownership of the workspace's files.
import { chmodSync, chownSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { configuredWorkspaces } from "./connections.ts";
import { ExtensionError } from "./errors.ts";
import type { Logger } from "./log-line.ts";
import { agentAccount, AGENT_GROUP, AGENT_USER, type SystemPaths } from "./paths.ts";
import { proxyEndpoint } from "./secrets.ts";
import { chownTree, writeFileDurably } from "./state.ts";
import type { ToolContext } from "./tool.ts";

/** What the agent of one workspace actually uses: omsadmin.conf's URL_TLD and the agent-wide proxy.conf. */
export interface AgentConfiguration {
  /** false: the workspace has no omsadmin.conf (never onboarded, or a failed onboarding). */
  onboarded: boolean;
  domain?: string;
  proxy?: string;
}

export function readAgentConfiguration(paths: SystemPaths, workspaceId: string): AgentConfiguration {
  let conf: string | undefined;
  try {
    conf = readFileSync(join(paths.workspaceEtc(workspaceId), "conf", "omsadmin.conf"), "utf8");
  } catch {
    // Not onboarded.
  }
  let proxy: string | undefined;
  try {
    // omsadmin.sh writes it with `echo -n`; it reads it back with `cat`, which drops a final newline.
    proxy = readFileSync(paths.proxyConf, "utf8").replace(/\n$/, "");
  } catch {
    // No proxy.
  }
  const domain = conf === undefined ? undefined : /^URL_TLD=(.*)$/m.exec(conf)?.[1]?.trim();
  return { onboarded: conf !== undefined, domain, proxy: proxy === "" ? undefined : proxy };
}

/**
 * How the agent's configuration differs from what the settings ask for, in words fit for a status (proxy
 * endpoints only, never credentials). Empty when they agree.
 */
export function configurationDifferences(actual: AgentConfiguration, wanted: { domain: string; proxy?: string }): string[] {
  const differences: string[] = [];
  if (actual.domain !== wanted.domain) differences.push(`cloud domain ${actual.domain ?? "none"} instead of ${wanted.domain}`);
  if ((actual.proxy ?? "") !== (wanted.proxy ?? "")) {
    const show = (proxy: string | undefined) => (proxy ? proxyEndpoint(proxy) : "none");
    differences.push(
      actual.proxy && wanted.proxy && show(actual.proxy) === show(wanted.proxy)
        ? `proxy ${show(actual.proxy)} with other credentials or scheme than the settings'`
        : `proxy ${show(actual.proxy)} instead of ${show(wanted.proxy)}`,
    );
  }
  return differences;
}

export function configurationMismatch(workspaceId: string, differences: string[]): ExtensionError {
  return new ExtensionError(
    "AgentConfigurationMismatch",
    `omsadmin.sh reported success but the agent of workspace ${workspaceId} still uses ${differences.join(" and ")}`,
    "retry; if it persists, remove and re-add the extension (or run /opt/microsoft/omsagent/bin/omsadmin.sh -x with the workspace id, then retry) and report it with extension.log attached",
  );
}

/**
 * omsadmin.sh deletes certs/oms.crt and oms.key when an onboarding request fails (cleanup_certs), even when
 * they are an existing workspace's identity. Before re-onboarding an onboarded workspace we keep them in memory
 * and put them back if they went missing, so a rejected proxy does not cost the agent its identity.
 */
export function keepAgentIdentity(paths: SystemPaths, workspaceId: string, log: Logger): () => void {
  const certs = join(paths.workspaceEtc(workspaceId), "certs");
  const kept = ["oms.crt", "oms.key"].flatMap((name) => {
    const path = join(certs, name);
    try {
      const stats = statSync(path);
      return [{ path, content: readFileSync(path), mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid }];
    } catch {
      return [];
    }
  });
  return () => {
    if (kept.length < 2 || !existsSync(join(paths.workspaceEtc(workspaceId), "conf", "omsadmin.conf"))) return;
    for (const file of kept) {
      if (existsSync(file.path) || !existsSync(certs)) continue;
      writeFileSync(file.path, file.content, { mode: file.mode });
      chmodSync(file.path, file.mode);
      if (process.getuid?.() === 0) chownSync(file.path, file.uid, file.gid);
      log.info(`restored ${file.path}, which the failed onboarding removed: the agent keeps its identity`);
    }
  };
}

/**
 * omsadmin.sh rewrites the agent-wide proxy.conf before its onboarding request (set_proxy_setting), and enable
 * removes it when the settings name no proxy: keep its content, mode and owner (or its absence) so that a failed
 * enable can put it back and the agent keeps the proxy it worked with.
 */
export function keepProxyConf(paths: SystemPaths, log: Logger): () => void {
  let kept: { content: string; mode: number; uid: number; gid: number } | undefined;
  try {
    const stats = statSync(paths.proxyConf);
    kept = { content: readFileSync(paths.proxyConf, "utf8"), mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid };
  } catch {
    // No proxy.conf: the agent connected directly.
  }
  return () => {
    if (!kept) {
      if (existsSync(paths.proxyConf)) {
        rmSync(paths.proxyConf, { force: true });
        log.info("removed the proxy.conf the failed change wrote: the agent connects directly, as before");
      }
      return;
    }
    try {
      const stats = statSync(paths.proxyConf);
      const same =
        readFileSync(paths.proxyConf, "utf8") === kept.content && (stats.mode & 0o7777) === kept.mode && stats.uid === kept.uid && stats.gid === kept.gid;
      if (same) return;
    } catch {
      // Removed: put it back.
    }
    writeFileDurably(paths.proxyConf, kept.content, kept.mode);
    chmodSync(paths.proxyConf, kept.mode);
    if (process.getuid?.() === 0) chownSync(paths.proxyConf, kept.uid, kept.gid);
    log.info("restored the agent's previous proxy.conf: the failed change does not leave its proxy behind");
  };
}

/**
 * The agent runs as omsagent:omiusers and must read everything under its workspace's directories (its key
 * above all). After a restore or an onboarding the trees are given to it, as the legacy handler did after every
 * onboarding: files root left there (a restore, an edit by hand) would otherwise stop the agent.
 */
export function ownWorkspaceTrees(paths: SystemPaths, workspaceId: string, log: Logger): void {
  if (process.getuid?.() !== 0) return;
  const account = agentAccount(paths);
  if (!account) {
    log.warn(`no ${AGENT_USER} user or ${AGENT_GROUP} group on this machine: the files of workspace ${workspaceId} keep their owners`);
    return;
  }
  for (const tree of [paths.workspaceEtc(workspaceId), paths.workspaceVar(workspaceId)]) chownTree(tree, account.uid, account.gid);
  log.info(`workspace ${workspaceId}'s files belong to ${AGENT_USER}:${AGENT_GROUP}`);
}

/** omsadmin.sh exits 0 without configuring a workspace when another one is primary. */
export async function verifyOnboarded(ctx: ToolContext, workspaceId: string): Promise<void> {
  if (existsSync(join(ctx.paths.workspaceEtc(workspaceId), "conf", "omsadmin.conf"))) return;
  const { workspaces } = await configuredWorkspaces(ctx);
  const others = [...workspaces].filter((id) => id !== workspaceId);
  throw new ExtensionError(
    "OnboardingSkipped",
    `omsadmin.sh reported success but workspace ${workspaceId} is not configured${others.length > 0 ? ` (the agent's primary workspace is ${others.join(", ")})` : ""}`,
    others.length > 0
      ? `to move this machine to ${workspaceId}, disconnect the other workspace first (/opt/microsoft/omsagent/bin/omsadmin.sh -x ${others[0]}), then retry`
      : "retry; if it persists, report it with extension.log attached",
  );
}
