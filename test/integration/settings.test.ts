// Bad settings, as the guest agent would deliver them, always end in a clear 11 that names the problem,
// and never in anything being installed or connected.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { encryptProtectedSettings, makeCertificate } from "../../simulator/agent/certificates.ts";
import { createSimulatedVm, WORKSPACE_ID, WORKSPACE_KEY, type SimulatedVm } from "../../simulator/vm.ts";
import { makeTempDir } from "../../simulator/system-root.ts";

let vm: SimulatedVm;
let version: string;

before(async () => {
  vm = await createSimulatedVm();
  version = [...vm.staged.keys()][0]!;
  vm.agent.setup(
    { dir: vm.staged.get(version)!.dir },
    { seq: 0, settings: { publicSettings: { workspaceId: WORKSPACE_ID }, protectedSettings: { workspaceKey: WORKSPACE_KEY } } },
  );
  assert.equal((await vm.agent.run(version, "install")).exitCode, 0);
});
after(() => vm.close());

let seq = 0;
async function enableWith(write: (seq: number) => void, pattern: RegExp): Promise<void> {
  seq += 1;
  write(seq);
  const result = await vm.agent.run(version, "enable", { seq });
  const status = vm.agent.readStatus(version, seq);
  assert.equal(result.exitCode, 11, `${status.message}\n${result.output}`);
  assert.equal(status.status, "error");
  assert.equal(status.code, 11);
  assert.match(status.message, /^Enable failed \(11 InvalidConfiguration\): /);
  assert.match(status.message, pattern);
  assert.match(status.message, / — \S/, "the message says what to do");
  assert.match(result.stderr, /^Enable failed \(11 InvalidConfiguration\)/);
}

const settingsWith =
  (publicSettings: unknown, protectedSettings: unknown = { workspaceKey: WORKSPACE_KEY }) =>
  (n: number) =>
    vm.agent.writeSettings(n, { publicSettings, protectedSettings });

test("missing settings (empty file)", () => enableWith((n) => vm.agent.writeSettings(n, null), /no settings for sequence number \d+/));
test("missing public settings", () => enableWith(settingsWith(null), /settings are missing/));
test("missing protected settings", () =>
  enableWith((n) => vm.agent.writeSettings(n, { publicSettings: { workspaceId: WORKSPACE_ID } }), /protectedSettings are missing/));
test("missing workspaceId", () => enableWith(settingsWith({}), /settings\.workspaceId is required/));
test("bad GUID", () => enableWith(settingsWith({ workspaceId: "my-workspace" }), /settings\.workspaceId must be a workspace ID/));
test("wrong types, all reported at once", () =>
  enableWith(
    settingsWith({ workspaceId: 42, stopOnMultipleConnections: "sometimes", skipDockerProviderInstall: 1 }),
    /workspaceId must be of type string; settings\.skipDockerProviderInstall must be true or false.*settings\.stopOnMultipleConnections must be true or false/,
  ));
test("workspace key not base64", () =>
  enableWith(
    settingsWith({ workspaceId: WORKSPACE_ID }, { workspaceKey: "not base64!" }),
    /protectedSettings\.workspaceKey must be the workspace key in padded base64/,
  ));
test("empty workspace key", () => enableWith(settingsWith({ workspaceId: WORKSPACE_ID }, { workspaceKey: "" }), /protectedSettings\.workspaceKey/));
test("unknown protected key and bad proxy", () =>
  enableWith(
    settingsWith({ workspaceId: WORKSPACE_ID }, { workspaceKey: WORKSPACE_KEY, proxy: "proxy with spaces", passwrd: "x" }),
    /protectedSettings\.passwrd is not a known protected setting.*protectedSettings\.proxy must look like/,
  ));
test("protected settings blob that is not base64", () =>
  enableWith(
    (n) => vm.agent.writeSettings(n, { publicSettings: { workspaceId: WORKSPACE_ID }, protectedSettingsBlob: "***not base64***" }),
    /protectedSettings is not valid base64/,
  ));
test("undecryptable protected settings (encrypted for another certificate)", () => {
  const other = makeCertificate(makeTempDir());
  return enableWith(
    (n) =>
      vm.agent.writeSettings(n, {
        publicSettings: { workspaceId: WORKSPACE_ID },
        protectedSettingsBlob: encryptProtectedSettings({ workspaceKey: WORKSPACE_KEY }, other.crtPath),
      }),
    new RegExp(`could not be decrypted with certificate ${vm.agent.certificate().thumbprint}`),
  );
});
test("missing certificate", () =>
  enableWith(
    (n) =>
      vm.agent.writeSettings(n, {
        publicSettings: { workspaceId: WORKSPACE_ID },
        protectedSettings: { workspaceKey: WORKSPACE_KEY },
        thumbprint: "0123456789ABCDEF0123456789ABCDEF01234567",
      }),
    /certificate 0123456789ABCDEF0123456789ABCDEF01234567 .*was not found/,
  ));
test("malformed JSON settings file", () =>
  enableWith((n) => writeFileSync(join(vm.agent.configDir(version), `${n}.settings`), '{"runtimeSettings": [{'), /\d+\.settings is not valid JSON/));
test("settings file without runtimeSettings", () =>
  enableWith((n) => writeFileSync(join(vm.agent.configDir(version), `${n}.settings`), '{"foo": 1}'), /has no runtimeSettings\[0\]\.handlerSettings/));

test("install rejects an invalid workspace id before touching the system", async () => {
  seq += 1;
  vm.agent.writeSettings(seq, { publicSettings: { workspaceId: "nope" } });
  const callsBefore = vm.calls().length;
  const result = await vm.agent.run(version, "install", { seq });
  assert.equal(result.exitCode, 11);
  assert.equal(vm.calls().length, callsBefore, "no tool ran");
});

test("a failed enable after a good one keeps the agent connected to the last good workspace", async () => {
  seq += 1;
  vm.agent.writeSettings(seq, { publicSettings: { workspaceId: WORKSPACE_ID }, protectedSettings: { workspaceKey: WORKSPACE_KEY } });
  assert.equal((await vm.agent.run(version, "enable", { seq })).exitCode, 0);
  seq += 1;
  vm.agent.writeSettings(seq, { publicSettings: { workspaceId: "bad" }, protectedSettings: { workspaceKey: WORKSPACE_KEY } });
  assert.equal((await vm.agent.run(version, "enable", { seq })).exitCode, 11);
  assert.ok(vm.calls().at(-1)?.startsWith("service_control is-running"), "nothing ran after validation failed");
});
