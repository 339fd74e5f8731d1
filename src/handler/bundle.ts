// The OMS shell bundle shipped in packages/: found, checksum-verified, run (every run goes through runBundle),
// and its exit code and output turned into one of our error codes through its failure table (tool.ts).
import { chmodSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ExtensionError } from "./errors.ts";
import { runChild } from "./process.ts";
import { classifyExit, type Exit, type FailureTable, type Row, type ToolContext } from "./tool.ts";
import { sha256Hex } from "./sha256.ts";

const BUNDLE_PATTERN = /^omsagent-(.+)\.universal\.x64\.sh$/;

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
  const actual = sha256Hex(readFileSync(bundle.path));
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

const LOCKED =
  /is locked by another process|dpkg frontend lock|dpkg status database is locked|Could not get lock|waiting for transaction lock|rpmdb: .*lock|\brpm\.lock\b|cannot open Packages database|Another app is currently holding the yum lock|System management is locked/i;
const DEPENDENCY =
  /Failed dependencies:|is needed by|Unmet dependencies|conflicts with file from package|libc6 is not installed|libpam-runtime is not installed|\/bin\/sh is needed|Depends: /;
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

interface BundleExit extends Exit {
  /** What the run was doing, for the messages: "installing the agent" or "removing the agent". */
  step: string;
}

const fixCause = (): string => `fix the cause shown in the details (${LOG_HINT}), then retry`;
const unsupportedOpenSsl =
  (action: string): Row<BundleExit> =>
  (exit) => ({
    reason: "UnsupportedOpenSsl",
    problem: `this system's OpenSSL is not supported by the Log Analytics agent${quoteLine(firstMatchingLine(exit.output, OPENSSL))}`,
    action,
  });
const rejectedOptions: Row<BundleExit> = ({ exitCode }) => ({
  reason: "BundleRejectedOptions",
  problem: `the OMS bundle rejected the handler's options (exit ${exitCode})`,
  action: "report this handler bug with extension.log attached",
});

/**
 * What a failed bundle run means. Output evidence wins over the exit code where it is specific (a locked or
 * broken package manager shows up under several exit codes).
 */
