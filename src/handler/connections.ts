// stopOnMultipleConnections: before connecting, find other workspaces and System Center Operations
// Manager so we can refuse (code 10) and name them, instead of silently multi-homing (billed per workspace).
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ExtensionError } from "./errors.ts";
import type { Logger } from "./log-line.ts";
import { listWorkspaces } from "./omsadmin.ts";
import { workspaceDirectories, type SystemPaths } from "./paths.ts";
import type { ToolContext } from "./tool.ts";

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const SCOM_PORT = "1270";

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * A workspace is a connection only once omsadmin.sh wrote its conf/omsadmin.conf, which it does after the
 * service accepted the onboarding; the directory alone is what a failed onboarding (wrong key, no network)
 * leaves. The pre-multi-homing layout keeps the one workspace's omsadmin.conf in /etc/opt/microsoft/omsagent/conf.
 */
function isConnected(paths: SystemPaths, workspaceId: string): boolean {
  if (existsSync(join(paths.omsagentEtc, workspaceId, "conf", "omsadmin.conf"))) return true;
  try {
    const legacy = readFileSync(join(paths.omsagentEtc, "conf", "omsadmin.conf"), "utf8");
    return new RegExp(`^WORKSPACE_ID=${workspaceId}\\s*$`, "im").test(legacy);
  } catch {
    return false;
  }
}

/** Workspace directories under /etc/opt/microsoft/omsagent that are connections (see isConnected). */
export function connectedWorkspaceDirectories(paths: SystemPaths, log?: Logger): string[] {
  const connected: string[] = [];
  for (const id of workspaceDirectories(paths).keys()) {
    if (isConnected(paths, id)) connected.push(id);
    else log?.info(`${id} has a directory but no conf/omsadmin.conf (a failed onboarding): not a connection`);
  }
  return connected;
}

/** Workspace ids connected on this machine: directories under /etc/opt/microsoft/omsagent and `omsadmin.sh -l`. */
export async function configuredWorkspaces(ctx: ToolContext): Promise<{ workspaces: Set<string>; scom: boolean }> {
  const { paths, log } = ctx;
  const workspaces = new Set(connectedWorkspaceDirectories(paths, log).map((id) => id.toLowerCase()));
  let scom = isDirectory(join(paths.omsagentEtc, "scom"));
  if (existsSync(paths.omsadmin)) {
    for (const line of (await listWorkspaces(ctx)).split("\n")) {
      // -l also lists a failed onboarding's directory, even as "Onboarded(OMSAgent Running)" (service_control
      // is-running answers "running" for a workspace without omsadmin.conf).
      for (const id of line.match(GUID) ?? []) if (isConnected(paths, id)) workspaces.add(id.toLowerCase());
      if (/workspace:\s*scom\b/i.test(line)) scom = true;
    }
  }
  return { workspaces, scom: scom || scomPortConfigured(paths) };
}

/** OMI listening on 1270 is how an Operations Manager agent is wired. */
export function scomPortConfigured(paths: SystemPaths): boolean {
  try {
    const text = readFileSync(paths.omiServerConf, "utf8");
    const ports = /^\s*httpsport\s*=(.*)$/m.exec(text)?.[1] ?? "";
    return ports.split(/[\s,]+/).includes(SCOM_PORT);
  } catch {
    return false;
  }
}

/** `ours`: workspaces this handler connected, which it replaces rather than keeps beside the new one. */
export async function refuseMultipleConnections(ctx: ToolContext, workspaceId: string, ours: string[] = []): Promise<void> {
  const { workspaces, scom } = await configuredWorkspaces(ctx);
  const mine = new Set([workspaceId, ...ours].map((id) => id.toLowerCase()));
  const others = [...workspaces].filter((id) => !mine.has(id)).sort();
  if (others.length === 0 && !scom) return;
  const connections = [
    ...(others.length > 0 ? [`workspace${others.length > 1 ? "s" : ""} ${others.join(", ")}`] : []),
    ...(scom ? ["System Center Operations Manager (OMI port 1270)"] : []),
  ].join(" and ");
  throw new ExtensionError(
    "MultipleConnections",
    `this machine already reports to ${connections}, and stopOnMultipleConnections is true`,
    others.length > 0
      ? `remove the other connection (/opt/microsoft/omsagent/bin/omsadmin.sh -x ${others[0]}) or set stopOnMultipleConnections to false to report to several workspaces (each one bills separately)`
      : "remove the Operations Manager connection or set stopOnMultipleConnections to false",
  );
}
