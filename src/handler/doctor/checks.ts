// What doctor looks at on the machine itself: the machine and its tools (the same preflight the install runs),
// the agent and each workspace, and what the handler did last (status files and extension.log).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { release } from "node:os";
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
import { fail, fromPreflight, pass, skip, type Check } from "./report.ts";

export interface DoctorContext extends ToolContext {
  minFreeMb: number;
}

const MACHINE = "machine";
const AGENT = "agent";
const HISTORY = "history";
const GLIBC_FLOOR = [2, 17];
/** The bundled Bun's floor (README: "Supported machines"): Linux 3.10 (RHEL/CentOS 7). */
const KERNEL_FLOOR = [3, 10];

/** Linux 3.10 or later: what the bundled runtime needs. `kernelRelease` is `uname -r`. */
export function kernelCheck(kernelRelease: string = release()): Check {
  const match = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (!match) return skip(MACHINE, "kernel", `could not read the kernel version from "${kernelRelease}"`);
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > KERNEL_FLOOR[0]! || (major === KERNEL_FLOOR[0] && minor >= KERNEL_FLOOR[1]!)
    ? pass(MACHINE, "kernel", `Linux ${kernelRelease} (the runtime needs 3.10 or later)`)
    : fail(
        MACHINE,
        "kernel",
        `Linux ${kernelRelease} is older than 3.10, which the extension's runtime needs`,
        "use a supported distribution or the Azure Monitor Agent",
      );
}

/** An x86-64 CPU with SSE4.2 (Nehalem, 2008, or later): the bundled Bun build uses it. */
export function cpuCheck(cpuinfoPath: string): Check {
  let cpuinfo: string;
  try {
    cpuinfo = readFileSync(cpuinfoPath, "utf8");
  } catch {
    return skip(MACHINE, "cpu", `${cpuinfoPath} is not readable, so the CPU's features were not checked`);
  }
  const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1]?.trim().split(/\s+/) ?? [];
  if (flags.length === 0) return skip(MACHINE, "cpu", `${cpuinfoPath} lists no CPU flags`);
  return flags.includes("sse4_2")
    ? pass(MACHINE, "cpu", "x86-64 with SSE4.2 (the runtime needs Nehalem or later)")
    : fail(
        MACHINE,
        "cpu",
        "the CPU has no SSE4.2 (older than Nehalem), which the extension's runtime needs",
        "move the machine to a newer host (or a VM size on a newer CPU), or use the Azure Monitor Agent",
      );
}