const BUNDLE_FAILURES: FailureTable<BundleExit> = {
  evidence: [
    {
      when: ({ exitCode, output }) => exitCode !== 0 && LOCKED.test(output),
      row: ({ output, step }) => ({
        reason: "PackageManagerLocked",
        problem: `the package manager was locked by another process while ${step}${quoteLine(firstMatchingLine(output, LOCKED))}`,
        action: "wait for the other package operation (updates, cloud-init, another extension) to finish, then retry",
      }),
    },
    {
      when: ({ exitCode, output }) => [17, 19, 22, 52].includes(exitCode) && DEPENDENCY.test(output),
      row: ({ output }) => ({
        reason: "MissingDependency",
        problem: `a package the agent needs is missing${quoteLine(firstMatchingLine(output, DEPENDENCY))}`,
        action: "install the missing package with the distribution's package manager, then retry",
      }),
    },
    {
      when: ({ exitCode, output }) => exitCode !== 0 && /Cannot allocate memory/.test(output),
      row: ({ step }) => ({
        reason: "InsufficientMemory",
        problem: `the machine ran out of memory while ${step}`,
        action: "free memory or use a larger VM size, then retry",
      }),
    },
    {
      when: ({ exitCode, output }) => exitCode !== 0 && /Errors were encountered while processing:/.test(output),
      row: () => ({
        reason: "PackageConfigurationFailed",
        problem: `the package manager failed to configure a package (often a pending systemd trigger)`,
        action: "run 'dpkg --configure -a' (or fix the package named in extension.log), then retry",
      }),
    },
  ],
  exitCodes: {
    2: rejectedOptions,
    3: rejectedOptions,
    4: () => ({
      reason: "WrongPackageFormat",
      problem: "the bundle's packages do not match this system's package manager (rpm vs dpkg)",
      action: "use a distribution the Log Analytics agent supports",
    }),
    5: () => ({ reason: "NotRunningAsRoot", problem: "the OMS bundle must run as root", action: "run the guest agent as root (its default)" }),
    6: () => ({ reason: "UnsupportedArchitecture", problem: "the bundle's packages are for a different CPU architecture", action: "use an x86_64 machine" }),
    17: () => ({ reason: "OmsAgentInstallFailed", problem: "the omsagent package failed to install", action: fixCause() }),
    18: () => ({
      reason: "OmsConfigInstallFailed",
      problem: "the omsconfig package failed to install",
      action: `check python and the details (${LOG_HINT}), then retry`,
    }),
    19: () => ({ reason: "OmiInstallFailed", problem: "the OMI package failed to install", action: fixCause() }),
    20: () => ({ reason: "ScxInstallFailed", problem: "the SCX package failed to install", action: fixCause() }),
    21: () => ({
      reason: "ProviderKitsInstallFailed",
      problem: "an SCX provider kit (e.g. docker, apache, mysql) failed to install",
      action: "retry; for the Docker provider, set skipDockerProviderInstall to true if Docker is not used",
    }),
    22: () => ({ reason: "BundledPackageInstallFailed", problem: "a bundled package (e.g. auoms) failed to install", action: fixCause() }),
    23: () => ({
      reason: "IncompatibleVersionInstalled",
      problem: "SCX or OMI is already installed at a version the bundle cannot upgrade",
      action: "remove the existing scx/omi packages (or upgrade them), then retry",
    }),
    30: () => ({
      reason: "BundleInternalError",
      problem: "the OMS bundle reported an internal error (exit 30)",
      action: `retry; if it persists, report it with extension.log attached`,
    }),
    52: () => ({
      reason: "MissingDependency",
      problem: "a dependency of the agent is missing or could not be set up (e.g. disk space, OMI service reload)",
      action: fixCause(),
    }),
    55: (exit) =>
      OPENSSL.test(exit.output)
        ? unsupportedOpenSsl(
            "the agent bundle accepts OpenSSL 1.0.1+, 1.1.x and 3.0.x; use a distribution release that ships one or move to the Azure Monitor Agent",
          )(exit)
        : {
            reason: "CurlInstallFailed",
            problem: "the OMS bundle could not find curl and could not install it (are the package repositories reachable?)",
            action: "install curl with the distribution's package manager, then retry",
          },
    60: (exit) =>
      OPENSSL.test(exit.output)
        ? unsupportedOpenSsl("use a distribution release with OpenSSL 1.0.1+, 1.1.x or 3.0.x or move to the Azure Monitor Agent")(exit)
        : { reason: "PythonMissing", problem: "the OMS bundle needs python, which is not installed", action: "install python3 (or python2), then retry" },
    61: () => ({
      reason: "PythonCtypesMissing",
      problem: "python's ctypes module is missing",
      action: "install the python ctypes package (e.g. python3-ctypes or libffi), then retry",
    }),
    62: () => ({ reason: "TarMissing", problem: "tar is not installed", action: "install tar, then retry" }),
    63: () => ({ reason: "SedMissing", problem: "sed is not installed", action: "install sed, then retry" }),
    65: () => ({ reason: "GpgMissing", problem: "gpg is not installed", action: "install gpg, then retry" }),
    66: () => ({
      reason: "UnsupportedPackageManager",
      problem: "this system uses a package manager the bundle does not support (it needs dpkg or rpm)",
      action: "use a distribution the Log Analytics agent supports",
    }),
    127: () => ({
      reason: "CommandNotFound",
      problem: "a command the bundle needs was not found",
      action: `install the command named in the details (${LOG_HINT}), then retry`,
    }),
  },
  otherwise: ({ exitCode, output, step }) =>
    /Permission denied/.test(output)
      ? {
          reason: "PermissionDenied",
          problem: `permission was denied while ${step}${quoteLine(firstMatchingLine(output, /Permission denied/))}`,
          action: "check that the guest agent runs as root and that /opt, /etc/opt and /var/opt are writable (not read-only or noexec), then retry",
        }
      : { reason: "BundleFailed", problem: `the OMS bundle failed with exit code ${exitCode}`, action: `${LOG_HINT}, fix the cause, then retry` },
};

export type BundleMode = "upgrade" | "remove";

export function classifyBundleFailure(exitCode: number, output: string, mode: BundleMode): ExtensionError {
  return classifyExit(BUNDLE_FAILURES, { exitCode, output, step: mode === "upgrade" ? "installing the agent" : "removing the agent" });
}

/** Runs `bundle --<mode> [extra]`; a bundle that fails or outlives the deadline throws its classified error. */
export async function runBundle({ childEnv, deadline, log }: ToolContext, bundle: Bundle, mode: BundleMode, extra: string[]): Promise<void> {
  // The guest agent's unzip drops file modes; root only needs execute permission on the file itself.
  chmodSync(bundle.path, 0o744);
  const result = await runChild(
    { label: "bundle", file: bundle.path, args: [`--${mode}`, ...extra], timeoutMs: deadline.remainingMs(), cwd: join(bundle.path, ".."), childEnv },
    deadline,
    log,
  );
  if (result.timedOut) throw bundleTimedOut(Math.round(result.durationMs / 1000));
  if (result.exitCode !== 0) throw classifyBundleFailure(result.exitCode, result.output, mode);
}

function bundleTimedOut(seconds: number): ExtensionError {
  return new ExtensionError(
    "BundleTimedOut",
    `the OMS bundle was still running after ${seconds} s and was stopped (usually the package manager waiting on a lock or a slow package download)`,
    "check extension.log for its last lines, resolve what it was waiting for, then retry",
  );
}
