// The process environment is parsed once at the entry; every value has one rule, and nothing deeper reads it.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseProcessEnvironment } from "../../src/handler/process-env.ts";

test("ConfigSequenceNumber counts only as a decimal number", () => {
  assert.equal(parseProcessEnvironment({ ConfigSequenceNumber: " 12 " }).configSequenceNumber, 12);
  for (const value of [undefined, "", "junk", "-1", "1.5", "1e3"])
    assert.equal(parseProcessEnvironment({ ConfigSequenceNumber: value }).configSequenceNumber, undefined, String(value));
});

test("versions are passed on as given; an empty AZURE_GUEST_AGENT_UPDATING_FROM_VERSION still marks an update", () => {
  const parsed = parseProcessEnvironment({ VERSION: "1.19.1", AZURE_GUEST_AGENT_UPDATING_FROM_VERSION: "", AZURE_GUEST_AGENT_EXTENSION_VERSION: "1.19.0" });
  assert.equal(parsed.version, "1.19.1");
  assert.equal(parsed.updatingFromVersion, "");
  assert.equal(parsed.extensionVersion, "1.19.0");
  assert.equal(parseProcessEnvironment({}).updatingFromVersion, undefined);
});

test("proxy variables that are set and not empty, in the order they are honoured", () => {
  const parsed = parseProcessEnvironment({ HTTP_PROXY: "http://d:4", http_proxy: "", HTTPS_PROXY: "http://b:2", https_proxy: "http://a:1" });
  assert.deepEqual(parsed.proxies, [
    { name: "https_proxy", value: "http://a:1" },
    { name: "HTTPS_PROXY", value: "http://b:2" },
    { name: "HTTP_PROXY", value: "http://d:4" },
  ]);
});

test("OMS_HANDLER_* knobs: defaults, and numbers that are not non-negative fall back to them", () => {
  assert.deepEqual(parseProcessEnvironment({}).tuning, {
    systemRoot: "/",
    deadlineSeconds: undefined,
    packageLockWaitMs: 600_000,
    minFreeMb: 500,
    retryDelayMs: 10_000,
    imdsEndpoint: undefined,
    serviceAddress: undefined,
    serviceCa: undefined,
  });
  const tuning = parseProcessEnvironment({
    OMS_HANDLER_ROOT: "/tmp/vm",
    OMS_HANDLER_DEADLINE_SECONDS: "30.5",
    OMS_HANDLER_PACKAGE_LOCK_WAIT_SECONDS: "2",
    OMS_HANDLER_MIN_FREE_MB: "-5",
    OMS_HANDLER_RETRY_DELAY_SECONDS: "x",
    OMS_HANDLER_IMDS_ENDPOINT: "off",
    OMS_HANDLER_SERVICE_ADDRESS: "127.0.0.1:8443",
    OMS_HANDLER_SERVICE_CA: "",
  }).tuning;
  assert.deepEqual(tuning, {
    systemRoot: "/tmp/vm",
    deadlineSeconds: 30.5,
    packageLockWaitMs: 2000,
    minFreeMb: 500,
    retryDelayMs: 10_000,
    imdsEndpoint: "off",
    serviceAddress: "127.0.0.1:8443",
    serviceCa: undefined,
  });
});

test("OMS_HANDLER_DEADLINE_SECONDS counts only as a positive number", () => {
  for (const value of ["", "0", "-3", "soon", "Infinity"])
    assert.equal(parseProcessEnvironment({ OMS_HANDLER_DEADLINE_SECONDS: value }).tuning.deadlineSeconds, undefined, value);
});

test("children start from the environment as the entry received it", () => {
  assert.deepEqual(parseProcessEnvironment({ PATH: "/bin", KEEP: "1", GONE: undefined }).childEnv, { PATH: "/bin", KEEP: "1" });
});

test("below the entry, no handler module reads process.env or takes a raw NodeJS.ProcessEnv", () => {
  const entries = new Set(["main.ts", "invocation.ts", join("doctor", "index.ts")]);
  const root = new URL("../../src/handler/", import.meta.url).pathname;
  const files = (readdirSync(root, { recursive: true }) as string[]).filter((file) => file.endsWith(".ts") && !entries.has(file));
  assert.ok(files.length > 30);
  for (const file of files) {
    const code = readFileSync(join(root, file), "utf8").replace(/^\s*(\/\/|\*|\/\*).*$/gm, "");
    assert.doesNotMatch(code, /process\.env|NodeJS\.ProcessEnv/, file);
  }
});
