// Fleet-scale behaviour against the fake ARM server: Resource Graph targets, waves and the failure budget,
// the journal and --resume, plan, and Compute's write bucket.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SUBSCRIPTION } from "../../simulator/arm/fake-arm.ts";
import { armFlags, deployArgs, parseReport, PROXY, runArm, withArm, workspace, WORKSPACE_ID, WORKSPACE_KEY, type Workspace } from "./helpers.ts";

let ws: Workspace;
before(async () => {
  ws = await workspace({ workspaceKey: WORKSPACE_KEY, proxy: PROXY });
});
after(async () => {
  await ws.cleanup();
});

const OTHER_SUBSCRIPTION = "00000000-0000-0000-0000-0000000000ef";
const failure = { code: 53, reason: "WorkspaceKeyRejected", text: "the workspace rejected the key — copy the key again" };

describe("targets from Resource Graph", () => {
  test("selects by subscription, resource group and tag, pages with $skipToken, skips non-Linux machines and de-duplicates hand-given ids", () =>
    withArm({ graphPageSize: 2 }, async (arm) => {
      const prod = { tags: { env: "prod" } };
      const vm1 = arm.addMachine("vm", "vm1", prod, { resourceGroup: "rg-a" });
      const vm2 = arm.addMachine("vm", "vm2", prod, { resourceGroup: "rg-b" });
      const set = arm.addMachine("vmss", "web", prod, { resourceGroup: "rg-a" });
      const edge = arm.addMachine("arc", "edge", { tags: { Env: "PROD" } }, { resourceGroup: "rg-a" });
      const win = arm.addMachine("vm", "win", { ...prod, os: "Windows" }, { resourceGroup: "rg-a" });
      const arcWin = arm.addMachine("arc", "arcwin", { ...prod, os: "Windows" }, { resourceGroup: "rg-a" });
      const dev = arm.addMachine("vm", "dev", { tags: { env: "dev" } }, { resourceGroup: "rg-a" });
      const otherRg = arm.addMachine("vm", "elsewhere", prod, { resourceGroup: "rg-c" });
      const otherSub = arm.addMachine("vm", "foreign", prod, { subscriptionId: OTHER_SUBSCRIPTION, resourceGroup: "rg-a" });
      const untagged = arm.addMachine("vm", "untagged", {}, { resourceGroup: "rg-b" });

      const r = await runArm(
        arm,
        [
          ...deployArgs(ws, arm, "--json"),
          "--subscription",
          SUBSCRIPTION,
          "--resource-group",
          "rg-a",
          "--resource-group",
          "RG-B",
          "--tag",
          "env=prod",
          vm1.toUpperCase(),
          untagged,
        ],
        { graphPageSize: 2 },
      );
      assert.equal(r.code, 0, r.stderr);
      const report = parseReport(r.stdout);
      const ids = report.results.map((row) => row.id.toLowerCase());
      // Hand-given first, then the graph's in its order (by id); vm1 once although both name it.
      const lower = (list: string[]): string[] => list.map((id) => id.toLowerCase());
      assert.deepEqual(ids, lower([vm1, untagged, ...[win, set, arcWin, edge, vm2].sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1))]));
      for (const id of [dev, otherRg, otherSub]) assert.ok(!ids.includes(id.toLowerCase()), `${id} is outside the selection`);
      const byId = new Map(report.results.map((row) => [row.id.toLowerCase(), row]));
      for (const id of [win, arcWin]) {
        const row = byId.get(id.toLowerCase())!;
        assert.deepEqual([row.result, row.errorCode], ["skipped", "NotLinux"]);
        assert.match(row.message, /Resource Graph reports OS type (Windows|windows); OmsAgentForLinux only runs on Linux/);
        assert.equal(arm.machine(id)!.puts, 0);
      }
      for (const id of [vm1, vm2, set, edge, untagged]) assert.equal(byId.get(id.toLowerCase())?.result, "ok");
      assert.equal(arm.machine(vm1)!.puts, 1);
      assert.equal(arm.stats.graphQueries, 3, "6 rows in pages of 2");
      assert.match(r.stderr, /Resource Graph: 6 machines in 3 pages/);
      assert.match(r.stderr, /1 machine from Resource Graph already listed by id; each is handled once/);
      assert.match(r.stderr, /5 succeeded, 0 failed, 2 skipped \(not Linux\)/);

      // The same selection works for status (and remove): read-only here, every machine it found reports.
      const status = await runArm(
        arm,
        ["status", ...armFlags(arm), "--json", "--subscription", SUBSCRIPTION, "--resource-group", "rg-a", "--resource-group", "rg-b", "--tag", "env=prod"],
        { graphPageSize: 2 },
      );
      assert.equal(status.code, 0, status.stderr);
      assert.deepEqual(
        parseReport(status.stdout)
          .results.map((row) => row.result)
          .sort(),
        ["ok", "ok", "ok", "ok", "skipped", "skipped"],
      );
    }));

  test("--machine-types narrows the kinds; --dry-run runs only the (read-only) query", () =>
    withArm({}, async (arm) => {
      arm.addMachine("vm", "vm1");
      const set = arm.addMachine("vmss", "web");
      const edge = arm.addMachine("arc", "edge");
      const r = await runArm(arm, [...deployArgs(ws, arm), "--subscription", SUBSCRIPTION, "--machine-types", "vmss,arc", "--dry-run"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        r.stdout
          .trim()
          .split("\n")
          .map((l) => l.split(/\s+/).pop()),
        [set, edge],
      );
      assert.ok(
        arm.log.every((l) => l.method === "POST" && l.path === "/providers/Microsoft.ResourceGraph/resources"),
        JSON.stringify(arm.log),
      );
    }));
});

