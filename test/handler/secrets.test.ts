import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { createLogger, renderLine } from "../../src/handler/log.ts";
import { renderOnboardConf, shellQuote } from "../../src/handler/omsadmin.ts";
import { proxyEndpoint, redact, registerProxySecrets, registerSecret } from "../../src/handler/secrets.ts";
import { makeTempDir } from "../../simulator/system-root.ts";
import { execFileSync } from "node:child_process";

test("proxy credentials are registered and endpoints shown without them", () => {
  registerProxySecrets("https://alice:pa$$:word@proxy.corp:8080");
  assert.equal(redact("using https://alice:pa$$:word@proxy.corp:8080 now"), "using *** now");
  assert.equal(redact("password pa$$:word"), "password ***");
  assert.equal(proxyEndpoint("https://alice:pa$$:word@proxy.corp:8080/"), "proxy.corp:8080");
  assert.equal(proxyEndpoint("proxy.corp:3128"), "proxy.corp:3128");
});

test("extension.log lines: timestamp first, operation and sequence, secrets redacted", () => {
  const dir = makeTempDir();
  registerSecret("TopSecretKeyValue==");
  const log = createLogger({ logFolder: dir, operation: "enable", seq: 4 });
  log.info({ workspaceKey: "TopSecretKeyValue==", child: "omsadmin" }, "echo TopSecretKeyValue== from a child");
  const text = readFileSync(`${dir}/extension.log`, "utf8");
  assert.match(text, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}enable seq=4 echo \*\*\* from a child \{"workspaceKey":"\*\*\*","child":"omsadmin"\}\n$/);
  assert.doesNotMatch(text, /TopSecretKeyValue/);
});

test("renderLine keeps one event on one line", () => {
  const line = renderLine(JSON.stringify({ level: 50, time: 0, op: "install", seq: 1, msg: "two\nlines" }));
  assert.equal(line, "1970-01-01T00:00:00.000Z ERROR install seq=1 two\\nlines\n");
});

test("onboard.conf values survive sh sourcing, quotes and metacharacters included", () => {
  const values = {
    workspaceId: "0123abcd-1111-2222-3333-444455556666",
    workspaceKey: "a'b\"c$d`e\\f==",
    domain: "opinsights.azure.com",
    proxy: "http://u:p;rm -rf /@h:1",
    resourceId: "/subscriptions/x/resourceGroups/rg(1)/providers/Microsoft.Compute/virtualMachines/vm",
  };
  const dir = makeTempDir();
  const file = `${dir}/onboard.conf`;
  require_write(file, renderOnboardConf(values));
  const out = execFileSync("sh", ["-c", `. "${file}"; printf '%s\\n' "$WORKSPACE_ID" "$SHARED_KEY" "$URL_TLD" "$PROXY" "$AZURE_RESOURCE_ID"`], {
    encoding: "utf8",
  });
  assert.deepEqual(out.split("\n").slice(0, 5), [values.workspaceId, values.workspaceKey, values.domain, values.proxy, values.resourceId]);
  assert.throws(() => shellQuote("a\nb"));
});

function require_write(path: string, text: string): void {
  execFileSync("sh", ["-c", `cat > "${path}"`], { input: text });
}

test("extension.log is rotated by size, keeping five old files", async () => {
  const { writeFileSync, readdirSync, statSync } = await import("node:fs");
  const dir = makeTempDir();
  writeFileSync(`${dir}/extension.log`, Buffer.alloc(10 * 1024 * 1024 + 1, 97));
  for (let i = 1; i <= 5; i++) writeFileSync(`${dir}/extension.log.${i}`, `old ${i}`);
  const log = createLogger({ logFolder: dir, operation: "install", seq: 0 });
  log.info("after rotation");
  assert.deepEqual(readdirSync(dir).sort(), ["extension.log", "extension.log.1", "extension.log.2", "extension.log.3", "extension.log.4", "extension.log.5"]);
  assert.equal(statSync(`${dir}/extension.log.1`).size, 10 * 1024 * 1024 + 1);
  assert.equal(readFileSync(`${dir}/extension.log.2`, "utf8"), "old 1");
  assert.match(readFileSync(`${dir}/extension.log`, "utf8"), /after rotation/);
});
