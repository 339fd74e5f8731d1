// Every system path the OMS agent and its tools own, resolved in one place so tests and the simulated VM
// can re-root all of them at once. The guest agent never sets OMS_HANDLER_ROOT, so on a machine root is /.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** Directories where a Linux machine keeps executables, in PATH order. */
export const STANDARD_BIN_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

const WORKSPACE_DIR = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Workspace id (as the directory is named) → its configuration directory, for every workspace under /etc/opt/microsoft/omsagent. */
export function workspaceDirectories(paths: SystemPaths): Map<string, string> {
  const found = new Map<string, string>();
  let entries: string[] = [];
  try {
    entries = readdirSync(paths.omsagentEtc);
  } catch {
    // The agent was never configured.
  }
  for (const entry of entries) {
    const dir = join(paths.omsagentEtc, entry);
    if (WORKSPACE_DIR.test(entry) && statSync(dir).isDirectory()) found.set(entry, dir);
  }
  return found;
}

export interface SystemPaths {
  root: string;
  omsadmin: string;
  serviceControl: string;
  omsagentEtc: string;
  omsagentVar: string;
  onboardConf: string;
  proxyConf: string;
  osRelease: string;
  omiServerConf: string;
  /** Mount points that must have room for the agent's packages. */
  diskChecks: string[];
  packageManagerLocks: string[];
  arcHimds: string;
  arcAgentConf: string;
  arcLocalConfig: string;
  /** Where the guest agent keeps tenant certificates when the layout is not the usual one. */
  waagentLib: string;
  workspaceEtc(workspaceId: string): string;
  workspaceVar(workspaceId: string): string;
}

/** `root` is "/" on a real machine; tests and the simulated VM pass their own (process-env.ts, OMS_HANDLER_ROOT). */
export function systemPaths(root: string): SystemPaths {
  const at = (...parts: string[]) => join(root, ...parts);
  const omsagentEtc = at("etc/opt/microsoft/omsagent");
  const omsagentVar = at("var/opt/microsoft/omsagent");
  return {
    root,
    omsadmin: at("opt/microsoft/omsagent/bin/omsadmin.sh"),
    serviceControl: at("opt/microsoft/omsagent/bin/service_control"),
    omsagentEtc,
    omsagentVar,
    onboardConf: at("etc/omsagent-onboard.conf"),
    proxyConf: join(omsagentEtc, "proxy.conf"),
    osRelease: at("etc/os-release"),
    omiServerConf: at("etc/opt/omi/conf/omiserver.conf"),
    diskChecks: [at("var"), at("etc"), at("opt")],
    packageManagerLocks: [
      at("var/lib/dpkg/lock-frontend"),
      at("var/lib/dpkg/lock"),
      at("var/lib/apt/lists/lock"),
      at("var/cache/apt/archives/lock"),
      at("var/lib/rpm/.rpm.lock"),
      at("run/zypp.pid"),
    ],
    arcHimds: at("opt/azcmagent/bin/himds"),
    arcAgentConf: at("lib/systemd/system.conf.d/azcmagent.conf"),
    arcLocalConfig: at("var/opt/azcmagent/localconfig.json"),
    waagentLib: at("var/lib/waagent"),
    workspaceEtc: (id) => join(omsagentEtc, id),
    workspaceVar: (id) => join(omsagentVar, id),
  };
}

/** The account the agent runs as (omsagent:omiusers; the omsagent.systemd unit's User= and Group=). */
export const AGENT_USER = "omsagent";
export const AGENT_GROUP = "omiusers";

/**
 * uid and gid of omsagent:omiusers from the machine's passwd and group files (the packages create them as local
 * system accounts), or undefined before the agent is installed.
 */
export function agentAccount(paths: SystemPaths): { uid: number; gid: number } | undefined {
  const field = (file: string, name: string, index: number): number | undefined => {
    try {
      const line = readFileSync(join(paths.root, "etc", file), "utf8")
        .split("\n")
        .find((entry) => entry.startsWith(`${name}:`));
      const value = Number(line?.split(":")[index]);
      return line !== undefined && Number.isInteger(value) ? value : undefined;
    } catch {
      return undefined;
    }
  };
  const uid = field("passwd", AGENT_USER, 2);
  const gid = field("group", AGENT_GROUP, 2);
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}
