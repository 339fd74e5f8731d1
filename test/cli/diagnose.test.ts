// fleet diagnose: doctor on each machine through Run Command, against the fake ARM server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { doctorScript, failingChecks, parseVerdict } from "../../src/cli/diagnose.ts";
import { startFakeArm, type FakeArm } from "../../simulator/arm/fake-arm.ts";
import { armFlags, runArm } from "./helpers.ts";

const WS = "0123abcd-1111-2222-3333-444455556666";
const verdict = (checks: Array<{ area: string; name: string; detail: string; fix: string }>) =>
  JSON.stringify({ healthy: checks.length === 0, total: 24, checks: checks.map((c) => ({ ...c, ok: false })) });
const OPENSSL = {
  area: "machine",
  name: "openssl",
  detail: "3.0.2; the agent's bundle needs OpenSSL 1.0.1 or later 1.x",
  fix: "use a distribution with OpenSSL 1.x",
};
const TCP = {
  area: `network ${WS}`,
  name: "oms tcp 443",
  detail: `cannot connect to ${WS}.oms.opinsights.azure.com:443 (ETIMEDOUT)`,
  fix: "allow outbound TCP 443",
};

let arm: FakeArm;
before(async () => {
  arm = await startFakeArm();
});
after(async () => {
  await arm.close();
});

test("a per-machine table from Run Command on VMs and Arc machines, and which checks fail where", async () => {
  const healthy = arm.addMachine("vm", "diag-healthy");
  const noSsl = arm.addMachine("vm", "diag-openssl", { doctorOutput: verdict([OPENSSL]) });
  const arc = arm.addMachine("arc", "diag-arc", { doctorOutput: verdict([OPENSSL, TCP]) });
  const absent = arm.addMachine("vm", "diag-absent", { doctorOutput: "some banner\nnothing useful" });
  const set = arm.addMachine("vmss", "diag-set", { instances: 3, instanceDoctorOutput: { "1": verdict([TCP]) } });

  const r = await runArm(arm, ["diagnose", ...armFlags(arm), healthy, noSsl, arc, absent, set]);
  assert.equal(r.code, 1, r.stderr);
  const line = (name: string) => r.stdout.split("\n").find((l) => l.includes(name)) ?? "";
  assert.match(line("diag-healthy"), /ok .*healthy: all 24 checks passed/);
  // The table cuts long messages; the whole one is in --json (next test).
  assert.match(line("diag-openssl"), /failed +DoctorFailed +1 of 24 checks failed: machine openssl — first: 3\.0\.2; the agent's bundle needs/);
  assert.match(line("diag-arc"), /failed +DoctorFailed +2 of 24 checks failed: machine openssl, network /);
  assert.match(line("diag-absent"), /failed .*doctor printed no verdict \(last line: nothing useful\)/);
  assert.match(line("diag-set"), /failed +DoctorFailed +1\/3 instances unhealthy \(1\) — first: instance 1: network /);
  assert.equal(arm.machine(set)!.runCommands.length, 3, "doctor ran on every instance");
  assert.match(
    r.stdout,
    /Failing checks:\n {2}machine openssl +2 machines: rg-fleet\/diag-openssl, rg-fleet\/diag-arc \(arc\)\n {2}network oms tcp 443 +2 machines: rg-fleet\/diag-arc \(arc\), rg-fleet\/diag-set \(vmss\)\n/,
  );

  // What ran on the machines: the newest handler's doctor, JSON with failures only; Arc run commands are cleaned up.
  for (const id of [healthy, arc]) {
    const scripts = arm.machine(id)!.runCommands;
    assert.equal(scripts.length, 1);
    assert.equal(scripts[0], doctorScript(false));
    assert.match(scripts[0]!, /omsagent-shim" doctor --json --failed-only$/);
  }
  assert.ok(
    arm.log.some((e) => e.method === "DELETE" && /\/runCommands\/omsagent-doctor-[0-9a-z]+-[0-9a-f]{8}$/i.test(e.path)) &&
      arm.machine(arc)!.arcRunCommandNames.size === 0,
    "the Arc run command is deleted after it ran",
  );
});

test("--json carries each machine's failing checks and the summary; --offline reaches doctor", async () => {
  const vm = arm.addMachine("vm", "diag-json", { doctorOutput: verdict([TCP]) });
  const r = await runArm(arm, ["diagnose", ...armFlags(arm), "--json", "--offline", vm]);
  assert.equal(r.code, 1, r.stderr);
  const report = JSON.parse(r.stdout) as {
    failingChecks: Array<{ check: string; machines: string[] }>;
    results: Array<{ result: string; failedChecks: Array<{ name: string }> }>;
  };
  assert.deepEqual(report.failingChecks, [{ check: "network oms tcp 443", machines: ["rg-fleet/diag-json"] }]);
  assert.equal(report.results[0]!.result, "failed");
  assert.deepEqual(
    report.results[0]!.failedChecks.map((c) => c.name),
    ["oms tcp 443"],
  );
  assert.match(
    (report.results[0] as unknown as { message: string }).message,
    new RegExp(`^1 of 24 checks failed: network ${WS} oms tcp 443 — first: cannot connect to .* \\(ETIMEDOUT\\) — fix: allow outbound TCP 443$`),
  );
  assert.match(arm.machine(vm)!.runCommands[0]!, /doctor --json --failed-only --offline$/);
});

test("the script finds the newest installed handler and says so when there is none", () => {
  const script = doctorScript(true);
  assert.match(script, /ls -d \/var\/lib\/waagent\/Microsoft\.EnterpriseCloud\.Monitoring\.OmsAgentForLinux-\* 2>\/dev\/null \| sort -V \| tail -1/);
  const none = /echo '(.*)'; exit 1/.exec(script)![1]!;
  const parsed = parseVerdict(none);
  assert.ok(typeof parsed !== "string" && !parsed.healthy && parsed.checks[0]!.name === "installed");
  assert.deepEqual(
    failingChecks(
      new Map([
        ["a", parsed as never],
        ["b", parsed as never],
      ]),
    ),
    [{ check: "extension installed", machines: ["a", "b"] }],
  );
});