export async function machineChecks(context: DoctorContext): Promise<Check[]> {
  const { paths, minFreeMb, childEnv, deadline, log } = context;
  const checks: Check[] = [pass(MACHINE, "runtime", process.versions.bun ? `bun ${process.versions.bun}` : `node ${process.version}`)];
  checks.push(await fromPreflight(MACHINE, "architecture", () => (checkArchitecture(), "x86_64")));
  checks.push(kernelCheck());
  // The kernel's view of this CPU, whatever OMS_HANDLER_ROOT says: /proc is not part of the OMS tree.
  checks.push(cpuCheck("/proc/cpuinfo"));

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

/**
 * The OMS bundle's own check (microsoft/OMS-Agent-for-Linux installer/bundle/bundle_skel.sh,
 * ulinux_detect_openssl_version, in 1.19.0): `openssl version` must match ^1.0. but not ^1.0.0, or ^1.1., or ^3.0.
 * (the bundle carries packages built for each); anything else — 1.0.0, 3.1, 3.2 and later — makes it exit 55 with
 * "does not have a supported version of OpenSSL", which the handler reports as 60.
 */
export function bundleAcceptsOpenSsl(version: string): boolean {
  return (/^1\.0\./.test(version) && !/^1\.0\.0/.test(version)) || /^1\.1\./.test(version) || /^3\.0\./.test(version);
}

async function opensslCheck({ paths, childEnv, deadline, log }: ToolContext): Promise<Check> {
  const openssl = findTool(paths, "openssl");
  if (!openssl) return fail(MACHINE, "openssl", "openssl is not installed", "install openssl with the distribution's package manager");
  const result = await runChild({ label: "openssl version", file: openssl, args: ["version"], timeoutMs: 10_000, quiet: true, childEnv }, deadline, log);
  const version = /OpenSSL (\d+\.\d+\.\d+\S*)/.exec(result.stdout)?.[1];
  if (!version)
    return fail(MACHINE, "openssl", `openssl version printed no version (${result.stdout.trim() || `exit ${result.exitCode}`})`, "reinstall openssl");
  return bundleAcceptsOpenSsl(version)
    ? pass(MACHINE, "openssl", `${version} (the agent's bundle accepts 1.0.1 and later 1.0.x, 1.1.x and 3.0.x)`)
    : fail(
        MACHINE,
        "openssl",
        `${version}; the agent's bundle accepts only 1.0.1 and later 1.0.x, 1.1.x and 3.0.x, and fails with 60 (UnsupportedOpenSsl) otherwise`,
        "the Log Analytics agent cannot run with this OpenSSL: use a distribution release that ships a supported one (see the README's support matrix) or move to the Azure Monitor Agent",
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

/** The last status of each operation (Install, Enable, …), when doctor could read the status folder. */
export type LastStatuses = Map<string, StatusEntry>;

/** "look at the <operation> status" only when there is one to look at. */
function statusHint(statuses: LastStatuses | undefined, operation: string, otherwise: string): string {
  const entry = statuses?.get(operation);
  if (entry?.status === "error") return `fix what the ${operation} status says (history ${operation} below: error ${entry.code})`;
  return otherwise;
}

/** The proxy the agent uses, from its proxy.conf (the credentials are never shown). */
export function agentProxy(paths: SystemPaths): string | undefined {
  try {
    return readFileSync(paths.proxyConf, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

export async function agentChecks(context: DoctorContext, statuses?: LastStatuses): Promise<{ checks: Check[]; workspaces: WorkspaceFacts[] }> {
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
        statusHint(
          statuses,
          "Install",
          "no install has failed on record: add the extension to the machine (or, if it is added, the guest agent has not run its install yet — see /var/log/waagent.log)",
        ),
      ),
    );
    return { checks, workspaces: [] };
  }
  checks.push(pass(AGENT, "installed", installed));

  const workspaces: WorkspaceFacts[] = [];
  const directories = workspaceDirectories(paths);
  if (directories.size === 0) {
    checks.push(
      fail(
        AGENT,
        "workspaces",
        "no workspace is configured",
        statusHint(statuses, "Enable", "no enable has failed on record: deploy the extension with a workspaceId and workspaceKey"),
      ),
    );
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
          statusHint(statuses, "Enable", "see the network checks below for the cause; the next enable onboards again"),
        ),
      );
      workspaces.push({ id });
      continue;
    }
    const domain = conf.get("URL_TLD") || "opinsights.azure.com";
    checks.push(pass(area, "onboarded", `agent ${conf.get("AGENT_GUID") || "(no id)"} reports to ${domain}`));
    workspaces.push({ id, domain });

    const owners: string[] = [];
    const missing: string[] = [];
    for (const file of ["certs/oms.key", "certs/oms.crt"]) {
      try {
        const stats = statSync(join(dir, file));
        if (omsagentUid === undefined || stats.uid !== omsagentUid) owners.push(`${file} is owned by uid ${stats.uid}`);
      } catch {
        missing.push(file);
      }
    }
    // A missing identity is re-created by onboarding again; only files that exist can be given back with chown.
    checks.push(
      missing.length > 0
        ? fail(
            area,
            "key and certificate",
            `${missing.join(" and ")} ${missing.length > 1 ? "are" : "is"} missing: the agent has no identity to authenticate with`,
            "onboard the workspace again: remove the extension and add it with the same settings (enable re-onboards and the service issues a new certificate)",
          )
        : owners.length === 0
          ? pass(area, "key and certificate", "certs/oms.key and certs/oms.crt belong to omsagent")
          : fail(
              area,
              "key and certificate",
              `${owners.join(", ")}${omsagentUid === undefined ? " (there is no omsagent user)" : ", not omsagent"}: the agent cannot read its identity`,
              omsagentUid === undefined
                ? "the omsagent account is missing: reinstall the agent (remove and add the extension)"
                : `run: chown -R omsagent:omiusers /etc/opt/microsoft/omsagent/${id}/certs`,
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

/** The last status of each operation, by operation name, in the order they were written. */
export function lastStatuses(statusFolder: string): LastStatuses {
  const latest: LastStatuses = new Map();
  for (const entry of readStatuses(statusFolder)) {
    latest.delete(entry.operation);
    latest.set(entry.operation, entry);
  }
  return latest;
}

/** The last status of each operation, explained, and the last errors in extension.log. */
export function historyChecks(statuses: LastStatuses, logFolder: string): Check[] {
  const checks: Check[] = [];
  if (statuses.size === 0) checks.push(pass(HISTORY, "last status", "no status written yet"));
  for (const entry of statuses.values()) {
    const when = `seq ${entry.seq}${entry.at ? `, ${entry.at}` : ""}`;
    if (entry.status === "error") {
      const meaning = isExtensionCode(entry.code) ? ErrorCodes[entry.code] : "unknown code";
      const { statement, action } = splitAction(entry.message);
      checks.push(fail(HISTORY, entry.operation, `error ${entry.code} (${meaning}), ${when}: ${statement}`, action ?? "see extension.log"));
    } else if (entry.status === "success") {
      checks.push(pass(HISTORY, entry.operation, `${entry.status}, ${when}: ${entry.message}`));
    } else {
      // transitioning (or anything else): the run has not finished, or died before it could say how it ended.
      checks.push(skip(HISTORY, entry.operation, `${entry.status}, ${when}: not finished (or it stopped before writing its outcome): ${entry.message}`));
    }
  }

  const logPath = join(logFolder, LOG_FILE);
  if (!existsSync(logPath)) {
    checks.push(skip(HISTORY, "extension.log", `${logPath} does not exist yet: the handler has not logged anything`));
    return checks;
  }
  let errors: string[];
  try {
    errors = readFileSync(logPath, "utf8")
      .split("\n")
      .filter((line) => /^\S+ ERROR /.test(line))
      .slice(-3);
  } catch (error) {
    checks.push(skip(HISTORY, "extension.log", `${logPath} could not be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`));
    return checks;
  }
  // lastStatuses keeps them in the order they were written: the last is the latest run.
  const lastRunFailed = [...statuses.values()].at(-1)?.status === "error";
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