describe("waves and the failure budget", () => {
  test("once failures exceed --max-failures no machine starts, machines in flight finish, and the rest are listed as never touched (exit 3)", () =>
    withArm({}, async (arm) => {
      // Wave 1 (5 machines): 3 fail. Budget 2: the third failure spends it.
      const ids = Array.from({ length: 20 }, (_, i) =>
        arm.addMachine("vm", `vm${String(i).padStart(2, "0")}`, i === 1 || i === 2 || i === 3 ? { failure } : {}),
      );
      const r = await runArm(arm, [...deployArgs(ws, arm, "--json", "--batch", "5", "--max-failures", "2", "--concurrency", "5"), ...ids]);
      assert.equal(r.code, 3, r.stderr);
      const report = parseReport(r.stdout) as ReturnType<typeof parseReport> & { stopped: { failures: number; maxFailures: number }; neverTouched: string[] };
      assert.deepEqual(report.stopped, { reason: "failure budget spent", failures: 3, maxFailures: 2 });
      // The whole first wave was in flight when the budget was spent; it finished. Nothing after it started.
      assert.deepEqual(
        report.results.slice(0, 5).map((row) => row.result),
        ["ok", "failed", "failed", "failed", "ok"],
      );
      assert.deepEqual(report.neverTouched, ids.slice(5));
      for (const id of ids.slice(5)) assert.equal(arm.machine(id)!.puts, 0);
      assert.ok(report.results.slice(5).every((row) => row.result === "not-started" && /failure budget was spent/.test(row.message)));
      assert.equal((report.summary as { notStarted?: number }).notStarted, 15);
      assert.match(r.stderr, /wave 1\/4: 5 machines/);
      assert.doesNotMatch(r.stderr, /wave 2\/4/);
    }));

  test("waves run one after another; percentages of the fleet work for both options", () =>
    withArm({ latencyMs: 5 }, async (arm) => {
      const ids = Array.from({ length: 10 }, (_, i) => arm.addMachine("vm", `vm${i}`, i === 7 ? { failure } : {}));
      const r = await runArm(arm, [...deployArgs(ws, arm, "--batch", "30%", "--max-failures", "10%", "--concurrency", "8"), ...ids]);
      // 30 % of 10 = 3 per wave (4 waves); 10 % = 1 failure tolerated, and there is exactly one.
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /waves of 3, at most 1 failures/);
      for (const wave of [1, 2, 3, 4]) assert.match(r.stderr, new RegExp(`wave ${wave}/4: ${wave === 4 ? 1 : 3} machine`));
      // A wave starts only after the previous one finished: never more than a wave's worth of operations.
      assert.ok(arm.stats.maxActiveOps <= 3, `max active operations ${arm.stats.maxActiveOps}`);
      assert.match(r.stdout, /^9 succeeded, 1 failed$/m);
    }));
});

