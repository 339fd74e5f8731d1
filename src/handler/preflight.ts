// Checks before install touches anything: a supported OS and architecture, room on the agent's
// filesystems, and the tools the OMS bundle needs. Each failure names what was found.
import { accessSync, constants, existsSync, readFileSync, statfsSync } from "node:fs";
import { dirname, join } from "node:path";
import matrix from "./data/supported-distributions.json" with { type: "json" };
import { ExtensionError } from "./errors.ts";
import { STANDARD_BIN_DIRS, type SystemPaths } from "./paths.ts";
import { runChild } from "./process.ts";
import type { Reason } from "./reasons.ts";
import type { ToolContext } from "./tool.ts";

export interface OsRelease {
  id: string;
  versionId: string;
  prettyName?: string;
}

export function parseOsRelease(text: string): OsRelease {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^\s*([A-Z_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (match) values.set(match[1]!, match[2]!.replace(/^["']|["']$/g, ""));
  }
  return { id: (values.get("ID") ?? "").toLowerCase(), versionId: values.get("VERSION_ID") ?? "", prettyName: values.get("PRETTY_NAME") };
}

function versionMatches(allowed: string, actual: string): boolean {
  const want = allowed.split(".");
  const have = actual.split(".");
  if (have.length < want.length) return false;
  return want.every((part, i) => Number(part) === Number(have[i]) && /^\d+$/.test(have[i] ?? ""));
}

/** The matching distribution name, or undefined when the OS is not in the matrix. */
export function supportedDistribution(os: OsRelease): string | undefined {
  for (const entry of matrix.distributions) {
    // Derivatives name themselves <base>_<variant> or <base>-<variant> (sles_sap, opensuse-leap); the legacy
    // handler's plain prefix match accepted them, and also unrelated IDs such as "olympus" for "ol".
    const idMatches = entry.ids.some((id) => os.id === id || os.id.startsWith(`${id}-`) || os.id.startsWith(`${id}_`));
    if (idMatches && entry.versions.some((v) => versionMatches(v, os.versionId))) return entry.name;
  }
  return undefined;
}

export function checkOperatingSystem(paths: SystemPaths): string {
  let os: OsRelease;
  try {
    os = parseOsRelease(readFileSync(paths.osRelease, "utf8"));
  } catch {
    throw new ExtensionError(
      "UnknownOperatingSystem",
      `the operating system could not be identified (${paths.osRelease} is missing)`,
      "run the agent on a supported distribution (see the README's list)",
    );
  }
  const name = supportedDistribution(os);
  if (!name) {
    const list = matrix.distributions.map((d) => `${d.name} ${d.versions.join("/")}`).join(", ");
    throw new ExtensionError(
      "UnsupportedOperatingSystem",
      `${os.prettyName ?? `${os.id} ${os.versionId}`} (ID=${os.id}, VERSION_ID=${os.versionId}) is not supported by the Log Analytics agent`,
      `use a supported distribution (${list}) or move to the Azure Monitor Agent`,
    );
  }
  return `${name} ${os.versionId}`;
}

export function checkArchitecture(arch: string = process.arch): void {
  if (arch !== "x64") {
    throw new ExtensionError(
      "UnsupportedArchitecture",
      `this machine's architecture is ${arch}; the Log Analytics agent is x86_64 only`,
      "use an x86_64 machine or the Azure Monitor Agent",
    );
  }
}

function nearestExisting(path: string): string {
  let current = path;
  while (!existsSync(current) && dirname(current) !== current) current = dirname(current);
  return current;
}

export function checkDiskSpace(paths: SystemPaths, minFreeMb: number): void {
  const short: string[] = [];
  for (const path of paths.diskChecks) {
    const stats = statfsSync(nearestExisting(path));
    const freeMb = Math.floor((Number(stats.bavail) * Number(stats.bsize)) / (1024 * 1024));
    if (freeMb < minFreeMb) short.push(`${path.slice(paths.root.replace(/\/$/, "").length) || path} has ${freeMb} MB free`);
  }
  if (short.length > 0) {
    throw new ExtensionError(
      "InsufficientDiskSpace",
      `${short.join(", ")}; the agent needs ${minFreeMb} MB on each of /var, /etc and /opt`,
      "free up space on those filesystems and retry",
    );
  }
}

/** Finds an executable in the machine's standard directories (under the re-rooted system root). */
export function findTool(paths: SystemPaths, name: string): string | undefined {
  for (const dir of STANDARD_BIN_DIRS) {
    const candidate = join(paths.root, dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

interface MissingTool {
  reason: Reason;
  what: string;
}

/** tar, sed, curl, openssl and a python with ctypes: what the bundle's own prerequisite checks want. */
export async function checkTools({ paths, childEnv, deadline, log }: ToolContext): Promise<void> {
  const missing: MissingTool[] = [];
  if (!findTool(paths, "tar")) missing.push({ reason: "TarMissing", what: "tar" });
  if (!findTool(paths, "sed")) missing.push({ reason: "SedMissing", what: "sed" });
  if (!findTool(paths, "curl")) missing.push({ reason: "CurlMissing", what: "curl" });
  if (!findTool(paths, "openssl")) missing.push({ reason: "OpenSslMissing", what: "openssl" });
  const python = ["python3", "python2", "python"].map((name) => findTool(paths, name)).find(Boolean);
  if (!python) {
    missing.push({ reason: "PythonMissing", what: "python (python3 or python2)" });
  } else {
    const probe = await runChild({ label: "python ctypes check", file: python, args: ["-c", "import ctypes"], timeoutMs: 30_000, childEnv }, deadline, log);
    if (probe.exitCode !== 0)
      missing.push({ reason: "PythonCtypesMissing", what: `the ctypes module for ${python.slice(paths.root.replace(/\/$/, "").length)}` });
  }
  if (missing.length === 0) return;
  const first = missing[0]!;
  throw new ExtensionError(
    first.reason,
    `the OMS bundle needs ${missing.map((m) => m.what).join(", ")}, which ${missing.length === 1 ? "is" : "are"} not installed`,
    `install ${missing.map((m) => m.what.replace(/^the ctypes module for .*/, "python's ctypes module")).join(", ")} with the distribution's package manager, then retry`,
  );
}
