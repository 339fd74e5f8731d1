// Helpers for tests and the demo that drive the simulated OMS toolchain (see simulator/README.md).
// Only node: built-ins; nothing here touches anything outside the simulated root it is given.
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const SIM_BUNDLE_NAME = "omsagent-0.0.0-sim.universal.x64.sh";
export const SIM_BUNDLE_VERSION = "0.0.0-sim";
/** Absolute path of the committed simulated bundle. */
export const SIM_BUNDLE_PATH = join(dirname(fileURLToPath(import.meta.url)), SIM_BUNDLE_NAME);

export const BUNDLE_FAULT_POINTS = ["bundle-upgrade", "bundle-install", "bundle-remove", "bundle-purge"] as const;
export const OMSADMIN_FAULT_POINTS = ["omsadmin-onboard", "omsadmin-list", "omsadmin-remove", "omsadmin-scom"] as const;
export const SERVICE_CONTROL_COMMANDS = ["disable", "enable", "start", "stop", "restart", "reload", "is-running", "find-systemd-dir"] as const;
export type ServiceControlCommand = (typeof SERVICE_CONTROL_COMMANDS)[number];
export type FaultPoint = (typeof BUNDLE_FAULT_POINTS)[number] | (typeof OMSADMIN_FAULT_POINTS)[number] | `service_control-${ServiceControlCommand}`;

/** Every path the simulator uses, under a simulated root. */
export function simPaths(root: string) {
  const etcOms = join(root, "etc/opt/microsoft/omsagent");
  const varOms = join(root, "var/opt/microsoft/omsagent");
  return {
    root,
    omsadmin: join(root, "opt/microsoft/omsagent/bin/omsadmin.sh"),
    serviceControl: join(root, "opt/microsoft/omsagent/bin/service_control"),
    onboardConf: join(root, "etc/omsagent-onboard.conf"),
    etcOmsagent: etcOms,
    varOmsagent: varOms,
    proxyConf: join(etcOms, "proxy.conf"),
    omiServerConf: join(root, "etc/opt/omi/conf/omiserver.conf"),
    cron: join(root, "etc/cron.d/OMSConsistencyInvoker"),
    workspaceEtc: (ws: string) => join(etcOms, ws),
    workspaceVar: (ws: string) => join(varOms, ws),
    omsadminConf: (ws: string) => join(etcOms, ws, "conf/omsadmin.conf"),
    simDir: join(root, ".omssim"),
    callsLog: join(root, ".omssim/calls.log"),
    faultsDir: join(root, ".omssim/faults"),
    fault: (point: FaultPoint) => join(root, ".omssim/faults", point),
    packagesDir: join(root, ".omssim/state/packages"),
    serviceState: (ws: string) => join(root, ".omssim/state/service", ws),
    agentPidFile: (ws: string) => join(varOms, ws, "run/omsagent.pid"),
    onboardedKeyHash: join(root, ".omssim/state/onboarded-key.sha256"),
    lastKeyHash: join(root, ".omssim/state/last-key.sha256"),
    hangDir: join(root, ".omssim/state/hang"),
  };
}

/**
 * A fresh simulated root (a directory under os.tmpdir()) with what omsadmin.sh needs of the machine: a syslog
 * socket (dev/log) and python3 (usr/bin/python3, which picks the metaconfig helper).
 */
export function makeSimRoot(prefix = "omssim-"): string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(root, "dev"));
  writeFileSync(join(root, "dev/log"), "");
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  symlinkSync(process.env.OMSSIM_PYTHON3 ?? "/usr/bin/python3", join(root, "usr/bin/python3"));
  return root;
}

export function removeSimRoot(root: string): void {
  rmSync(root, { recursive: true, force: true });
}

/** Arm a fault: `scenario` (e.g. "exit:17", "17-dpkg-lock", "hang", "slow:2"), optionally for `times` uses only. */
export function setFault(root: string, point: FaultPoint, scenario: string, times?: number): void {
  const p = simPaths(root);
  mkdirSync(p.faultsDir, { recursive: true });
  writeFileSync(p.fault(point), times === undefined ? `${scenario}\n` : `${scenario}\ntimes=${times}\n`);
}