/** Machines whose last journal state is `sending`: their PUT went out (or was about to) and was never answered. */
async function unansweredIn(journal: string): Promise<Set<string>> {
  const last = new Map<string, string>();
  for (const line of (await readFile(journal, "utf8")).trim().split("\n")) {
    const entry = JSON.parse(line) as { type: string; id?: string; state?: string };
    if (entry.type === "machine") last.set(entry.id!.toLowerCase(), entry.state!);
  }
  return new Set([...last].filter(([, state]) => state === "sending").map(([id]) => id));
}

describe("journal and --resume", () => {
  test("an interrupted 1,000-machine deploy resumes without sending a PUT ARM answered twice", () =>
    withArm({ writeBucket: null, inProgressPolls: 1 }, async (arm) => {
      const ids = Array.from({ length: 1000 }, (_, i) => arm.addMachine(i % 10 === 8 ? "vmss" : i % 10 === 9 ? "arc" : "vm", `m${i}`));
      const targets = await ws.file("fleet-1000.txt", ids.join("\n"));
      const journal = join(ws.dir, "fleet-1000.jsonl");
      const interrupt = new AbortController();
      // Ctrl-C a third of the way in, with operations accepted by ARM and still running.
      const watch = setInterval(() => {
        if (arm.stats.puts >= 330) {
          clearInterval(watch);
          interrupt.abort();
        }
      }, 2);
      const first = await runArm(arm, [...deployArgs(ws, arm, "--concurrency", "32", "--journal", journal, "--json"), "-f", targets], {
        signal: interrupt.signal,
      });
      clearInterval(watch);
      assert.equal(first.code, 130, first.stderr);
      const firstRows = parseReport(first.stdout).results;
      const cancelled = firstRows.filter((row) => row.result === "cancelled").length;
      assert.ok(cancelled > 0, "some machines were in flight when interrupted");
      assert.ok(
        firstRows.some((row) => row.result === "skipped"),
        "some machines were never started",
      );
      assert.match(first.stderr, new RegExp(`resume with: omsagent-fleet deploy --resume ${journal.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}`));
      const putsBefore = arm.stats.puts;
      // A PUT journaled `sending` was never seen answered: the resume sends it again (protected settings cannot
      // be read back to tell whether it landed). Every other machine gets exactly one PUT across both runs.
      const unanswered = await unansweredIn(journal);

      const second = await runArm(arm, [...deployArgs(ws, arm), "--concurrency", "32", "--resume", journal, "--json"]);
      assert.equal(second.code, 0, second.stderr);
      const report = parseReport(second.stdout);
      assert.equal(report.summary.succeeded, 1000);
      const twice = ids.filter((id) => arm.machine(id)!.puts !== 1 && !unanswered.has(id.toLowerCase()));
      assert.deepEqual(twice, [], "every machine whose PUT was answered got exactly one PUT across both runs");
      assert.ok(arm.stats.puts <= 1000 + unanswered.size, `${arm.stats.puts} PUTs`);
      assert.ok(arm.stats.puts > putsBefore, "the resumed run sent the PUTs the first one never did");
      assert.equal(arm.stats.overlappingWrites, 0);
      const earlier = report.results.filter((row) => /succeeded in an earlier run/.test(row.message)).length;
      assert.ok(earlier > 0 && earlier < 1000);

      // The journal: a header, then one line per state change, fsync'd as it went; the resume appended to it.
      const lines = (await readFile(journal, "utf8"))
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { type: string; state?: string; id?: string });
      assert.equal(lines[0]!.type, "run");
      assert.equal(lines.filter((l) => l.type === "resume").length, 1);
      const final = new Map<string, string>();
      for (const l of lines) if (l.type === "machine") final.set(l.id!.toLowerCase(), l.state!);
      assert.equal(final.size, 1000);
      assert.ok([...final.values()].every((state) => state === "succeeded"));
    }));

  test("resume retries failed machines, refuses other settings, and the journal never holds a secret", () =>
    withArm({}, async (arm) => {
      const good = arm.addMachine("vm", "good");
      const bad = arm.addMachine("vm", "bad", { failure, echoSecrets: true });
      const locked = arm.addMachine("arc", "locked", { reject: { status: 400, code: "BadRequest", message: "Rejected." }, echoSecrets: true });
      const journal = join(ws.dir, "secrets.jsonl");
      const r = await runArm(arm, [...deployArgs(ws, arm, "--journal", journal, "--retries", "0"), good, bad, locked]);
      assert.equal(r.code, 1, r.stderr);
      const text = await readFile(journal, "utf8");
      for (const secret of [WORKSPACE_KEY, PROXY, "Pr0xy-Passw0rd!", "fleetuser:Pr0xy-Passw0rd!"]) assert.ok(!text.includes(secret), `journal holds ${secret}`);
      assert.match(text, /\*\*\*/, "the echoed request body was redacted, not dropped");
      assert.match(text, /"state":"failed"/);

      const other = await ws.file("other-settings.json", JSON.stringify({ workspaceId: "11111111-2222-3333-4444-555555555555" }));
      const refused = await runArm(arm, [
        "deploy",
        "--settings",
        `@${other}`,
        "--protected-settings",
        `@${ws.protectedSettings}`,
        ...armFlags(arm),
        "--resume",
        journal,
      ]);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /cannot resume .*secrets\.jsonl: the public settings differ/);

      const again = await runArm(arm, [...deployArgs(ws, arm), "--retries", "0", "--resume", journal]);
      assert.equal(again.code, 1);
      assert.equal(arm.machine(good)!.puts, 1, "succeeded: skipped");
      assert.equal(arm.machine(bad)!.puts, 2, "failed: retried");
      assert.equal(arm.machine(locked)!.puts, 2, "failed: retried");
      const after = await readFile(journal, "utf8");
      for (const secret of [WORKSPACE_KEY, "Pr0xy-Passw0rd!"]) assert.ok(!after.includes(secret));
    }));
});

