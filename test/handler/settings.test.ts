import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { Deadline } from "../../src/handler/deadline.ts";
import { ExtensionError } from "../../src/handler/errors.ts";
import { silentLogger } from "../../src/handler/log.ts";
import { parseProcessEnvironment } from "../../src/handler/process-env.ts";
import { redact } from "../../src/handler/secrets.ts";
import { loadSettings, type DecryptContext } from "../../src/handler/settings.ts";
import { encryptProtectedSettings, makeCertificate, writeSettingsFile, type TestCertificate } from "../../simulator/agent/certificates.ts";
import { makeTempDir } from "../../simulator/system-root.ts";

const WORKSPACE = "0123abcd-1111-2222-3333-444455556666";
const KEY = Buffer.alloc(64, 7).toString("base64");

let lib: string;
let config: string;
let cert: TestCertificate;
let context: DecryptContext;

before(() => {
  lib = makeTempDir();
  config = join(lib, "Ext-1.0.0", "config");
  mkdirSync(config, { recursive: true });
  cert = makeCertificate(lib);
  context = {
    libDir: lib,
    waagentLib: join(lib, "nowhere"),
    childEnv: parseProcessEnvironment(process.env).childEnv,
    deadline: new Deadline(60_000),
    log: silentLogger(),
  };
});