export function clearFault(root: string, point: FaultPoint): void {
  rmSync(simPaths(root).fault(point), { force: true });
}

export interface SimCall {
  tool: "bundle" | "omsadmin" | "service_control";
  args: string[];
  /** Value of LC_ALL in the caller's environment, or null when it was unset. */
  lcAll: string | null;
  /** The raw calls.log line. */
  line: string;
}

/** The calls recorded in `<root>/.omssim/calls.log`, oldest first. */
export function readCalls(root: string): SimCall[] {
  const file = simPaths(root).callsLog;
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((line) => {
      const tab = line.lastIndexOf("\t");
      const words = unquoteWords(line.slice(0, tab));
      const lc = line.slice(tab + 1);
      const lcValue = lc === "LC_ALL=<unset>" ? null : unquoteWords(lc.slice("LC_ALL=".length)).join(" ");
      return { tool: words[0] as SimCall["tool"], args: words.slice(1), lcAll: lcValue, line };
    });
}

/** Inverse of the simulator's sim_quote (plain words, '...' with '\'' and \n \t \\ escapes inside quotes). */
export function unquoteWords(text: string): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === " ") {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else if (c === "'") {
      inWord = true;
      for (i++; i < text.length && text[i] !== "'"; i++) {
        if (text[i] === "\\" && i + 1 < text.length) {
          const n = text[++i]!;
          cur += n === "n" ? "\n" : n === "t" ? "\t" : n;
        } else {
          cur += text[i];
        }
      }
    } else if (c === "\\" && i + 1 < text.length) {
      inWord = true;
      cur += text[++i];
    } else {
      inWord = true;
      cur += c;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/**
 * `running`, `stopped` or `disabled`; undefined when the workspace's service was never started. `running` only
 * while the agent's process (named by its pid file) is alive: an agent that died is `stopped`.
 */
export function serviceState(root: string, workspaceId: string): string | undefined {
  const f = simPaths(root).serviceState(workspaceId);
  if (!existsSync(f)) return undefined;
  const state = readFileSync(f, "utf8").trim();
  return state === "running" && agentPid(root, workspaceId) === undefined ? "stopped" : state;
}

/** The pid of the workspace's simulated agent daemon when its pid file names a live process. */
export function agentPid(root: string, workspaceId: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(simPaths(root).agentPidFile(workspaceId), "utf8").trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** The agent dies (as after a crash or `kill`): its pid file stays, naming a process that is gone. */
export async function killAgent(root: string, workspaceId: string): Promise<void> {
  const pid = agentPid(root, workspaceId);
  if (pid === undefined) throw new Error(`the agent of ${workspaceId} is not running`);
  process.kill(pid, "SIGKILL");
  while (agentPid(root, workspaceId) !== undefined) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Someone runs `omsadmin.sh -x <workspace>` by hand: the workspace is offboarded (its omsadmin.conf gone). */
export function offboard(root: string, workspaceId: string): void {
  const removed = spawnSync(simPaths(root).omsadmin, ["-x", workspaceId], { env: { ...process.env, OMS_HANDLER_ROOT: root }, encoding: "utf8" });
  if (removed.status !== 0) throw new Error(`omsadmin.sh -x ${workspaceId} exited ${removed.status}: ${removed.stdout}${removed.stderr}`);
}

/** Installed simulated packages and their versions. */
export function installedPackages(root: string): Record<string, string> {
  const dir = simPaths(root).packagesDir;
  const out: Record<string, string> = {};
  for (const name of ["omi", "scx", "omsagent", "omsconfig", "docker-cimprov"]) {
    const f = join(dir, name);
    if (existsSync(f)) out[name] = readFileSync(f, "utf8").trim();
  }
  return out;
}
