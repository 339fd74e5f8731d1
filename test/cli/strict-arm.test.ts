// The fleet CLI against a fake ARM server as strict as Azure (simulator/arm/fake-arm.ts): each test here failed
// against that server before the fix it covers (issue 15).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import lockfile from "proper-lockfile";
import { Journal, JOURNAL_VERSION, resumeJournal, type JournalHeader } from "../../src/cli/journal.ts";
import { armFlags, deployArgs, parseReport, runArm, withArm, workspace, WORKSPACE_ID, WORKSPACE_KEY, type Workspace } from "./helpers.ts";

let ws: Workspace;
before(async () => {
  ws = await workspace();
});
after(async () => {
  await ws.cleanup();
});

const ROTATED_KEY = Buffer.from("rotated-workspace-key:never-print-me:".padEnd(64, "%")).toString("base64");

describe("Arc reports the full installed version", () => {
  test("plan calls a finished Arc machine (PUT 1.19, reads back 1.19.2) unchanged", () =>
    withArm({}, async (arm) => {
      const arc = arm.addMachine("arc", "edge-version");
      const first = await runArm(arm, [...deployArgs(ws, arm), arc]);
      assert.equal(first.code, 0, first.stderr);
      assert.equal((arm.machine(arc)!.extensions.get("omsagentforlinux")!.properties as { typeHandlerVersion: string }).typeHandlerVersion, "1.19.2");
      const plan = await runArm(arm, ["plan", "--settings", `@${ws.settings}`, ...armFlags(arm), "--json", arc]);
      assert.equal(plan.code, 0, plan.stderr);
      const item = (JSON.parse(plan.stdout) as { results: { action: string; message: string }[] }).results[0]!;
      assert.equal(item.action, "unchanged", item.message);
    }));
});

describe("key rotation resumed", () => {
  test("a PUT journaled as sending but never answered is sent again: ARM cannot show the protected settings it holds", () =>
    withArm({}, async (arm) => {
      const vm = arm.addMachine("vm", "rotate1");
      assert.equal((await runArm(arm, [...deployArgs(ws, arm), vm])).code, 0);
      const rotated = await workspace({ workspaceKey: ROTATED_KEY });
      try {
        const journal = join(rotated.dir, "rotate.jsonl");
        // The rotation's PUT meets a 429 with a long Retry-After, and the operator presses Ctrl-C while it waits.
        const machine = arm.machine(vm)!;
        machine.faults.throttles = 1;
        machine.config.retryAfter = "60";
        const interrupt = new AbortController();
        const watch = setInterval(() => {
          if (arm.stats.injected.throttles > 0) interrupt.abort();
        }, 2);
        const first = await runArm(arm, [...deployArgs(rotated, arm, "--journal", journal), vm], { signal: interrupt.signal });
        clearInterval(watch);
        assert.equal(first.code, 130, first.stderr);
        assert.match(await readFile(journal, "utf8"), /"state":"sending"/);
        assert.deepEqual(machine.appliedProtectedSettings, { workspaceKey: WORKSPACE_KEY }, "the machine still has the old key");

        const resumed = await runArm(arm, [...deployArgs(rotated, arm), "--resume", journal, "--json"]);
        assert.equal(resumed.code, 0, resumed.stderr);
        assert.equal(parseReport(resumed.stdout).results[0]!.result, "ok");
        assert.deepEqual(machine.appliedProtectedSettings, { workspaceKey: ROTATED_KEY }, "the rotated key reached the machine");
      } finally {
        await rotated.cleanup();
      }
    }));
});

describe("machines that are not Linux", () => {
  test("plan, deploy and diagnose skip a Windows VM given by id, with the reason, and send it nothing", () =>
    withArm({}, async (arm) => {
      const win = arm.addMachine("vm", "win1", { os: "Windows" });
      const arcWin = arm.addMachine("arc", "winarc", { os: "Windows" });
      const linux = arm.addMachine("vm", "lin1");
      const deploy = await runArm(arm, [...deployArgs(ws, arm), "--json", win, arcWin, linux]);
      assert.equal(deploy.code, 0, deploy.stderr);
      const rows = parseReport(deploy.stdout).results;
      assert.deepEqual(
        rows.map((r) => [r.result, r.errorCode ?? null]),
        [
          ["skipped", "NotLinux"],
          ["skipped", "NotLinux"],
          ["ok", null],
        ],
      );
      assert.match(rows[0]!.message, /runs Windows; OmsAgentForLinux only runs on Linux/);
      assert.equal(arm.machine(win)!.puts, 0);

      const diagnose = await runArm(arm, ["diagnose", ...armFlags(arm), "--json", win, arcWin, linux]);
      assert.equal(diagnose.code, 0, diagnose.stderr);
      const diagRows = parseReport(diagnose.stdout).results;
      assert.deepEqual(
        diagRows.map((r) => r.result),
        ["skipped", "skipped", "ok"],
      );
      assert.deepEqual(arm.machine(win)!.runCommands, [], "no Linux script went to the Windows VM");
      assert.deepEqual(arm.machine(arcWin)!.runCommands, []);

      const plan = await runArm(arm, ["plan", "--settings", `@${ws.settings}`, ...armFlags(arm), win]);
      assert.equal(plan.code, 0, plan.stderr);
      assert.match(plan.stdout, /1 skipped/);
    }));
});

