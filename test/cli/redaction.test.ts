// Secrets never leave the CLI: not in the table, the progress lines, the JSON, or error messages, even when
// ARM echoes the request (and so the protected settings) back in an error body.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redactor, REDACTED } from "../../src/shared/redact.ts";
import { startFakeArm, type FakeArm } from "../../simulator/arm/fake-arm.ts";
import { deployArgs, PROXY, runArm, runCli, workspace, WORKSPACE_KEY, type CliResult, type Workspace } from "./helpers.ts";

const PROXY_PASSWORD = "Pr0xy-Passw0rd!";

function assertClean(r: CliResult): void {
  for (const [name, text] of [
    ["stdout", r.stdout],
    ["stderr", r.stderr],
  ] as const) {
    for (const secret of [
      WORKSPACE_KEY,
      JSON.stringify(WORKSPACE_KEY).slice(1, -1),
      encodeURIComponent(WORKSPACE_KEY),
      PROXY,
      PROXY_PASSWORD,
      WORKSPACE_KEY.slice(0, 40),
    ]) {
      assert.ok(!text.includes(secret), `${name} contains a secret (${secret.slice(0, 6)}…):\n${text}`);
    }
  }
}

describe("secret redaction", () => {
  let ws: Workspace;
  let arm: FakeArm;
  before(async () => {
    ws = await workspace({ workspaceKey: WORKSPACE_KEY, proxy: PROXY });
    arm = await startFakeArm();
  });
  after(async () => {
    await arm.close();
    await ws.cleanup();
  });

  test("the key and proxy credentials never appear, even when ARM echoes the request body", async () => {
    const rejected = arm.addMachine("vm", "rejected", {
      echoSecrets: true,
      reject: { status: 400, code: "InvalidParameter", message: "The extension settings are invalid." },
    });
    const flaky = arm.addMachine("arc", "flaky", { echoSecrets: true, serverErrors: 5 });
    const conflicted = arm.addMachine("vmss", "conflicted", { echoSecrets: true, conflicts: 5 });
    const failed = arm.addMachine("vm", "failed", {
      echoSecrets: true,
      failure: { code: 53, reason: "WorkspaceKeyRejected", text: "403 from the workspace — check the key" },
    });
    const ok = arm.addMachine("vm", "ok");
    const ids = [rejected, flaky, conflicted, failed, ok];

    for (const extra of [[], ["--json"]]) {
      const r = await runArm(arm, [...deployArgs(ws, arm, "--retries", "1", ...extra), ...ids]);
      assert.equal(r.code, 1);
      assertClean(r);
      // The echo did happen and did reach the output, as *** instead of the secret.
      assert.ok(r.stdout.includes(`Request body: `), r.stdout);
      assert.ok(r.stdout.includes(`"workspaceKey":"${REDACTED}"`) || r.stdout.includes(`\\"workspaceKey\\":\\"${REDACTED}\\"`), r.stdout);
      // ...and the settings really were sent, so the test would catch a leak.
      const put = arm.machine(rejected)!.lastPut as { properties: { protectedSettings: { workspaceKey: string; proxy: string } } };
      assert.deepEqual(put.properties.protectedSettings, { workspaceKey: WORKSPACE_KEY, proxy: PROXY });
    }
  });

  test("validate and usage errors do not echo protected values", async () => {
    const bad = await ws.file("bad-protected.json", JSON.stringify({ workspaceKey: `${WORKSPACE_KEY}!`, proxy: PROXY, extra: WORKSPACE_KEY }));
    const r = await runCli(["validate", "--protected-settings", bad]);
    assert.equal(r.code, 2);
    assertClean(r);
    const truncated = await ws.file("truncated.json", `{"workspaceKey": "${WORKSPACE_KEY}", "proxy": "${PROXY}"`);
    const r2 = await runCli(["validate", "--protected-settings", truncated]);
    assert.equal(r2.code, 2);
    assertClean(r2);
  });
});

describe("Redactor", () => {
  test("replaces every form of every protected value, longest first", () => {
    const r = Redactor.fromProtectedSettings({ workspaceKey: "abc/def+ghi==", proxy: "http://u:pw@proxy:3128", nested: { list: ["s3cr3t-value"] } });
    const text = [
      "key abc/def+ghi== json abc\\/def+ghi== url abc%2Fdef%2Bghi%3D%3D",
      'proxy http://u:pw@proxy:3128 userinfo u:pw@elsewhere password alone: "pw".',
      "nested s3cr3t-value",
    ].join("\n");
    const out = r.redact(text);
    for (const secret of ["abc/def+ghi==", "abc\\/def+ghi==", "abc%2Fdef%2Bghi%3D%3D", "http://u:pw@proxy:3128", "u:pw", "s3cr3t-value"]) {
      assert.ok(!out.includes(secret), `${secret} left in: ${out}`);
    }
    // A lower-case word standing alone is the program's wording; as a value (after ":") it is replaced.
    assert.match(out, /password alone: "\*\*\*"\./);
  });

  test("short secrets are only replaced where they stand alone, so messages stay readable", () => {
    const r = Redactor.fromProtectedSettings({ proxy: "http://me:P1@proxy:8080" });
    assert.equal(r.redact("proxy me:P1@proxy failed; P1 is wrong; aP1e"), "proxy ***@proxy failed; *** is wrong; aP1e");
  });

  test("a short password that is a plain word is replaced as a value, never in the program's own words", () => {
    const r = Redactor.fromProtectedSettings({ workspaceKey: "abcd", proxy: "http://user:pass@proxy:3128" });
    assert.equal(
      r.redact('cannot read settings: no such file; pass a JSON file, @file or - (proxy user:pass@proxy, "pass", key="abcd")'),
      'cannot read settings: no such file; pass a JSON file, @file or - (proxy ***@proxy, "***", key="***")',
    );
  });

  test("no secrets, no change", () => {
    assert.equal(Redactor.none().redact("abc ***"), "abc ***");
    assert.equal(Redactor.fromProtectedSettings({ workspaceKey: "" }).size, 0);
  });
});
