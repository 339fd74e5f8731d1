// The OMS shell bundle shipped in packages/: found, checksum-verified, run, and its exit code and output
// turned into one of our error codes. The classification is a pure function so every row can be tested.
import { createHash } from "node:crypto";
import { chmodSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Deadline } from "./deadline.ts";
import { errorsWithDetails, ExtensionError } from "./errors.ts";
import type { Logger } from "./log-line.ts";
import { outputTail, runChild, type ChildResult } from "./process.ts";

export const BUNDLE_PATTERN = /^omsagent-(.+)\.universal\.x64\.sh$/;

export interface Bundle {
  path: string;
  /** e.g. 1.14.23-0, from the file name. */
  version: string;
}

const LOG_HINT = "see extension.log for the bundle's output";

export function locateBundle(extensionDir: string): Bundle {
  const dir = join(extensionDir, "packages");
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    // Reported below.
  }
  const bundles = entries.filter((name) => BUNDLE_PATTERN.test(name));
  if (bundles.length !== 1) {
    throw new ExtensionError(
      "BundleMissing",
      bundles.length === 0 ? `no OMS bundle (omsagent-<version>.universal.x64.sh) in ${dir}` : `several OMS bundles in ${dir}: ${bundles.join(", ")}`,
      "the extension package is damaged: remove the extension and add it again",
    );
  }
  const name = bundles[0]!;
  return { path: join(dir, name), version: BUNDLE_PATTERN.exec(name)![1]! };
}

/** The bundle must match packages/<name>.sha256sums before it runs as root. */
export function verifyBundle(bundle: Bundle): void {
  const sumsPath = bundle.path.replace(/\.sh$/, ".sha256sums");
  const name = bundle.path.slice(bundle.path.lastIndexOf("/") + 1);
  let expected: string | undefined;
  try {
    expected = readFileSync(sumsPath, "utf8")
      .split("\n")
      .map((line) => /^([0-9a-f]{64})\s+\*?(.+)$/i.exec(line.trim()))
      .find((match) => match?.[2] === name)?.[1]
      ?.toLowerCase();
  } catch {
    // Reported below.
  }
  const actual = createHash("sha256").update(readFileSync(bundle.path)).digest("hex");
  if (expected !== actual) {
    throw new ExtensionError(
      "BundleChecksumMismatch",
      expected === undefined
        ? `no checksum for ${name} in ${sumsPath}`
        : `${name} does not match its checksum (expected ${expected.slice(0, 12)}…, found ${actual.slice(0, 12)}…)`,
      "the extension package is damaged or was modified: remove the extension and add it again",
    );
  }
}

const LOCKED = /is locked by another process|dpkg frontend lock|dpkg status database is locked|Could not get lock|waiting for transaction lock|rpmdb: .*lock|\brpm\.lock\b|cannot open Packages database|Another app is currently holding the yum lock|System management is locked/i;
const DEPENDENCY = /Failed dependencies:|is needed by|Unmet dependencies|conflicts with file from package|libc6 is not installed|libpam-runtime is not installed|\/bin\/sh is needed|Depends: /;
const OPENSSL = /OpenSSL/i;

function firstMatchingLine(output: string, pattern: RegExp): string | undefined {
  return output
    .split("\n")
    .map((line) => line.trim())
    .find((line) => pattern.test(line));
}

function quoteLine(line: string | undefined): string {
  return line ? ` ("${line.length > 200 ? `${line.slice(0, 200)}…` : line}")` : "";
}

/**
 * Maps a failed bundle run (exit code + output) to our error. Output evidence wins over the exit code
 * where it is specific (a locked or broken package manager shows up under several exit codes).
 */
