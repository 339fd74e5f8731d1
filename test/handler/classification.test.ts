// Every bundle, omsadmin.sh and service_control outcome lands on the published table (the README's error codes).
import assert from "node:assert/strict";
import { test } from "node:test";
import { classifyBundleFailure } from "../../src/handler/bundle.ts";
import { classifyOnboardingFailure, isTransientOnboardingFailure } from "../../src/handler/omsadmin.ts";
import { classifyServiceFailure } from "../../src/handler/service.ts";

const bundleCases: [number, string, number, string][] = [
  [2, "Unknown option --bogus", 30, "BundleRejectedOptions"],
  [3, "", 30, "BundleRejectedOptions"],
  [4, "", 51, "WrongPackageFormat"],
  [5, "This script must be run as root", 52, "NotRunningAsRoot"],
  [6, "", 51, "UnsupportedArchitecture"],
  [17, "Installing omsagent ... failed", 17, "OmsAgentInstallFailed"],
  [17, "error: Failed dependencies:\n\tlibcurl is needed by omsagent", 52, "MissingDependency"],
  [17, "dpkg: error: dpkg frontend lock is locked by another process", 55, "PackageManagerLocked"],
  [17, "Cannot allocate memory", 52, "InsufficientMemory"],
  [17, "Errors were encountered while processing:\n systemd", 52, "PackageConfigurationFailed"],
  [18, "", 18, "OmsConfigInstallFailed"],
  [19, "", 19, "OmiInstallFailed"],
  [19, "E: Could not get lock /var/lib/dpkg/lock-frontend", 55, "PackageManagerLocked"],
  [19, "libc6 is not installed", 52, "MissingDependency"],
  [20, "", 20, "ScxInstallFailed"],
  [21, "", 21, "ProviderKitsInstallFailed"],
  [22, "", 22, "BundledPackageInstallFailed"],
  [23, "", 23, "IncompatibleVersionInstalled"],
  [30, "", 30, "BundleInternalError"],
  [52, "", 52, "MissingDependency"],
  [55, "Error: This system does not have a supported version of OpenSSL installed. This system's OpenSSL version: 3.0.2", 60, "UnsupportedOpenSsl"],
  [55, "Error: curl was not installed", 55, "CurlInstallFailed"],
  [60, "Error: Python is not installed", 52, "PythonMissing"],
  [60, "Unsupported OpenSSL version", 60, "UnsupportedOpenSsl"],
  [61, "", 61, "PythonCtypesMissing"],
  [62, "", 62, "TarMissing"],
  [63, "", 63, "SedMissing"],
  [65, "", 52, "GpgMissing"],
  [66, "", 51, "UnsupportedPackageManager"],
  [127, "sh: 1: rpm: not found", 52, "CommandNotFound"],
  [1, "mkdir: cannot create directory '/opt/x': Permission denied", 52, "PermissionDenied"],
  [99, "", 30, "BundleFailed"],
];

for (const [exit, output, code, reason] of bundleCases) {
  test(`bundle exit ${exit}${output ? ` with "${output.split("\n")[0]!.slice(0, 40)}"` : ""} → ${code} ${reason}`, () => {
    const error = classifyBundleFailure(exit, output, "upgrade");
    assert.equal(error.code, code);
    assert.equal(error.reason, reason);
    assert.ok(error.problem.length > 10 && error.action.length > 10);
  });
}

const onboardCases: [number, string, number, string][] = [
  [2, "", 30, "OnboardingInvalidOptions"],
  [3, "Invalid workspace ID", 53, "InvalidWorkspaceConfiguration"],
  [4, "", 53, "ProxyRejected"],
  [5, "Error onboarding. HTTP code 403, Reason: InvalidWorkspaceKey. Check the Workspace ID", 53, "WorkspaceKeyRejected"],
  [5, "Error onboarding. HTTP code 403, Reason: MissingHeader.", 53, "WorkspaceKeyRejected"],
  [
    5,
    "Error onboarding. HTTP code 403, Reason: . Check the Workspace ID, Workspace Key and that the time of the system is correct.",
    53,
    "ClockSkewOrKeyRejected",
  ],
  [6, "Error onboarding. HTTP code 500", 55, "ServiceUnavailable"],
  [7, "Error resolving host during the onboarding request.", 55, "CannotResolveHost"],
  [8, "Error during the onboarding request: curl returned 35.", 55, "ServiceUnreachable"],
  [30, "", 30, "OnboardingInternalError"],
  [31, "", 30, "OnboardingInternalError"],
  [32, "", 30, "OnboardingInternalError"],
  [33, "", 33, "MetaConfigurationFailed"],
  [33, "Permission denied", 33, "MetaConfigurationFailed"],
  [34, "", 33, "MetaConfigurationFailed"],
  [60, "", 52, "PythonMissing"],
  [99, "", 30, "OnboardingFailed"],
];

for (const [exit, output, code, reason] of onboardCases) {
  test(`omsadmin exit ${exit}${output ? ` with "${output.slice(0, 40)}"` : ""} → ${code} ${reason}`, () => {
    const error = classifyOnboardingFailure(exit, output);
    assert.equal(error.code, code);
    assert.equal(error.reason, reason);
  });
}

test("403 without a key reason names the clock and the local time", () => {
  const error = classifyOnboardingFailure(5, "HTTP code 403, Reason: .", new Date("2026-01-02T03:04:05Z"));
  assert.match(error.problem, /clock/);
  assert.match(error.problem, /2026-01-02T03:04:05/);
});

test("only service-unavailable and connection errors are retried", () => {
  assert.deepEqual([2, 3, 4, 5, 6, 7, 8, 33].filter(isTransientOnboardingFailure), [6, 8]);
});

const serviceCases: [number, number, string][] = [
  [1, 30, "ServiceControlFailed"],
  [3, 30, "ServiceControlFailed"],
  [21, 30, "AgentFilesMissing"],
  [22, 30, "ServiceControlFailed"],
  [30, 30, "ServiceControlFailed"],
  [67, 52, "ServiceManagerMissing"],
  [68, 30, "ServiceControlFailed"],
  [69, 30, "ServiceControlFailed"],
  [72, 30, "ServiceControlRejectedOptions"],
  [75, 30, "ServiceControlRejectedOptions"],
  [77, 52, "NotRunningAsRoot"],
];
for (const [exit, code, reason] of serviceCases) {
  test(`service_control exit ${exit} → ${code} ${reason}`, () => {
    const error = classifyServiceFailure("disable", { exitCode: exit, output: "", stdout: "", stderr: "", timedOut: false, aborted: false, durationMs: 1 });
    assert.equal(error.code, code);
    assert.equal(error.reason, reason);
  });
}
