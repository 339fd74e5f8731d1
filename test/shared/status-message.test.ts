import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { EXTENSION_FULL_NAME, EXTENSION_TYPE, PUBLISHER } from "../../src/shared/identity.ts";
import { formatFailure, parseFailure, splitAction } from "../../src/shared/status-message.ts";

test("the failure message is written and read back in one place", () => {
  const text = formatFailure("enable", 53, "WorkspaceKeyRejected", "the service rejected the key (HTTP 403)", "use the workspace's current key");
  assert.equal(text, "Enable failed (53 WorkspaceKeyRejected): the service rejected the key (HTTP 403) — use the workspace's current key");
  assert.deepEqual(parseFailure(`ARM says: '${text}'\nmore`), {
    operation: "Enable",
    code: 53,
    reason: "WorkspaceKeyRejected",
    cause: "the service rejected the key (HTTP 403)",
    action: "use the workspace's current key'",
    at: 11,
  });
  assert.equal(parseFailure("Enable succeeded: connected"), undefined);
  assert.deepEqual(splitAction("no action here"), { statement: "no action here" });
});

test("the extension's identity is the one manifest.xml declares", () => {
  const xml = readFileSync(new URL("../../manifest.xml", import.meta.url), "utf8");
  assert.equal(/<ProviderNameSpace>([^<]+)<\/ProviderNameSpace>/.exec(xml)?.[1], PUBLISHER);
  assert.equal(/<Type>([^<]+)<\/Type>/.exec(xml)?.[1], EXTENSION_TYPE);
  assert.equal(EXTENSION_FULL_NAME, `${PUBLISHER}.${EXTENSION_TYPE}`);
});