export function classifyBundleFailure(exitCode: number, output: string, mode: "upgrade" | "remove"): ExtensionError {
  const withDetails = errorsWithDetails(outputTail(output));
  const step = mode === "upgrade" ? "installing the agent" : "removing the agent";

  if (exitCode !== 0 && LOCKED.test(output)) {
    return withDetails("PackageManagerLocked", `the package manager was locked by another process while ${step}${quoteLine(firstMatchingLine(output, LOCKED))}`, "wait for the other package operation (updates, cloud-init, another extension) to finish, then retry");
  }
  if ([17, 19, 22, 52].includes(exitCode) && DEPENDENCY.test(output)) {
    return withDetails("MissingDependency", `a package the agent needs is missing${quoteLine(firstMatchingLine(output, DEPENDENCY))}`, "install the missing package with the distribution's package manager, then retry");
  }
  if (exitCode !== 0 && /Cannot allocate memory/.test(output)) {
    return withDetails("InsufficientMemory", `the machine ran out of memory while ${step}`, "free memory or use a larger VM size, then retry");
  }
  if (exitCode !== 0 && /Errors were encountered while processing:/.test(output)) {
    return withDetails("PackageConfigurationFailed", `the package manager failed to configure a package (often a pending systemd trigger)`, "run 'dpkg --configure -a' (or fix the package named in extension.log), then retry");
  }

  switch (exitCode) {
    case 2:
    case 3:
      return withDetails("BundleRejectedOptions", `the OMS bundle rejected the handler's options (exit ${exitCode})`, "report this handler bug with extension.log attached");
    case 4:
      return withDetails("WrongPackageFormat", "the bundle's packages do not match this system's package manager (rpm vs dpkg)", "use a distribution the Log Analytics agent supports");
    case 5:
      return withDetails("NotRunningAsRoot", "the OMS bundle must run as root", "run the guest agent as root (its default)");
    case 6:
      return withDetails("UnsupportedArchitecture", "the bundle's packages are for a different CPU architecture", "use an x86_64 machine");
    case 17:
      return withDetails("OmsAgentInstallFailed", "the omsagent package failed to install", `fix the cause shown in the details (${LOG_HINT}), then retry`);
    case 18:
      return withDetails("OmsConfigInstallFailed", "the omsconfig package failed to install", `check python and the details (${LOG_HINT}), then retry`);
    case 19:
      return withDetails("OmiInstallFailed", "the OMI package failed to install", `fix the cause shown in the details (${LOG_HINT}), then retry`);
    case 20:
      return withDetails("ScxInstallFailed", "the SCX package failed to install", `fix the cause shown in the details (${LOG_HINT}), then retry`);
    case 21:
      return withDetails("ProviderKitsInstallFailed", "an SCX provider kit (e.g. docker, apache, mysql) failed to install", "retry; for the Docker provider, set skipDockerProviderInstall to true if Docker is not used");
    case 22:
      return withDetails("BundledPackageInstallFailed", "a bundled package (e.g. auoms) failed to install", `fix the cause shown in the details (${LOG_HINT}), then retry`);
    case 23:
      return withDetails("IncompatibleVersionInstalled", "SCX or OMI is already installed at a version the bundle cannot upgrade", "remove the existing scx/omi packages (or upgrade them), then retry");
    case 52:
      return withDetails("MissingDependency", "a dependency of the agent is missing or could not be set up (e.g. disk space, OMI service reload)", `fix the cause shown in the details (${LOG_HINT}), then retry`);
    case 55:
      return OPENSSL.test(output)
        ? withDetails("UnsupportedOpenSsl", `this system's OpenSSL is not supported by the Log Analytics agent${quoteLine(firstMatchingLine(output, OPENSSL))}`, "the agent needs OpenSSL 1.0.x/1.1.x; use a distribution with a supported OpenSSL or move to the Azure Monitor Agent")
        : withDetails("CurlInstallFailed", "the OMS bundle could not find curl and could not install it (are the package repositories reachable?)", "install curl with the distribution's package manager, then retry");
    case 60:
      return OPENSSL.test(output)
        ? withDetails("UnsupportedOpenSsl", `this system's OpenSSL is not supported by the Log Analytics agent${quoteLine(firstMatchingLine(output, OPENSSL))}`, "use a distribution with OpenSSL 1.0.x/1.1.x or move to the Azure Monitor Agent")
        : withDetails("PythonMissing", "the OMS bundle needs python, which is not installed", "install python3 (or python2), then retry");
    case 61:
      return withDetails("PythonCtypesMissing", "python's ctypes module is missing", "install the python ctypes package (e.g. python3-ctypes or libffi), then retry");
    case 62:
      return withDetails("TarMissing", "tar is not installed", "install tar, then retry");
    case 63:
      return withDetails("SedMissing", "sed is not installed", "install sed, then retry");
    case 65:
      return withDetails("GpgMissing", "gpg is not installed", "install gpg, then retry");
    case 66:
      return withDetails("UnsupportedPackageManager", "this system uses a package manager the bundle does not support (it needs dpkg or rpm)", "use a distribution the Log Analytics agent supports");
    case 127:
      return withDetails("CommandNotFound", "a command the bundle needs was not found", `install the command named in the details (${LOG_HINT}), then retry`);
    case 30:
      return withDetails("BundleInternalError", "the OMS bundle reported an internal error (exit 30)", `retry; if it persists, report it with extension.log attached`);
    default:
      if (/Permission denied/.test(output)) {
        return withDetails("PermissionDenied", `permission was denied while ${step}${quoteLine(firstMatchingLine(output, /Permission denied/))}`, "check that the guest agent runs as root and that /opt, /etc/opt and /var/opt are writable (not read-only or noexec), then retry");
      }
      return withDetails("BundleFailed", `the OMS bundle failed with exit code ${exitCode}`, `${LOG_HINT}, fix the cause, then retry`);
  }
}

export async function runBundle(bundle: Bundle, args: string[], timeoutMs: number, deadline: Deadline, log: Logger): Promise<ChildResult> {
  // The guest agent's unzip drops file modes; root only needs execute permission on the file itself.
  chmodSync(bundle.path, 0o744);
  return runChild({ label: "bundle", file: bundle.path, args, timeoutMs, cwd: join(bundle.path, "..") }, deadline, log);
}

export function bundleTimedOut(seconds: number): ExtensionError {
  return new ExtensionError(
    "BundleTimedOut",
    `the OMS bundle was still running after ${seconds} s and was stopped (usually the package manager waiting on a lock or a slow package download)`,
    "check extension.log for its last lines, resolve what it was waiting for, then retry",
  );
}
