// What doctor looks at on the machine itself: the machine and its tools (the same preflight the install runs),
// the agent and each workspace, and what the handler did last (status files and extension.log).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ErrorCodes, isExtensionCode } from "../errors.ts";
import { splitAction } from "../../shared/status-message.ts";
import { LOG_FILE } from "../log-line.ts";
import { findLockHolder } from "../package-manager.ts";
import { workspaceDirectories, type SystemPaths } from "../paths.ts";
import { checkArchitecture, checkDiskSpace, checkOperatingSystem, checkTools, findTool } from "../preflight.ts";
import { runChild } from "../process.ts";
import { proxyEndpoint } from "../secrets.ts";
import { isAgentRunning } from "../service.ts";
import { scomPortConfigured } from "../connections.ts";
import type { ToolContext } from "../tool.ts";
import { fail, fromPreflight, pass, type Check } from "./report.ts";

export interface DoctorContext extends ToolContext {
  minFreeMb: number;
}

const MACHINE = "machine";
const AGENT = "agent";
const HISTORY = "history";
const GLIBC_FLOOR = [2, 17];

export async function machineChecks(context: DoctorContext): Promise<Check[]> {
  const { paths, minFreeMb, childEnv, deadline, log } = context;
  const checks: Check[] = [pass(MACHINE, "runtime", process.versions.bun ? `bun ${process.versions.bun}` : `node ${process.version}`)];
  checks.push(await fromPreflight(MACHINE, "architecture", () => (checkArchitecture(), "x86_64")));

  const libc = await runChild({ label: "getconf", file: "getconf", args: ["GNU_LIBC_VERSION"], timeoutMs: 10_000, quiet: true, childEnv }, deadline, log);
  const glibc = /^glibc (\d+)\.(\d+)/.exec(libc.stdout.trim());
  const [major, minor] = glibc ? [Number(glibc[1]), Number(glibc[2])] : [0, 0];
  checks.push(
    glibc && (major > GLIBC_FLOOR[0]! || (major === GLIBC_FLOOR[0] && minor >= GLIBC_FLOOR[1]!))
      ? pass(MACHINE, "glibc", `${major}.${minor}`)
      : fail(
          MACHINE,
          "glibc",
          glibc ? `glibc ${major}.${minor} is older than 2.17` : "this machine's C library is not glibc",
          "use a supported distribution (see the README's support matrix)",
        ),
  );
  checks.push(await fromPreflight(MACHINE, "distribution", () => `${checkOperatingSystem(paths)} (in the support matrix)`));
  checks.push(await fromPreflight(MACHINE, "free space", () => (checkDiskSpace(paths, minFreeMb), `at least ${minFreeMb} MB free on /var, /etc and /opt`)));
  checks.push(await fromPreflight(MACHINE, "tools", async () => (await checkTools(context), "tar, sed, curl, openssl and python with ctypes")));
  checks.push(await opensslCheck(context));

  const holder = findLockHolder(paths.packageManagerLocks);
  checks.push(
    holder
      ? fail(
          MACHINE,
          "package manager",
          `${holder.lockPath.slice(paths.root.replace(/\/$/, "").length) || holder.lockPath} is held by pid ${holder.pid} (${holder.command})`,
          "wait for that package operation to finish, or stop it; install and uninstall wait for it, then fail with 55",
        )
      : pass(MACHINE, "package manager", "no apt, dpkg, rpm or zypper lock is held"),
  );
  return checks;
}

/** The OMS bundle's own check: OpenSSL 1.0.1 or later 1.x (OpenSSL 3 is refused with 60). */
async function opensslCheck({ paths, childEnv, deadline, log }: ToolContext): Promise<Check> {
  const openssl = findTool(paths, "openssl");
  if (!openssl) return fail(MACHINE, "openssl", "openssl is not installed", "install openssl 1.x with the distribution's package manager");
  const result = await runChild({ label: "openssl version", file: openssl, args: ["version"], timeoutMs: 10_000, quiet: true, childEnv }, deadline, log);
  const version = /OpenSSL (\d+)\.(\d+)\.(\d+)(\S*)/.exec(result.stdout)?.slice(1);
  if (!version)
    return fail(MACHINE, "openssl", `openssl version printed no version (${result.stdout.trim() || `exit ${result.exitCode}`})`, "reinstall openssl 1.x");
  const [major, minor, patch, letter] = version;
  const text = `${major}.${minor}.${patch}${letter}`;
  const supported = major === "1" && (minor === "1" || (minor === "0" && Number(patch) >= 1));
  return supported
    ? pass(MACHINE, "openssl", `${text} (the agent's bundle needs 1.0.1 or later 1.x)`)
    : fail(
        MACHINE,
        "openssl",
        `${text}; the agent's bundle needs OpenSSL 1.0.1 or later 1.x and fails with 60 otherwise`,
        "use a distribution with OpenSSL 1.x (see the README's support matrix) or move to the Azure Monitor Agent",
      );
}