async function expect11(promise: Promise<unknown>, pattern: RegExp): Promise<ExtensionError> {
  const error = await promise.then(
    () => assert.fail("expected an error"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ExtensionError, String(error));
  assert.equal(error.code, 11);
  assert.match(error.problem, pattern);
  return error;
}

test("decrypts, validates and normalises settings", async () => {
  writeSettingsFile(config, 1, {
    publicSettings: {
      workspaceId: WORKSPACE.toUpperCase(),
      stopOnMultipleConnections: "True",
      skipDockerProviderInstall: false,
      azureResourceId: "x",
      colour: "blue",
    },
    protectedSettings: { workspaceKey: KEY, proxy: "http://user:p4ssw0rd@proxy.example:3128", domain: "" },
    certificate: cert,
  });
  const settings = await loadSettings(config, 1, { needProtected: true }, context);
  assert.ok(settings);
  assert.deepEqual(settings.public, { workspaceId: WORKSPACE, stopOnMultipleConnections: true, skipDockerProviderInstall: false });
  assert.equal(settings.protected?.workspaceKey, KEY);
  assert.equal(settings.protected?.domain, undefined);
  assert.deepEqual(settings.warnings, ['unknown public setting "colour" ignored']);
  // Decrypted secrets are registered for redaction everywhere.
  assert.equal(redact(`key=${KEY} pw=p4ssw0rd`), "key=*** pw=***");
});

test("the settings hash changes with the settings and only with them", async () => {
  const write = (seq: number, key: string) =>
    writeSettingsFile(config, seq, { publicSettings: { workspaceId: WORKSPACE }, protectedSettings: { workspaceKey: key }, certificate: cert });
  write(2, KEY);
  write(3, KEY);
  write(4, Buffer.alloc(64, 8).toString("base64"));
  const [a, b, c] = await Promise.all([2, 3, 4].map((seq) => loadSettings(config, seq, { needProtected: true }, context)));
  assert.equal(a!.hash, b!.hash, "re-encryption of the same settings keeps the hash");
  assert.notEqual(a!.hash, c!.hash);
  assert.doesNotMatch(a!.hash, new RegExp(KEY.slice(0, 10)));
});

test("missing or empty settings mean 'no settings' except for enable", async () => {
  writeFileSync(join(config, "20.settings"), "");
  assert.equal(await loadSettings(config, 20, { needProtected: false }, context), null);
  assert.equal(await loadSettings(config, 21, { needProtected: false }, context), null);
  await expect11(loadSettings(config, 20, { needProtected: true }, context), /no settings for sequence number 20/);
});

test("malformed JSON names the file", async () => {
  writeFileSync(join(config, "30.settings"), "{ not json");
  await expect11(loadSettings(config, 30, { needProtected: false }, context), /30\.settings is not valid JSON/);
});

test("every violation is reported at once, naming each field", async () => {
  writeSettingsFile(config, 31, {
    publicSettings: { workspaceId: "not-a-guid", stopOnMultipleConnections: "maybe" },
    protectedSettings: { workspaceKey: "abc", proxy: "bad proxy", extra: 1 },
    certificate: cert,
  });
  const error = await expect11(loadSettings(config, 31, { needProtected: true }, context), /settings\.workspaceId/);
  for (const field of ["settings.stopOnMultipleConnections", "protectedSettings.workspaceKey", "protectedSettings.proxy", "protectedSettings.extra"]) {
    assert.match(error.problem, new RegExp(field.replace(".", "\\.")));
  }
  assert.doesNotMatch(error.problem, /abc|bad proxy/, "values are never echoed");
});

test("a workspace id with a trailing newline is rejected (anchored GUID)", async () => {
  writeSettingsFile(config, 32, { publicSettings: { workspaceId: `${WORKSPACE}\nrm -rf /` }, protectedSettings: { workspaceKey: KEY }, certificate: cert });
  await expect11(loadSettings(config, 32, { needProtected: true }, context), /workspaceId/);
});

test("missing public or protected settings, missing thumbprint", async () => {
  writeSettingsFile(config, 33, { publicSettings: null, protectedSettings: { workspaceKey: KEY }, certificate: cert });
  await expect11(loadSettings(config, 33, { needProtected: true }, context), /settings are missing/);
  writeSettingsFile(config, 34, { publicSettings: { workspaceId: WORKSPACE } });
  await expect11(loadSettings(config, 34, { needProtected: true }, context), /protectedSettings are missing/);
  const file = JSON.parse(
    readFileSync(
      writeSettingsFile(config, 35, { publicSettings: { workspaceId: WORKSPACE }, protectedSettings: { workspaceKey: KEY }, certificate: cert }),
      "utf8",
    ),
  );
  file.runtimeSettings[0].handlerSettings.protectedSettingsCertThumbprint = null;
  writeFileSync(join(config, "35.settings"), JSON.stringify(file));
  await expect11(loadSettings(config, 35, { needProtected: true }, context), /protectedSettingsCertThumbprint/);
});

function rawSettings(seq: number, protectedSettings: string, thumbprint: string): void {
  writeFileSync(
    join(config, `${seq}.settings`),
    JSON.stringify({
      runtimeSettings: [{ handlerSettings: { publicSettings: { workspaceId: WORKSPACE }, protectedSettings, protectedSettingsCertThumbprint: thumbprint } }],
    }),
  );
}

test("bad base64, unknown certificate and undecryptable blobs are 11 naming the thumbprint", async () => {
  rawSettings(40, "%%%not-base64%%%", cert.thumbprint);
  await expect11(loadSettings(config, 40, { needProtected: true }, context), new RegExp(`not valid base64.*${cert.thumbprint}`));
  rawSettings(41, encryptProtectedSettings({ workspaceKey: KEY }, cert.crtPath), "A".repeat(40));
  await expect11(loadSettings(config, 41, { needProtected: true }, context), /certificate AAAAAAAAAA.* was not found/);
  const other = makeCertificate(makeTempDir());
  rawSettings(42, encryptProtectedSettings({ workspaceKey: KEY }, other.crtPath), cert.thumbprint);
  await expect11(loadSettings(config, 42, { needProtected: true }, context), new RegExp(`could not be decrypted with certificate ${cert.thumbprint}`));
  rawSettings(43, Buffer.from("just some bytes").toString("base64"), cert.thumbprint);
  await expect11(loadSettings(config, 43, { needProtected: true }, context), /could not be decrypted/);
});

test("decrypted settings that are not JSON are 11 and never shown", async () => {
  rawSettings(44, encryptProtectedSettings("secret-plaintext-not-json", cert.crtPath), cert.thumbprint);
  const error = await expect11(loadSettings(config, 44, { needProtected: true }, context), /not valid JSON/);
  assert.doesNotMatch(error.message, /secret-plaintext/);
});

test("certificates are found under /var/lib/waagent when not beside the config folder", async () => {
  const waagent = makeTempDir();
  const there = makeCertificate(waagent);
  rawSettings(45, encryptProtectedSettings({ workspaceKey: KEY }, there.crtPath), there.thumbprint);
  const settings = await loadSettings(config, 45, { needProtected: true }, { ...context, waagentLib: waagent });
  assert.equal(settings?.protected?.workspaceKey, KEY);
});

test("FastTrack public settings given as a JSON string are parsed", async () => {
  writeFileSync(
    join(config, "46.settings"),
    JSON.stringify({ runtimeSettings: [{ handlerSettings: { publicSettings: JSON.stringify({ workspaceId: WORKSPACE }) } }] }),
  );
  const settings = await loadSettings(config, 46, { needProtected: false }, context);
  assert.equal(settings?.public.workspaceId, WORKSPACE);
});

test("proxy: the port must be 1–65535, and characters omsadmin.sh's echo would alter are refused naming the field", async () => {
  const { checkProtectedSettings } = await import("../../src/shared/settings-schema.ts");
  const accepted = ["proxy.example:1", "proxy.example:65535", "http://user:p%40ss@proxy.example:3128", "https://proxy.example/"];
  const refused = [
    "proxy.example:0",
    "proxy.example:65536",
    "proxy.example:99999",
    "user:pa\\ss@proxy.example:3128",
    "user:pa*s@proxy.example",
    "user:p?s@proxy.example",
    "us[er:p@proxy.example",
  ];
  for (const proxy of accepted) assert.ok(checkProtectedSettings({ workspaceKey: KEY, proxy }).ok, proxy);
  for (const proxy of refused) {
    const checked = checkProtectedSettings({ workspaceKey: KEY, proxy });
    assert.ok(!checked.ok, proxy);
    assert.deepEqual(
      checked.problems.map((p) => p.field),
      ["protectedSettings.proxy"],
      proxy,
    );
    assert.match(checked.problems[0]!.message, /1 to 65535.*backslash/);
  }
});

test("vmResourceId: ARM ids are case-insensitive, so lower-case ids are accepted and kept as given", async () => {
  const { checkProtectedSettings } = await import("../../src/shared/settings-schema.ts");
  for (const vmResourceId of [
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm1",
    "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINESCALESETS/ss/VIRTUALMACHINES/3",
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/microsoft.hybridcompute/machines/edge7",
  ]) {
    const checked = checkProtectedSettings({ workspaceKey: KEY, vmResourceId });
    assert.ok(checked.ok, vmResourceId);
    assert.equal(checked.value.vmResourceId, vmResourceId);
  }
  assert.ok(
    !checkProtectedSettings({
      workspaceKey: KEY,
      vmResourceId: "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/microsoft.storage/storageaccounts/x",
    }).ok,
  );
});

test("a settings file with more than one runtimeSettings entry is refused (11): which one would be meant?", async () => {
  const entry = { handlerSettings: { publicSettings: { workspaceId: WORKSPACE } } };
  writeFileSync(join(config, "60.settings"), JSON.stringify({ runtimeSettings: [entry, entry] }));
  await expect11(loadSettings(config, 60, { needProtected: false }, context), /60\.settings has 2 runtimeSettings entries; the guest agent writes exactly one/);
});

test("a decryption failure quotes openssl's stderr, never its stdout (which may hold part of the plaintext)", async () => {
  const { chmodSync } = await import("node:fs");
  const bin = join(makeTempDir(), "bin");
  mkdirSync(bin);
  // What openssl does on a corrupted blob: part of the plaintext on stdout first, then the failure on stderr.
  writeFileSync(
    join(bin, "openssl"),
    '#!/bin/sh\ncat >/dev/null\nprintf \'{"workspaceKey":"PARTIAL-PLAINTEXT-SECRET\'\necho "Error decrypting CMS structure" >&2\nexit 4\n',
  );
  chmodSync(join(bin, "openssl"), 0o755);
  writeSettingsFile(config, 70, { publicSettings: { workspaceId: WORKSPACE }, protectedSettings: { workspaceKey: KEY }, certificate: cert });
  const childEnv = { ...context.childEnv, PATH: `${bin}:${context.childEnv.PATH ?? ""}` };
  const error = await expect11(
    loadSettings(config, 70, { needProtected: true }, { ...context, childEnv }),
    /could not be decrypted with certificate .* \(Error decrypting CMS structure\)/,
  );
  assert.doesNotMatch(`${error.problem} ${error.details ?? ""}`, /PARTIAL-PLAINTEXT/);
});