describe("plan", () => {
  test("shows create / update / unchanged per machine against what is there, and changes nothing", () =>
    withArm({}, async (arm) => {
      const fresh = arm.addMachine("vm", "fresh");
      const same = arm.addMachine("vm", "same");
      const old = arm.addMachine("arc", "old");
      const set = arm.addMachine("vmss", "web");
      const win = arm.addMachine("vm", "win", { os: "Windows" });
      assert.equal((await runArm(arm, [...deployArgs(ws, arm), same, set])).code, 0);
      assert.equal((await runArm(arm, [...deployArgs(ws, arm, "--version", "1.18"), old])).code, 0);
      const before = arm.log.length;

      const r = await runArm(arm, [
        "plan",
        "--settings",
        `@${ws.settings}`,
        ...armFlags(arm),
        "--json",
        "--enable-automatic-upgrade",
        fresh,
        same,
        old,
        set,
        win,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(
        arm.log.slice(before).every((l) => l.method === "GET"),
        "plan only reads",
      );
      const plan = JSON.parse(r.stdout) as {
        summary: Record<string, number>;
        results: { machine: string; action: string; current: Record<string, unknown> | null; changes: { field: string; now: unknown; deploy: unknown }[] }[];
      };
      const byMachine = new Map(plan.results.map((x) => [x.machine, x]));
      assert.equal(byMachine.get("rg-fleet/fresh")!.action, "create");
      assert.equal(byMachine.get("rg-fleet/fresh")!.current, null);
      // Deployed with enableAutomaticUpgrade false; the plan asks for true.
      assert.equal(byMachine.get("rg-fleet/same")!.action, "update");
      assert.deepEqual(byMachine.get("rg-fleet/same")!.changes, [{ field: "enableAutomaticUpgrade", now: false, deploy: true }]);
      const arc = byMachine.get("rg-fleet/old (arc)")!;
      assert.equal(arc.action, "update");
      // Arc reads back the full version it installed.
      assert.deepEqual(arc.changes, [{ field: "typeHandlerVersion", now: "1.18.2", deploy: "1.19" }]);
      assert.deepEqual([arc.current?.typeHandlerVersion, arc.current?.provisioningState], ["1.18.2", "Succeeded"]);
      assert.deepEqual(arc.current?.settings, { workspaceId: WORKSPACE_ID, stopOnMultipleConnections: "true" });
      assert.equal(byMachine.get("rg-fleet/win")!.action, "skip");
      assert.deepEqual(plan.summary, { total: 5, create: 1, update: 3, unchanged: 0, skip: 1, error: 0, seconds: plan.summary.seconds });

      const table = await runArm(arm, ["plan", "--settings", `@${ws.settings}`, ...armFlags(arm), fresh, same]);
      assert.equal(table.code, 0);
      assert.match(table.stdout, /^rg-fleet\/fresh\s+create\s+-$/m);
      assert.match(table.stdout, /^rg-fleet\/same\s+unchanged\s+1\.19 Succeeded$/m);
      assert.match(table.stdout, /^plan: 1 to create, 0 to update, 1 unchanged, 0 skipped, 0 could not be read; nothing was changed$/m);
    }));
});

describe("Compute's write bucket", () => {
  test("an empty bucket answers 429 with Retry-After and the remaining count in every write's headers", () =>
    withArm({ writeBucket: { capacity: 2, refillPerMinute: 1 } }, async (arm) => {
      const ids = Array.from({ length: 3 }, (_, i) => arm.addMachine("vm", `vm${i}`));
      const r = await runArm(arm, [...deployArgs(ws, arm, "--json", "--retries", "0", "--concurrency", "1"), ...ids]);
      assert.equal(r.code, 1);
      const rows = parseReport(r.stdout).results;
      assert.deepEqual(
        rows.map((row) => row.result),
        ["ok", "ok", "failed"],
      );
      assert.match(rows[2]!.message, /PUT extension was throttled \(HTTP 429 OperationNotAllowed\)/);
      assert.equal(arm.stats.throttled, 1);
      assert.equal(arm.stats.minRemaining, 0);
    }));

  test("writes are paced from the remaining-request headers: the rollout slows down and succeeds", () =>
    withArm({ writeBucket: { capacity: 12, refillPerMinute: 300 } }, async (arm) => {
      const ids = Array.from({ length: 40 }, (_, i) => arm.addMachine("vm", `vm${i}`));
      const r = await runArm(arm, [...deployArgs(ws, arm, "--concurrency", "16"), ...ids], { pacing: { reserve: 2, minSpanMs: 100, probeMs: 50 } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /paced \d+ writes/);
    }));
});

describe("journal with a per-machine vmResourceId", () => {
  test("a one-machine run whose protected settings name the machine itself still resumes (ids are not redacted)", () =>
    withArm({}, async (arm) => {
      const vm = arm.addMachine("vm", "solo");
      const prot = await ws.file("solo-protected.json", JSON.stringify({ workspaceKey: WORKSPACE_KEY, vmResourceId: vm }));
      const journal = join(ws.dir, "solo.jsonl");
      const args = ["deploy", "--settings", `@${ws.settings}`, "--protected-settings", `@${prot}`, ...armFlags(arm)];
      assert.equal((await runArm(arm, [...args, "--journal", journal, vm])).code, 0);
      const text = await readFile(journal, "utf8");
      assert.ok(text.includes(vm) && !text.includes(WORKSPACE_KEY));
      const again = await runArm(arm, [...args, "--resume", journal]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(arm.machine(vm)!.puts, 1, "already succeeded: not sent again");
    }));
});
