import assert from "node:assert/strict";
import { test } from "node:test";
import { Deadline } from "../../src/handler/deadline.ts";
import { ExtensionError } from "../../src/handler/errors.ts";
import { silentLogger } from "../../src/handler/log.ts";
import { parseProcLocks } from "../../src/handler/package-manager.ts";
import { systemPaths } from "../../src/handler/paths.ts";
import { parseProcessEnvironment } from "../../src/handler/process-env.ts";
import { checkArchitecture, checkDiskSpace, checkOperatingSystem, checkTools, parseOsRelease, supportedDistribution } from "../../src/handler/preflight.ts";
import { makeSystemRoot, makeTempDir } from "../../simulator/system-root.ts";

const supported: [string, string][] = [
  ["ubuntu", "22.04"],
  ["ubuntu", "16.04"],
  ["rhel", "8.6"],
  ["centos", "7.9.2009"],
  ["debian", "11"],
  ["sles", "15.4"],
  ["ol", "8.5"],
  ["rocky", "9.1"],
  ["almalinux", "8.7"],
  ["amzn", "2"],
  ["opensuse-leap", "15.3"],
  ["sles_sap", "15.4"],
  ["sles_sap", "12.5"],
  ["sles-sap", "15"],
];
const unsupported: [string, string][] = [
  ["ubuntu", "21.04"],
  ["ubuntu", "24.04"],
  ["debian", "12"],
  ["rhel", "6.10"],
  ["centos", "9"],
  ["alpine", "3.18"],
  ["ubuntu", "22"],
  ["debian", "x"],
];

for (const [id, versionId] of supported) test(`${id} ${versionId} is supported`, () => assert.ok(supportedDistribution({ id, versionId })));
for (const [id, versionId] of unsupported) test(`${id} ${versionId} is not supported`, () => assert.equal(supportedDistribution({ id, versionId }), undefined));

test("os-release parsing and the 51 message name what was found", () => {
  assert.deepEqual(parseOsRelease('ID="ubuntu"\nVERSION_ID="21.04"\nPRETTY_NAME="Ubuntu 21.04"\n'), {
    id: "ubuntu",
    versionId: "21.04",
    prettyName: "Ubuntu 21.04",
  });
  const root = makeSystemRoot(makeTempDir(), { osRelease: { id: "ubuntu", versionId: "21.04", prettyName: "Ubuntu 21.04" }, tools: [] });
  assert.throws(
    () => checkOperatingSystem(systemPaths(root)),
    (e: unknown) => e instanceof ExtensionError && e.code === 51 && /Ubuntu 21\.04.*VERSION_ID=21\.04/.test(e.problem),
  );
  const none = makeSystemRoot(makeTempDir(), { osRelease: null, tools: [] });
  assert.throws(
    () => checkOperatingSystem(systemPaths(none)),
    (e: unknown) => e instanceof ExtensionError && e.code === 51,
  );
});

test("architecture other than x64 is 51", () => {
  checkArchitecture("x64");
  assert.throws(
    () => checkArchitecture("arm64"),
    (e: unknown) => e instanceof ExtensionError && e.code === 51 && /arm64/.test(e.problem),
  );
});

test("disk space: names each short filesystem", () => {
  const root = makeSystemRoot(makeTempDir(), { tools: [] });
  checkDiskSpace(systemPaths(root), 1);
  assert.throws(
    () => checkDiskSpace(systemPaths(root), 1e12),
    (e: unknown) => e instanceof ExtensionError && e.code === 52 && /\/var has \d+ MB free, \/etc has/.test(e.problem),
  );
});

const deadline = new Deadline(60_000);
const { childEnv } = parseProcessEnvironment(process.env);
for (const [missing, code] of [
  ["tar", 62],
  ["sed", 63],
  ["curl", 52],
  ["openssl", 52],
  ["python3", 52],
] as const) {
  test(`missing ${missing} is ${code}`, async () => {
    const root = makeSystemRoot(makeTempDir(), { tools: ["tar", "sed", "curl", "openssl", "python3"].filter((t) => t !== missing) });
    await assert.rejects(
      checkTools({ paths: systemPaths(root), childEnv, deadline, log: silentLogger() }),
      (e: unknown) => e instanceof ExtensionError && e.code === code && e.problem.includes(missing.replace("python3", "python")),
    );
  });
}

test("all tools present passes", async () => {
  await checkTools({ paths: systemPaths(makeSystemRoot(makeTempDir())), childEnv, deadline, log: silentLogger() });
});

test("/proc/locks lines give holder pid and inode", () => {
  const text =
    "1: POSIX  ADVISORY  WRITE 812 08:01:1310730 0 EOF\n2: FLOCK  ADVISORY  WRITE 99 00:2f:42 0 EOF\n3: -> POSIX  ADVISORY  WRITE 100 08:01:1310730 0 EOF\n";
  assert.deepEqual(parseProcLocks(text), [
    { pid: 812, inode: 1310730 },
    { pid: 99, inode: 42 },
    { pid: 100, inode: 1310730 },
  ]);
});

test("a derivative's ID maps to its base row only when the base ID is followed by '_' or '-'", () => {
  assert.equal(supportedDistribution({ id: "sles_sap", versionId: "15.4" }), "SUSE Linux Enterprise Server");
  assert.equal(supportedDistribution({ id: "opensuse-leap", versionId: "15.5" }), "openSUSE");
  for (const id of ["slesx", "olympus", "ubuntux"]) assert.equal(supportedDistribution({ id, versionId: "15" }), undefined, id);
});