/** `KEY=value` lines of omsadmin.conf. */
function readConf(path: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) values.set(match[1]!, match[2]!.replace(/^"(.*)"$/, "$1"));
  }
  return values;
}

function userId(paths: SystemPaths, name: string): number | undefined {
  try {
    const line = readFileSync(join(paths.root, "etc/passwd"), "utf8")
      .split("\n")
      .find((entry) => entry.startsWith(`${name}:`));
    return line ? Number(line.split(":")[2]) : undefined;
  } catch {
    return undefined;
  }
}

export interface WorkspaceFacts {
  id: string;
  /** URL_TLD from omsadmin.conf, when the workspace is onboarded. */
  domain?: string;
}

/** The proxy the agent uses, from its proxy.conf (the credentials are never shown). */
export function agentProxy(paths: SystemPaths): string | undefined {
  try {
    return readFileSync(paths.proxyConf, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

export async function agentChecks(context: DoctorContext): Promise<{ checks: Check[]; workspaces: WorkspaceFacts[] }> {
  const { paths } = context;
  const checks: Check[] = [];
  let installed: string | undefined;
  try {
    statSync(paths.omsadmin);
    installed =
      readFileSync(join(paths.omsagentEtc, "sysconf", "installinfo.txt"), "utf8")
        .split("\n")[0]
        ?.trim() || "unknown version";
  } catch {
    // Not installed, or installed without its install record.
    installed = undefined;
  }
  if (!installed) {
    checks.push(
      fail(
        AGENT,
        "installed",
        "the Log Analytics agent is not installed (no omsadmin.sh)",
        "look at the install status below and fix its cause; the guest agent retries install on the next goal state",
      ),
    );
    return { checks, workspaces: [] };
  }
  checks.push(pass(AGENT, "installed", installed));

  const workspaces: WorkspaceFacts[] = [];
  const directories = workspaceDirectories(paths);
  if (directories.size === 0) {
    checks.push(fail(AGENT, "workspaces", "no workspace is configured", "look at the enable status below and fix its cause; the guest agent retries enable"));
  }
  const omsagentUid = userId(paths, "omsagent");
  for (const [id, dir] of directories) {
    const area = `workspace ${id}`;
    let conf: Map<string, string>;
    try {
      conf = readConf(join(dir, "conf", "omsadmin.conf"));
    } catch {
      checks.push(
        fail(
          area,
          "onboarded",
          `${dir.slice(paths.root.replace(/\/$/, "").length)} has no conf/omsadmin.conf: an onboarding that failed`,
          "look at the enable status below and fix its cause; the next enable onboards again",
        ),
      );
      workspaces.push({ id });
      continue;
    }
    const domain = conf.get("URL_TLD") || "opinsights.azure.com";
    checks.push(pass(area, "onboarded", `agent ${conf.get("AGENT_GUID") || "(no id)"} reports to ${domain}`));
    workspaces.push({ id, domain });

    const owners: string[] = [];
    for (const file of ["certs/oms.key", "certs/oms.crt"]) {
      try {
        const stats = statSync(join(dir, file));
        if (omsagentUid === undefined || stats.uid !== omsagentUid) owners.push(`${file} is owned by uid ${stats.uid}`);
      } catch {
        owners.push(`${file} is missing`);
      }
    }
    checks.push(
      owners.length === 0
        ? pass(area, "key and certificate", "certs/oms.key and certs/oms.crt belong to omsagent")
        : fail(
            area,
            "key and certificate",
            `${owners.join(", ")}${omsagentUid === undefined ? " (there is no omsagent user)" : ", not omsagent"}: the agent cannot read its identity`,
            `run: chown -R omsagent:omiusers /etc/opt/microsoft/omsagent/${id}/certs, or remove and add the extension again`,
          ),
    );

    const running = await isAgentRunning(context, id);
    let pid = "";
    try {
      pid = readFileSync(join(paths.workspaceVar(id), "run", "omsagent.pid"), "utf8").trim();
    } catch {
      // No pid file: the running state alone is reported.
    }
    checks.push(
      running
        ? pass(area, "service", `running${pid ? ` (pid ${pid})` : ""}`)
        : fail(
            area,
            "service",
            "the agent is not running",
            `start it: /opt/microsoft/omsagent/bin/service_control start ${id}; if it stops again, see /var/opt/microsoft/omsagent/${id}/log/omsagent.log`,
          ),
    );
  }

  const proxy = agentProxy(paths);
  checks.push(pass(AGENT, "proxy", proxy ? `${proxyEndpoint(proxy)} (from /etc/opt/microsoft/omsagent/proxy.conf)` : "none: the agent connects directly"));
  checks.push(pass(AGENT, "scom", scomPortConfigured(paths) ? "System Center Operations Manager is configured (OMI port 1270)" : "not configured"));
  return { checks, workspaces };
}

interface StatusEntry {
  seq: number;
  operation: string;
  status: string;
  code: number;
  message: string;
  at: string;
  mtimeMs: number;
}

function readStatuses(statusFolder: string): StatusEntry[] {
  const entries: StatusEntry[] = [];
  let names: string[];
  try {
    names = readdirSync(statusFolder).filter((name) => /^\d+\.status$/.test(name));
  } catch {
    return entries;
  }
  for (const name of names) {
    try {
      const path = join(statusFolder, name);
      const [document] = JSON.parse(readFileSync(path, "utf8")) as Array<{
        timestampUTC?: string;
        status?: { operation?: string; status?: string; code?: number; formattedMessage?: { message?: string } };
      }>;
      const status = document?.status;
      if (!status?.operation) continue;
      entries.push({
        seq: Number.parseInt(name, 10),
        operation: status.operation,
        status: status.status ?? "unknown",
        code: Number(status.code ?? 0),
        message: status.formattedMessage?.message ?? "",
        at: document?.timestampUTC ?? "",
        mtimeMs: statSync(path).mtimeMs,
      });
    } catch {
      // A damaged status file says nothing; the handler rewrites it on its next run.
    }
  }
  return entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
}

/** The last status of each operation, explained, and the last errors in extension.log. */
export function historyChecks(statusFolder: string | undefined, logFolder: string | undefined): Check[] {
  const checks: Check[] = [];
  const statuses = statusFolder ? readStatuses(statusFolder) : [];
  if (statuses.length === 0) checks.push(pass(HISTORY, "last status", "no status written yet"));
  const latest = new Map<string, StatusEntry>();
  for (const entry of statuses) latest.set(entry.operation, entry);
  for (const entry of latest.values()) {
    const when = `seq ${entry.seq}${entry.at ? `, ${entry.at}` : ""}`;
    if (entry.status === "error") {
      const meaning = isExtensionCode(entry.code) ? ErrorCodes[entry.code] : "unknown code";
      const { statement, action } = splitAction(entry.message);
      checks.push(fail(HISTORY, entry.operation, `error ${entry.code} (${meaning}), ${when}: ${statement}`, action ?? "see extension.log"));
    } else {
      checks.push(pass(HISTORY, entry.operation, `${entry.status}, ${when}: ${entry.message}`));
    }
  }

  let errors: string[] = [];
  try {
    errors = readFileSync(join(logFolder ?? "", LOG_FILE), "utf8")
      .split("\n")
      .filter((line) => /^\S+ ERROR /.test(line))
      .slice(-3);
  } catch {
    // No log yet.
  }
  const lastRunFailed = statuses.at(-1)?.status === "error";
  checks.push(
    errors.length === 0
      ? pass(HISTORY, "extension.log", "no errors logged")
      : lastRunFailed
        ? fail(
            HISTORY,
            "extension.log",
            `last errors: ${errors.map((line) => line.replace(/ \{.*\}$/, "")).join(" | ")}`,
            "fix what the last failed status says; extension.log has the details",
          )
        : pass(HISTORY, "extension.log", `earlier errors, resolved since: ${errors.at(-1)!.replace(/ \{.*\}$/, "")}`),
  );
  return checks;
}