describe("one run per journal", () => {
  test("a second run resuming a journal that another run holds is refused, and sends nothing", () =>
    withArm({}, async (arm) => {
      const vm = arm.addMachine("vm", "locked1", { serverErrors: 1 });
      const journal = join(ws.dir, "locked.jsonl");
      const first = await runArm(arm, [...deployArgs(ws, arm, "--journal", journal, "--retries", "0"), vm]);
      assert.equal(first.code, 1, first.stderr);
      // Another process resuming it right now holds its lock.
      const release = await lockfile.lock(journal, { lockfilePath: `${journal}.lock`, realpath: false, retries: 0 });
      try {
        const puts = arm.machine(vm)!.puts;
        const second = await runArm(arm, [...deployArgs(ws, arm), "--resume", journal]);
        assert.equal(second.code, 2, second.stderr);
        assert.match(second.stderr, /another omsagent-fleet run is using the journal .*locked\.jsonl/);
        assert.equal(arm.machine(vm)!.puts, puts, "nothing was sent");
      } finally {
        await release();
      }
      const third = await runArm(arm, [...deployArgs(ws, arm), "--resume", journal]);
      assert.equal(third.code, 0, third.stderr);
    }));

  test("a journal is locked from its creation until the run closes it, so a resume cannot run beside its first run", async () => {
    const journal = join(ws.dir, "created.jsonl");
    const header: JournalHeader = {
      type: "run",
      version: JOURNAL_VERSION,
      command: "deploy",
      started: new Date().toISOString(),
      endpoint: "https://management.example",
      extension: { name: "OmsAgentForLinux", typeHandlerVersion: "1.19", autoUpgradeMinorVersion: true, enableAutomaticUpgrade: false },
      settingsSha256: "0".repeat(64),
      targets: [],
    };
    const created = await Journal.create(journal, header, (text) => text);
    const whileOpen = await resumeJournal(journal);
    assert.equal(whileOpen.ok, false);
    assert.match(!whileOpen.ok ? whileOpen.message : "", /another omsagent-fleet run is using the journal .*created\.jsonl/);
    await created.close();
    const afterClose = await resumeJournal(journal);
    assert.equal(afterClose.ok, true, !afterClose.ok ? afterClose.message : "");
    if (afterClose.ok) await afterClose.release();
  });
});

describe("pacing per bucket, as Compute and ARM have them", () => {
  test("a VM's own small bucket paces writes to that VM only, never the rest of the fleet", () =>
    withArm({ writeBucket: null }, async (arm) => {
      const ids = Array.from({ length: 12 }, (_, i) => arm.addMachine("vm", `own${i}`));
      const r = await runArm(arm, [...deployArgs(ws, arm, "--concurrency", "4"), ...ids]);
      assert.equal(r.code, 0, r.stderr);
      // Each VM's bucket (12) has 11 left after its one PUT: far above its own reserve, and no reason to slow
      // the other machines down.
      assert.doesNotMatch(r.stderr, /paced \d+ writes/);
    }));

  test("remove is paced by ARM's deletes counter instead of running into 429s", () =>
    withArm({ writeBucket: null, deleteBucket: { capacity: 14, refillPerMinute: 600 } }, async (arm) => {
      const ids = Array.from({ length: 30 }, (_, i) => arm.addMachine("vm", `del${i}`));
      const r = await runArm(arm, ["remove", ...armFlags(arm), "--retries", "0", "--concurrency", "8", ...ids], {
        pacing: { reserve: 2, minSpanMs: 100, probeMs: 50 },
      });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      // Whether pacing was needed depends on how fast this machine is: the point is that no delete met an empty bucket.
      assert.equal(arm.stats.throttled, 0, "no delete met an empty bucket");
    }));

  test("a Resource Graph 429 waits for x-ms-user-quota-resets-after (it sends no Retry-After)", () =>
    withArm({ graphQuota: { queries: 2, windowMs: 1000 } }, async (arm) => {
      for (let i = 0; i < 5; i++) arm.addMachine("vm", `graph${i}`, { tags: { fleet: "q" } });
      const r = await runArm(arm, ["status", ...armFlags(arm), "--tag", "fleet=q", "--dry-run"], { graphPageSize: 1 });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /Resource Graph: 5 machines in 5 pages/);
      assert.ok(arm.stats.graphThrottled > 0, "the quota was reached");
    }));
});

