// Every row of the error table that the simulated toolchain (or the machine) can trigger, through the real
// handler process: the documented code, in the exit code and the status file, with a message that names
// the cause and the fix.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createSimulatedVm, WORKSPACE_ID, WORKSPACE_KEY, type SimulatedVm } from "../../simulator/vm.ts";
import { offboard } from "../../simulator/oms/sim.ts";

const SETTINGS = { publicSettings: { workspaceId: WORKSPACE_ID }, protectedSettings: { workspaceKey: WORKSPACE_KEY } };
const MESSAGE = /^(Install|Enable|Disable|Uninstall|Update) failed \((\d+) ([A-Za-z]+)\): .{10,} — .{10,}$/;

const vms: SimulatedVm[] = [];
after(() => Promise.all(vms.map((vm) => vm.close())));

async function newVm(options: Parameters<typeof createSimulatedVm>[0] = {}): Promise<{ vm: SimulatedVm; version: string }> {
  const vm = await createSimulatedVm(options);
  vms.push(vm);
  const version = [...vm.staged.keys()][0]!;
  vm.agent.setup({ dir: vm.staged.get(version)!.dir }, { seq: 0, settings: SETTINGS });
  return { vm, version };
}

/** `omsadmin.sh -x` by hand: the workspace is disconnected and the next enable must onboard it. */
async function expectFailure(
  vm: SimulatedVm,
  version: string,
  op: "install" | "enable" | "disable" | "uninstall",
  code: number,
  reason: string,
  extraEnv?: Record<string, string>,
): Promise<string> {
  const result = await vm.agent.run(version, op, { extraEnv });
  const status = vm.agent.readStatus(version);
  assert.equal(result.exitCode, code, `${status.message}\n${result.output}`);
  assert.equal(status.status, "error");
  assert.equal(status.code, code);
  const match = MESSAGE.exec(status.message);
  assert.ok(match, `message form: ${status.message}`);
  assert.equal(Number(match[2]), code);
  assert.equal(match[3], reason);
  assert.ok(Buffer.byteLength(status.message) <= 1024);
  // eslint-disable-next-line no-control-regex -- looking for the ESC that starts a colour code
  assert.doesNotMatch(status.message, /\x1b\[/, "no terminal colour codes");
  assert.equal(result.stderr.trim(), status.message, "stderr carries the same sentence");
  return status.message;
}

describe("install: every bundle outcome", () => {
  let vm: SimulatedVm;
  let version: string;
  before(async () => ({ vm, version } = await newVm()));

  const cases: [string, number, string][] = [
    ["exit:2", 30, "BundleRejectedOptions"],
    ["exit:3", 30, "BundleRejectedOptions"],
    ["exit:4", 51, "WrongPackageFormat"],
    ["exit:5", 52, "NotRunningAsRoot"],
    ["exit:6", 51, "UnsupportedArchitecture"],
    ["exit:17", 17, "OmsAgentInstallFailed"],
    ["17-dependencies", 52, "MissingDependency"],
    ["17-oom", 52, "InsufficientMemory"],
    ["17-triggers", 52, "PackageConfigurationFailed"],
    ["permission-denied", 17, "OmsAgentInstallFailed"],
    ["exit:18", 18, "OmsConfigInstallFailed"],
    ["exit:19", 19, "OmiInstallFailed"],
    ["19-dependencies", 52, "MissingDependency"],
    ["exit:20", 20, "ScxInstallFailed"],
    ["exit:21", 21, "ProviderKitsInstallFailed"],
    ["exit:22", 22, "BundledPackageInstallFailed"],
    ["exit:23", 23, "IncompatibleVersionInstalled"],
    ["exit:30", 30, "BundleInternalError"],
    ["exit:52", 52, "MissingDependency"],
    ["52-disk", 52, "MissingDependency"],
    ["55-openssl", 60, "UnsupportedOpenSsl"],
    ["55-curl", 55, "CurlInstallFailed"],
    ["60-python", 52, "PythonMissing"],
    ["60-openssl", 60, "UnsupportedOpenSsl"],
    ["exit:61", 61, "PythonCtypesMissing"],
    ["exit:62", 62, "TarMissing"],
    ["62-extract", 62, "TarMissing"],
    ["exit:63", 63, "SedMissing"],
    ["exit:65", 52, "GpgMissing"],
    ["exit:66", 51, "UnsupportedPackageManager"],
    ["127", 52, "CommandNotFound"],
    ["exit:99", 30, "BundleFailed"],
  ];
  for (const [scenario, code, reason] of cases) {
    test(`bundle ${scenario} → ${code} ${reason}`, async () => {
      vm.fault("bundle-upgrade", scenario, 1);
      await expectFailure(vm, version, "install", code, reason);
    });
  }

  for (const scenario of ["17-dpkg-lock", "17-rpm-lock", "19-dpkg-lock", "19-rpmdb", "52-dpkg-lock"]) {
    test(`bundle ${scenario}: retried, then 55 PackageManagerLocked`, async () => {
      const runs = () => vm.calls().filter((line) => line.startsWith("bundle --upgrade")).length;
      const before = runs();
      vm.fault("bundle-upgrade", scenario, 3);
      await expectFailure(vm, version, "install", 55, "PackageManagerLocked");
      assert.equal(runs() - before, 3, "three runs, each after waiting for the lock");
    });
  }

  test("a lock that clears between runs: the retry installs", async () => {
    const before = vm.calls().filter((line) => line.startsWith("bundle --upgrade")).length;
    vm.fault("bundle-upgrade", "17-dpkg-lock", 1);
    assert.equal((await vm.agent.run(version, "install")).exitCode, 0);
    assert.equal(vm.calls().filter((line) => line.startsWith("bundle --upgrade")).length - before, 2);
  });
});

describe("enable: every omsadmin.sh outcome", () => {
  let vm: SimulatedVm;
  let version: string;
  before(async () => {
    ({ vm, version } = await newVm());
    assert.equal((await vm.agent.run(version, "install")).exitCode, 0);
  });

  const cases: [string, number, string, number?][] = [
    ["exit:2", 30, "OnboardingInvalidOptions"],
    ["exit:3", 53, "InvalidWorkspaceConfiguration"],
    ["3-guid", 53, "InvalidWorkspaceConfiguration"],
    ["exit:4", 53, "ProxyRejected"],
    ["4-connect", 53, "ProxyRejected"],
    ["5-key", 53, "WorkspaceKeyRejected"],
    ["5-missing-header", 53, "WorkspaceKeyRejected"],
    ["5-clock", 53, "ClockSkewOrKeyRejected"],
    ["exit:6", 55, "ServiceUnavailable", 3],
    ["6-503", 55, "ServiceUnavailable", 3],
    ["exit:7", 55, "CannotResolveHost"],
    ["exit:8", 55, "ServiceUnreachable", 3],
    ["exit:30", 30, "OnboardingInternalError"],
    ["exit:31", 30, "OnboardingInternalError"],
    ["exit:32", 30, "OnboardingInternalError"],
    ["exit:33", 33, "MetaConfigurationFailed"],
    ["33-permission", 33, "MetaConfigurationFailed"],
    ["exit:34", 33, "MetaConfigurationFailed"],
    ["exit:60", 52, "PythonMissing"],
    ["exit:1", 30, "OnboardingFailed"],
  ];
  for (const [scenario, code, reason, times] of cases) {
    test(`omsadmin ${scenario} → ${code} ${reason}`, async () => {
      // Like the real omsadmin.sh, the simulated one skips onboarding for a running workspace and fails 33/34 only
      // after onboarding it: each case starts from a machine where the workspace is not connected.
      offboard(vm.root, WORKSPACE_ID);
      vm.fault("omsadmin-onboard", scenario, times ?? 1);
      await expectFailure(vm, version, "enable", code, reason);
      vm.clearFaults();
    });
  }

  test("a transient service error is retried and then succeeds", async () => {
    vm.fault("omsadmin-onboard", "exit:6", 1);
    assert.equal((await vm.agent.run(version, "enable")).exitCode, 0);
    assert.match(vm.extensionLog(), /onboarding attempt 1 failed \(ServiceUnavailable\); retrying/);
  });

  test("omsadmin hanging past the deadline → 55 OnboardingTimedOut", async () => {
    vm.agent.writeSettings(Number(vm.agent.goalStateSeq) + 1, SETTINGS);
    vm.fault("omsadmin-onboard", "hang", 1);
    await expectFailure(vm, version, "enable", 55, "OnboardingTimedOut", { OMS_HANDLER_DEADLINE_SECONDS: "3" });
  });
});

describe("disable: every service_control outcome", () => {
  let vm: SimulatedVm;
  let version: string;
  before(async () => {
    ({ vm, version } = await newVm());
    assert.ok((await vm.agent.firstInstall(version)).ok);
  });
  const cases: [string, number, string][] = [
    ["exit:1", 30, "ServiceControlFailed"],
    ["exit:2", 30, "ServiceControlFailed"],
    ["permission-denied", 30, "ServiceControlFailed"],
    ["exit:21", 30, "AgentFilesMissing"],
    ["exit:22", 30, "ServiceControlFailed"],
    ["exit:30", 30, "ServiceControlFailed"],
    ["exit:67", 52, "ServiceManagerMissing"],
    ["exit:68", 30, "ServiceControlFailed"],
    ["exit:69", 30, "ServiceControlFailed"],
    ["exit:72", 30, "ServiceControlRejectedOptions"],
    ["exit:75", 30, "ServiceControlRejectedOptions"],
    ["exit:77", 52, "NotRunningAsRoot"],
  ];
  for (const [scenario, code, reason] of cases) {
    test(`service_control disable ${scenario} → ${code} ${reason}`, async () => {
      vm.fault("service_control-disable", scenario, 1);
      await expectFailure(vm, version, "disable", code, reason);
    });
  }
  test("service_control hanging past the deadline → 30 ServiceControlTimedOut", async () => {
    vm.fault("service_control-disable", "hang", 1);
    await expectFailure(vm, version, "disable", 30, "ServiceControlTimedOut", { OMS_HANDLER_DEADLINE_SECONDS: "3" });
  });
});

describe("uninstall: bundle --remove outcomes", () => {
  test("a locked package manager during removal → 55", async () => {
    const { vm, version } = await newVm();
    assert.ok((await vm.agent.firstInstall(version)).ok);
    vm.fault("bundle-remove", "17-dpkg-lock", 1);
    await expectFailure(vm, version, "uninstall", 55, "PackageManagerLocked");
  });
});

describe("preflight and package checks", () => {
  test("unsupported distribution → 51 naming it", async () => {
    const { vm, version } = await newVm({ osRelease: { id: "ubuntu", versionId: "24.04", prettyName: "Ubuntu 24.04.1 LTS" } });
    const message = await expectFailure(vm, version, "install", 51, "UnsupportedOperatingSystem");
    assert.match(message, /Ubuntu 24\.04\.1 LTS/);
    assert.deepEqual(vm.calls(), [], "nothing ran");
  });

  test("no /etc/os-release → 51", async () => {
    const { vm, version } = await newVm({ osRelease: null });
    await expectFailure(vm, version, "install", 51, "UnknownOperatingSystem");
  });

  test("low disk space → 52 naming the filesystems", async () => {
    const { vm, version } = await newVm();
    const message = await expectFailure(vm, version, "install", 52, "InsufficientDiskSpace", { OMS_HANDLER_MIN_FREE_MB: "999999999" });
    assert.match(message, /\/var has \d+ MB free/);
  });

  for (const [tools, code, reason] of [
    [["sed", "curl", "openssl", "python3"], 62, "TarMissing"],
    [["tar", "curl", "openssl", "python3"], 63, "SedMissing"],
    [["tar", "sed", "openssl", "python3"], 52, "CurlMissing"],
    [["tar", "sed", "curl", "python3"], 52, "OpenSslMissing"],
    [["tar", "sed", "curl", "openssl"], 52, "PythonMissing"],
  ] as const) {
    test(`missing tool → ${code} ${reason}`, async () => {
      const { vm, version } = await newVm({ tools: [...tools] });
      await expectFailure(vm, version, "install", code, reason);
    });
  }

  test("python without ctypes → 61", async () => {
    const { vm, version } = await newVm({ tools: ["tar", "sed", "curl", "openssl"] });
    const fake = join(vm.root, "usr/bin/python3");
    writeFileSync(fake, "#!/bin/sh\necho 'ModuleNotFoundError: No module named _ctypes' >&2\nexit 1\n", { mode: 0o755 });
    await expectFailure(vm, version, "install", 61, "PythonCtypesMissing");
  });

  test("a tampered bundle → 30 BundleChecksumMismatch, and it is not run", async () => {
    const { vm, version } = await newVm();
    const bundle = join(vm.agent.baseDir(version), "packages", vm.staged.get(version)!.bundleName);
    appendFileSync(bundle, "\necho tampered\n");
    await expectFailure(vm, version, "install", 30, "BundleChecksumMismatch");
    assert.deepEqual(vm.calls(), []);
  });

  test("a package manager locked past the wait → 55 naming the holder", async () => {
    const { vm, version } = await newVm();
    const lock = join(vm.root, "var/lib/dpkg/lock-frontend");
    mkdirSync(join(vm.root, "var/lib/dpkg"), { recursive: true });
    writeFileSync(lock, "");
    const holder = spawn("flock", [lock, "sleep", "30"], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const message = await expectFailure(vm, version, "install", 55, "PackageManagerLocked", { OMS_HANDLER_PACKAGE_LOCK_WAIT_SECONDS: "2" });
      assert.match(message, new RegExp(`/var/lib/dpkg/lock-frontend is held by pid ${holder.pid} \\(flock\\) and was still held after \\d+ s`));
      assert.deepEqual(vm.calls(), [], "the bundle never ran");
    } finally {
      holder.kill("SIGKILL");
      rmSync(lock, { force: true });
    }
  });

  test("an unexpected exception → 30 with a readable message; the stack only in extension.log", async () => {
    const { vm, version } = await newVm();
    // The handler's state directory is a file: nothing the handler expects, so an internal error.
    writeFileSync(join(vm.agent.libDir, "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux"), "not a directory");
    const message = await expectFailure(vm, version, "install", 30, "UnexpectedError");
    assert.match(message, /the handler hit an unexpected error \(.*(EEXIST|ENOTDIR).*\)/);
    assert.doesNotMatch(message, /\n|\s+at \S+ \(/, "no stack in the status");
    assert.match(vm.extensionLog(), /"stack":"Error: .*\\n\s+at /, "the stack is in the log");
  });

  test("a broken HandlerEnvironment.json → 30, status written where the agent looks", async () => {
    const { vm, version } = await newVm();
    writeFileSync(join(vm.agent.baseDir(version), "HandlerEnvironment.json"), "{ broken");
    const result = await vm.agent.run(version, "install");
    assert.equal(result.exitCode, 30);
    assert.match(vm.agent.readStatus(version, 0).message, /^Install failed \(30 HandlerEnvironmentInvalid\)/);
  });
});