void WORKSPACE_ID;

describe("diagnose as Run Command really behaves", () => {
  const failing = (n: number): string =>
    JSON.stringify({
      healthy: false,
      total: 60,
      checks: Array.from({ length: n }, (_, i) => ({
        area: "machine",
        name: `check-${String(i).padStart(2, "0")}`,
        ok: false,
        detail: `finding number ${i}: ${"x".repeat(120)}`,
        fix: "do something about it",
      })),
    });

  test("output cut to its last 4,096 bytes still gives a verdict from the checks whole in the tail, and says it was cut", () =>
    withArm({}, async (arm) => {
      const vm = arm.addMachine("vm", "chatty", { doctorOutput: failing(40) });
      const r = await runArm(arm, ["diagnose", ...armFlags(arm), "--json", vm]);
      assert.equal(r.code, 1, r.stderr);
      const row = parseReport(r.stdout).results[0]!;
      assert.equal(row.errorCode, "DoctorFailed", row.message);
      assert.match(row.message, /more checks failed than Run Command's 4,096 bytes of output hold; the last \d+ seen: .*machine check-39/);
    }));

  test("the Arc run command has a name unique to the run and is deleted even when polling fails", () =>
    withArm({}, async (arm) => {
      const arc = arm.addMachine("arc", "flaky-poll", { pollErrors: 1 });
      const failed = await runArm(arm, ["diagnose", ...armFlags(arm), "--retries", "0", arc]);
      assert.equal(failed.code, 1, failed.stderr);
      const machine = arm.machine(arc)!;
      assert.deepEqual([...machine.arcRunCommandNames], [], "nothing left behind on the machine");
      const ok = await runArm(arm, ["diagnose", ...armFlags(arm), arc]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(new Set(machine.arcRunCommandHistory).size, 2, `two runs, two names: ${machine.arcRunCommandHistory.join(", ")}`);
      assert.deepEqual([...machine.arcRunCommandNames], []);
    }));

  test("scale-set instances run in parallel, and verdicts gathered before the deadline are kept", () =>
    withArm({}, async (arm) => {
      const set = arm.addMachine("vmss", "big", { instances: 6, hangingInstances: ["4"], instanceDoctorOutput: { "1": failing(1) } });
      const r = await runArm(arm, ["diagnose", ...armFlags(arm), "--timeout", "3s", "--json", set]);
      assert.equal(r.code, 1, r.stderr);
      const row = parseReport(r.stdout).results[0]!;
      assert.match(row.message, /^1\/6 instances unhealthy \(1\); 1\/6 not diagnosed before the deadline \(4\)/);
      assert.equal(arm.machine(set)!.runCommands.length, 6, "every instance was started");
    }));
});

describe("the endpoint, checked once up front", () => {
  test("an endpoint whose Compute lags the SDK's api-version is one clear error, and no machine is sent anything", () =>
    withArm({ apiVersions: { "Microsoft.Compute": ["2023-09-01", "2024-03-01"] } }, async (arm) => {
      const ids = Array.from({ length: 5 }, (_, i) => arm.addMachine("vm", `stack${i}`));
      const r = await runArm(arm, [...deployArgs(ws, arm), ...ids]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stderr,
        /serves Microsoft\.Compute\/virtualMachines\/extensions up to api-version 2024-03-01, but this CLI sends 2026-03-01; nothing was sent/,
      );
      assert.equal(r.stdout, "", "no per-machine table");
      assert.equal(arm.stats.puts, 0);
      assert.equal(arm.stats.badApiVersions, 0, "no request went out at a version the endpoint refuses");
    }));

  test("an untrusted TLS certificate is reported once with the --ca-cert hint, not once per machine", () =>
    withArm({}, async (arm) => {
      const ids = Array.from({ length: 4 }, (_, i) => arm.addMachine("vm", `tls${i}`));
      const flags = armFlags(arm).filter((f, i, all) => f !== "--ca-cert" && all[i - 1] !== "--ca-cert");
      const r = await runArm(arm, ["status", ...flags, ...ids]);
      assert.equal(r.code, 1, r.stderr);
      const errors = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0]!, /TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\).*--ca-cert/);
      assert.equal(r.stdout, "");
    }));
});
