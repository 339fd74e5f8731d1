// `omsagent-fleet migrate` end to end: the real @azure/arm-operationalinsights, @azure/arm-monitor,
// @azure/monitor-query-logs, compute and hybrid-compute clients against the fake ARM server and its monitor
// endpoints (simulator/arm/fake-monitor.ts).
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import lockfile from "proper-lockfile";
import type { FakeArm } from "../../simulator/arm/fake-arm.ts";
import { installLegacyAgent, type DataSource } from "../../simulator/arm/fake-monitor.ts";
import { translate } from "../../src/cli/migrate/dcr.ts";
import { createMonitorClients } from "../../src/cli/migrate/clients.ts";
import { heartbeatQuery } from "../../src/cli/migrate/heartbeat.ts";
import { armFlags, runArm, withArm } from "./helpers.ts";

const SUB = "00000000-0000-0000-0000-00000000abcd";
const DCR = `/subscriptions/${SUB}/resourceGroups/rg-monitor/providers/Microsoft.Insights/dataCollectionRules/dcr-linux`;
const UAI = `/subscriptions/${SUB}/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/ama-id`;

/** A workspace configured the way legacy Linux agents were: syslog, performance objects, a custom log. */
const LEGACY: DataSource[] = [
  {
    name: "syslog-kern",
    kind: "LinuxSyslog",
    properties: { syslogName: "kern", syslogSeverities: ["emerg", "alert", "crit", "err"].map((severity) => ({ severity })) },
  },
  {
    name: "syslog-auth",
    kind: "LinuxSyslog",
    properties: { syslogName: "auth", syslogSeverities: ["emerg", "alert", "crit", "err"].map((severity) => ({ severity })) },
  },
  {
    name: "syslog-daemon",
    kind: "LinuxSyslog",
    properties: {
      syslogName: "daemon",
      syslogSeverities: ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"].map((severity) => ({ severity })),
    },
  },
  { name: "syslog-on", kind: "LinuxSyslogCollection", properties: { state: "Enabled" } },
  {
    name: "perf-cpu",
    kind: "LinuxPerformanceObject",
    properties: {
      objectName: "Processor",
      instanceName: "*",
      intervalSeconds: 10,
      performanceCounters: [{ counterName: "% Processor Time" }, { counterName: "% Idle Time" }],
    },
  },
  {
    name: "perf-disk",
    kind: "LinuxPerformanceObject",
    properties: { objectName: "Logical Disk", instanceName: "*", intervalSeconds: 60, performanceCounters: [{ counterName: "% Used Space" }] },
  },
  {
    name: "perf-mem",
    kind: "LinuxPerformanceObject",
    properties: { objectName: "Memory", instanceName: "*", intervalSeconds: 10, performanceCounters: [{ counterName: "Available MBytes Memory" }] },
  },
  { name: "perf-on", kind: "LinuxPerformanceCollection", properties: { state: "Enabled" } },
  {
    name: "app-log",
    kind: "CustomLog",
    properties: { customLogName: "app_CL", inputs: [{ location: { fileSystemLocations: { linuxFileTypeLogPaths: ["/var/log/app/*.log"] } } }] },
  },
  // Windows sources of the same workspace are not read (the $filter asks for Linux kinds and custom logs).
  { name: "win-events", kind: "WindowsEvent", properties: { eventLogName: "System", eventTypes: [{ eventType: "Error" }] } },
];

interface Setup {
  workspace: { id: string; customerId: string };
  flags: string[];
}

/** The workspace, its DCR created through `migrate dcr --create`, and the flags every migrate run needs. */
async function setup(arm: FakeArm): Promise<Setup> {
  const workspace = arm.monitor.addWorkspace("law-prod", LEGACY, { resourceGroup: "rg-monitor" });
  const logs = ["--logs-endpoint", arm.endpoint];
  const r = await runArm(arm, ["migrate", "dcr", "--workspace", workspace.id, "--dcr", DCR, "--create", ...armFlags(arm)]);
  assert.equal(r.code, 0, r.stderr);
  return { workspace, flags: ["--workspace", workspace.id, "--dcr", DCR, ...armFlags(arm), ...logs, "--heartbeat-interval", "20ms"] };
}

describe("migrate dcr", () => {
  test("translates syslog and performance sources, says custom logs were left out, and creates the rule", () =>
    withArm({}, async (arm) => {
      const workspace = arm.monitor.addWorkspace("law-prod", LEGACY, { resourceGroup: "rg-monitor", location: "northeurope" });
      const printed = await runArm(arm, ["migrate", "dcr", "--workspace", workspace.id, ...armFlags(arm)]);
      assert.equal(printed.code, 0, printed.stderr);
      const rule = JSON.parse(printed.stdout) as ReturnType<typeof translate>["rule"];
      assert.equal(rule.location, "northeurope");
      assert.equal(rule.kind, "Linux");
      assert.deepEqual(rule.properties.dataSources.syslog, [
        { name: "syslog-1-error", streams: ["Microsoft-Syslog"], facilityNames: ["auth", "kern"], logLevels: ["Emergency", "Alert", "Critical", "Error"] },
        {
          name: "syslog-2-debug",
          streams: ["Microsoft-Syslog"],
          facilityNames: ["daemon"],
          logLevels: ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Info", "Debug"],
        },
      ]);
      assert.deepEqual(rule.properties.dataSources.performanceCounters, [
        {
          name: "perf-10s",
          streams: ["Microsoft-Perf"],
          samplingFrequencyInSeconds: 10,
          counterSpecifiers: ["\\Processor(*)\\% Processor Time", "\\Processor(*)\\% Idle Time", "\\Memory(*)\\Available MBytes Memory"],
        },
        { name: "perf-60s", streams: ["Microsoft-Perf"], samplingFrequencyInSeconds: 60, counterSpecifiers: ["\\Logical Disk(*)\\% Used Space"] },
      ]);
      assert.deepEqual(rule.properties.destinations, { logAnalytics: [{ name: "legacyWorkspace", workspaceResourceId: workspace.id }] });
      assert.deepEqual(rule.properties.dataFlows, [{ streams: ["Microsoft-Syslog", "Microsoft-Perf"], destinations: ["legacyWorkspace"] }]);
      assert.match(printed.stderr, /9 legacy data sources read, 6 translated, 1 left out/);
      assert.match(printed.stderr, /^left out: CustomLog app-log: custom text logs need a custom table/m);
      assert.doesNotMatch(printed.stdout + printed.stderr, /win-events/);
      assert.match(printed.stderr, /not created: pass --dcr <rule id> --create/);
      assert.equal(arm.monitor.stats.dcrPuts, 0);
      // Five data sources a request at most in the fake: the client followed nextLink.
      assert.equal(arm.monitor.stats.dataSourceLists, 5);

      const created = await runArm(arm, ["migrate", "dcr", "--workspace", workspace.id, "--dcr", DCR, "--create", ...armFlags(arm)]);
      assert.equal(created.code, 0, created.stderr);
      assert.equal((JSON.parse(created.stdout) as { id: string }).id, DCR);
      assert.deepEqual((arm.monitor.rule(DCR) as { properties: unknown }).properties, rule.properties);
    }));

  test("a switched-off collection is not translated, and says so", () => {
    const off = LEGACY.map((d) => (d.kind === "LinuxPerformanceCollection" ? { ...d, properties: { state: "Disabled" } } : d));
    const t = translate(off, "/subscriptions/x/resourceGroups/r/providers/Microsoft.OperationalInsights/workspaces/w", "westeurope");
    assert.equal(t.rule.properties.dataSources.performanceCounters, undefined);
    assert.deepEqual(t.rule.properties.dataFlows, [{ streams: ["Microsoft-Syslog"], destinations: ["legacyWorkspace"] }]);
    assert.deepEqual(
      t.leftOut.map((l) => `${l.kind} ${l.name}`),
      ["LinuxPerformanceObject perf-cpu", "LinuxPerformanceObject perf-disk", "LinuxPerformanceObject perf-mem", "CustomLog app-log"],
    );
    assert.match(t.leftOut[0]!.why, /turned off in the workspace/);
  });

  test("the heartbeat query is the workbook's, narrowed to AMA's category", () => {
    assert.equal(
      heartbeatQuery(["/subscriptions/A/resourceGroups/R/providers/Microsoft.Compute/virtualMachines/VM1"]),
      'Heartbeat\n| where Category == "Azure Monitor Agent"\n| where _ResourceId in~ ("/subscriptions/a/resourcegroups/r/providers/microsoft.compute/virtualmachines/vm1")\n| summarize LastHeartbeat = max(TimeGenerated), Computers = dcount(Computer) by ResourceId = tolower(_ResourceId)',
    );
  });
});

describe("migrate plan and migrate", () => {
  test("a mixed fleet (VMs, a scale set, Arc) is planned, migrated, verified by heartbeat and left without the legacy agent", () =>
    withArm({ monitor: { heartbeatDelayMs: 30 } }, async (arm) => {
      const { workspace, flags } = await setup(arm);
      const ids = [
        arm.addMachine("vm", "vm-system", { identity: { type: "SystemAssigned" } }),
        arm.addMachine("vm", "vm-user", { identity: { type: "UserAssigned", userAssignedIdentities: [UAI] } }),
        arm.addMachine("vmss", "web", { identity: { type: "SystemAssigned" }, instances: 3 }),
        arm.addMachine("arc", "edge1"),
      ];
      for (const id of ids) installLegacyAgent(arm.machine(id)!, workspace.customerId);

      const plan = await runArm(arm, ["migrate", "plan", ...flags, "--json", ...ids]);
      assert.equal(plan.code, 0, plan.stderr);
      const planned = JSON.parse(plan.stdout) as {
        summary: Record<string, number>;
        results: { action: string; steps: string[]; identity: unknown; legacy: { workspaceId: string } }[];
      };
      assert.deepEqual(planned.summary.create, 4);
      assert.deepEqual(planned.results[0]!.steps, ["install AMA", "associate DCR", "verify heartbeat", "remove OmsAgentForLinux"]);
      assert.deepEqual(
        planned.results.map((r) => r.identity),
        [{ kind: "system" }, { kind: "user", id: UAI }, { kind: "system" }, { kind: "arc" }],
      );
      assert.equal(planned.results[3]!.legacy.workspaceId, workspace.customerId);
      assert.equal(arm.stats.puts, 0, "plan changes nothing");

      const r = await runArm(arm, ["migrate", ...flags, ...ids]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^4 succeeded, 0 failed$/m);
      for (const id of ids) {
        const m = arm.machine(id)!;
        const ama = m.extensions.get("azuremonitorlinuxagent");
        assert.equal(ama?.provisioningState, "Succeeded", id);
        assert.equal(ama?.properties.publisher, "Microsoft.Azure.Monitor");
        assert.equal(ama?.properties.autoUpgradeMinorVersion, true);
        if (m.kind !== "arc") assert.equal(ama?.properties.enableAutomaticUpgrade, true);
        assert.ok(!m.extensions.has("omsagentforlinux"), `${id}: legacy agent removed`);
        assert.deepEqual(
          arm.monitor.associations(id).map((a) => a.dataCollectionRuleId),
          [DCR],
        );
      }
      assert.deepEqual(arm.machine(ids[1]!)!.extensions.get("azuremonitorlinuxagent")?.properties.settings, {
        authentication: { managedIdentity: { "identifier-name": "mi_res_id", "identifier-value": UAI } },
      });
      assert.deepEqual(arm.machine(ids[0]!)!.extensions.get("azuremonitorlinuxagent")?.properties.settings, {});
      assert.match(r.stdout, /AMA installed; DCR associated; heartbeat [0-9T:.-]+Z; OmsAgentForLinux removed/);
      assert.equal(arm.stats.overlappingWrites, 0);

      // Run again: nothing left to do, nothing sent.
      const puts = arm.stats.puts;
      const again = await runArm(arm, ["migrate", "plan", ...flags, ...ids]);
      assert.match(again.stdout, /migrate plan: 0 to migrate, 4 unchanged, 0 blocked/);
      const rerun = await runArm(arm, ["migrate", ...flags, ...ids]);
      assert.equal(rerun.code, 0, rerun.stderr);
      assert.match(rerun.stdout, /already migrated/);
      assert.equal(arm.stats.puts, puts);
    }));

  test("a VM without a managed identity is blocked with the reason, and nothing is sent to it", () =>
    withArm({}, async (arm) => {
      const { workspace, flags } = await setup(arm);
      const bare = arm.addMachine("vm", "no-identity");
      const other = arm.addMachine("vm", "two-identities", { identity: { type: "UserAssigned", userAssignedIdentities: [UAI, `${UAI}-2`] } });
      installLegacyAgent(arm.machine(bare)!, workspace.customerId);
      const plan = await runArm(arm, ["migrate", "plan", ...flags, bare, other]);
      assert.equal(plan.code, 1);
      assert.match(
        plan.stdout,
        /rg-fleet\/no-identity\s+blocked\s+no managed identity, which AMA needs on Azure VMs to authenticate — enable one \(az vm identity assign -g rg-fleet -n no-identity\)/,
      );
      assert.match(
        plan.stdout,
        /rg-fleet\/two-identities\s+blocked\s+2 user-assigned identities and no system-assigned one — choose the one AMA uses with --user-assigned-identity/,
      );
      const r = await runArm(arm, ["migrate", ...flags, bare]);
      assert.equal(r.code, 1);
      assert.match(r.stdout, /no-identity\s+failed\s+Blocked\s+no managed identity/);
      assert.equal(arm.machine(bare)!.puts, 0);
      assert.ok(arm.machine(bare)!.extensions.has("omsagentforlinux"), "legacy agent kept");
    }));

  test("a heartbeat that never comes keeps the legacy agent and spends the failure budget", () =>
    withArm({}, async (arm) => {
      const { workspace, flags } = await setup(arm);
      const silent = arm.addMachine("vm", "silent", { identity: { type: "SystemAssigned" }, ama: { heartbeat: "never" } });
      const failing = arm.addMachine("vm", "ama-fails", {
        identity: { type: "SystemAssigned" },
        ama: { failure: { code: 51, reason: "UnsupportedOS", text: "this distribution is not supported by AMA" } },
      });
      const later = arm.addMachine("vm", "later", { identity: { type: "SystemAssigned" } });
      for (const id of [silent, failing, later]) installLegacyAgent(arm.machine(id)!, workspace.customerId);
      const r = await runArm(arm, [
        "migrate",
        ...flags,
        "--heartbeat-timeout",
        "300ms",
        "--batch",
        "1",
        "--max-failures",
        "1",
        "--json",
        silent,
        failing,
        later,
      ]);
      assert.equal(r.code, 3, r.stderr);
      const report = JSON.parse(r.stdout) as { stopped: { failures: number }; results: { result: string; errorCode?: string; message: string }[] };
      assert.equal(report.stopped.failures, 2);
      assert.equal(report.results[0]!.errorCode, "NoHeartbeat", report.results[0]!.message);
      assert.match(report.results[0]!.message, /no AMA heartbeat in workspace [0-9a-f-]+ within 300 ms; OmsAgentForLinux kept \(still reporting\)/);
      assert.match(report.results[1]!.message, /AMA failed to install; OmsAgentForLinux kept: .*UnsupportedOS/);
      assert.equal(report.results[2]!.result, "not-started");
      for (const id of [silent, failing, later]) assert.ok(arm.machine(id)!.extensions.has("omsagentforlinux"), `${id} keeps the legacy agent`);
      assert.equal(arm.machine(later)!.puts, 0);
      assert.match(r.stderr, /resume with: omsagent-fleet migrate --resume /);
    }));

  test("a Resource Graph selection leaves Windows machines out, and a Manual scale set says how to finish", () =>
    withArm({}, async (arm) => {
      const { workspace, flags } = await setup(arm);
      const prod = { tags: { env: "prod" }, identity: { type: "SystemAssigned" as const } };
      const linux = arm.addMachine("vm", "lin1", prod);
      arm.addMachine("vm", "win1", { ...prod, os: "Windows" });
      const manual = arm.addMachine("vmss", "manual-pool", { ...prod, upgradeMode: "Manual" });
      arm.addMachine("vm", "dev1", { ...prod, tags: { env: "dev" } });
      for (const id of [linux, manual]) installLegacyAgent(arm.machine(id)!, workspace.customerId);
      const r = await runArm(arm, ["migrate", ...flags, "--subscription", SUB, "--tag", "env=prod", "--json"]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /Resource Graph: 3 machines .*; 1 not Linux, left out/);
      const report = JSON.parse(r.stdout) as { results: { machine: string; result: string; message: string }[] };
      assert.deepEqual(
        report.results.map((x) => [x.machine, x.result]),
        [
          ["rg-fleet/lin1", "ok"],
          ["rg-fleet/manual-pool (vmss)", "failed"],
        ],
      );
      assert.match(
        report.results[1]!.message,
        /AMA did not succeed \(transitioning\); OmsAgentForLinux kept: .*upgrade policy is Manual: upgrade its instances \(az vmss update-instances\), then resume/,
      );
      assert.ok(arm.machine(manual)!.extensions.has("omsagentforlinux"));
    }));

  test("an identity lost after AMA was installed: AMA succeeds but never reports, so the legacy agent stays", () =>
    withArm({}, async (arm) => {
      const { workspace, flags } = await setup(arm);
      const id = arm.addMachine("vm", "identity-lost", { identity: { type: "SystemAssigned" } });
      installLegacyAgent(arm.machine(id)!, workspace.customerId);
      // Someone removes the identity while the migration runs, right after AMA's PUT.
      const watch = setInterval(() => {
        const m = arm.machine(id)!;
        if (m.extensions.has("azuremonitorlinuxagent")) {
          delete m.config.identity;
          clearInterval(watch);
        }
      }, 1);
      const r = await runArm(arm, ["migrate", ...flags, "--heartbeat-timeout", "300ms", id]);
      clearInterval(watch);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(arm.machine(id)!.extensions.get("azuremonitorlinuxagent")?.provisioningState, "Succeeded");
      assert.match(r.stdout, /identity-lost\s+failed\s+NoHeartbeat\s+no AMA heartbeat/);
      assert.ok(arm.machine(id)!.extensions.has("omsagentforlinux"));
    }));

  test("the fake's query API: the legacy agent's Direct Agent heartbeats, AMA's only once it reports, other KQL refused", () =>
    withArm({}, async (arm) => {
      const { workspace } = await setup(arm);
      const id = arm.addMachine("vm", "q1", { identity: { type: "SystemAssigned" } });
      installLegacyAgent(arm.machine(id)!, workspace.customerId);
      const clients = await createMonitorClients(
        {
          endpoint: arm.endpoint,
          scope: `${arm.endpoint}/.default`,
          caCertPem: await readFile(arm.caCertFile, "utf8"),
          retry: { maxRetries: 0, baseDelayMs: 1, maxDelayMs: 1 },
        },
        arm.credential,
        { logsEndpoint: arm.endpoint, logsScope: `${arm.endpoint}/.default` },
      );
      const span = { startTime: new Date(Date.now() - 60_000), endTime: new Date(Date.now() + 1000) };
      const rows = async (category: string): Promise<unknown[]> => {
        const result = await clients.logs().queryWorkspace(workspace.customerId, heartbeatQuery([id], category), span);
        return "tables" in result ? result.tables[0]!.rows : [];
      };
      assert.equal((await rows("Direct Agent")).length, 1);
      assert.equal((await rows("Azure Monitor Agent")).length, 0);
      await assert.rejects(clients.logs().queryWorkspace(workspace.customerId, "Heartbeat | take 10", span), /BadArgumentError|invalid properties/);
      await assert.rejects(
        clients.logs().queryWorkspace("00000000-0000-0000-0000-000000000000", heartbeatQuery([id]), span),
        /WorkspaceNotFound|could not be found/,
      );
    }));

  test("a run interrupted while the legacy agent is being removed: the resume waits for that DELETE, never sends another", () =>
    withArm({ inProgressPolls: 40 }, async (arm) => {
      const { workspace, flags } = await setup(arm);
      const id = arm.addMachine("vm", "deleting", { identity: { type: "SystemAssigned" } });
      installLegacyAgent(arm.machine(id)!, workspace.customerId);
      const dir = await mkdtemp(join(tmpdir(), "migrate-deleting-"));
      try {
        const journal = join(dir, "j.jsonl");
        const interrupt = new AbortController();
        const watch = setInterval(() => {
          if (arm.machine(id)!.extensions.get("omsagentforlinux")?.provisioningState === "Deleting") interrupt.abort();
        }, 1);
        const first = await runArm(arm, ["migrate", ...flags, "--journal", journal, id], { signal: interrupt.signal });
        clearInterval(watch);
        assert.equal(first.code, 130, first.stderr);
        assert.equal(arm.machine(id)!.extensions.get("omsagentforlinux")?.provisioningState, "Deleting");
        const second = await runArm(arm, ["migrate", "--resume", journal, ...armFlags(arm), "--logs-endpoint", arm.endpoint, "--timeout", "10s"]);
        assert.equal(second.code, 0, second.stdout + second.stderr);
        assert.ok(!arm.machine(id)!.extensions.has("omsagentforlinux"));
        assert.equal(arm.machine(id)!.deletes, 1);
        assert.equal(arm.machine(id)!.puts, 1);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }));

  test("a resume of a journal another run holds is refused and sends nothing; once the lock is free it runs", () =>
    withArm({}, async (arm) => {
      const { workspace, flags } = await setup(arm);
      const id = arm.addMachine("vm", "held", { identity: { type: "SystemAssigned" } });
      installLegacyAgent(arm.machine(id)!, workspace.customerId);
      const dir = await mkdtemp(join(tmpdir(), "migrate-held-"));
      try {
        const journal = join(dir, "j.jsonl");
        const first = await runArm(arm, ["migrate", ...flags, "--journal", journal, "--timeout", "10s", id]);
        assert.equal(first.code, 0, first.stdout + first.stderr);
        const writes = () => ({ puts: arm.machine(id)!.puts, deletes: arm.machine(id)!.deletes });
        const before = writes();
        // Another process resuming it right now holds its lock.
        const release = await lockfile.lock(journal, { lockfilePath: `${journal}.lock`, realpath: false, retries: 0 });
        try {
          const second = await runArm(arm, ["migrate", "--resume", journal, ...armFlags(arm), "--logs-endpoint", arm.endpoint, "--timeout", "10s"]);
          assert.equal(second.code, 2, second.stderr);
          assert.match(second.stderr, /another omsagent-fleet run is using the journal .*j\.jsonl/);
          assert.deepEqual(writes(), before, "nothing was sent");
        } finally {
          await release();
        }
        const third = await runArm(arm, ["migrate", "--resume", journal, ...armFlags(arm), "--logs-endpoint", arm.endpoint, "--timeout", "10s"]);
        assert.equal(third.code, 0, third.stdout + third.stderr);
        assert.equal(await readFile(`${journal}.lock`, "utf8").catch(() => "released"), "released", "the resume left its lock behind");
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }));

  test("an interrupted 1,000-machine migration resumes without repeating a finished step", () =>
    withArm({ writeBucket: null, logRequests: false }, async (arm) => {
      const { workspace, flags } = await setup(arm);
      const ids = Array.from({ length: 1000 }, (_, i) =>
        arm.addMachine(i % 10 === 9 ? "arc" : "vm", `m${i}`, i % 10 === 9 ? {} : { identity: { type: "SystemAssigned" } }),
      );
      for (const id of ids) installLegacyAgent(arm.machine(id)!, workspace.customerId);
      const dir = await mkdtemp(join(tmpdir(), "migrate-resume-"));
      try {
        const journal = join(dir, "migrate.jsonl");
        const targets = join(dir, "targets.txt");
        await import("node:fs/promises").then((fs) => fs.writeFile(targets, ids.join("\n")));
        const warnings: string[] = [];
        const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
        process.on("warning", onWarning);
        const interrupt = new AbortController();
        const watch = setInterval(() => {
          if (arm.stats.puts >= 400) interrupt.abort();
        }, 2);
        const first = await runArm(arm, ["migrate", ...flags, "--concurrency", "64", "--journal", journal, "-f", targets], { signal: interrupt.signal });
        clearInterval(watch);
        process.off("warning", onWarning);
        assert.deepEqual(warnings, [], "64 machines in flight listening for Ctrl-C is not a listener leak");
        assert.equal(first.code, 130, first.stderr);
        const amaPuts = (): number => ids.reduce((n, id) => n + arm.machine(id)!.puts, 0);
        assert.ok(amaPuts() < ids.length, "interrupted before every machine had AMA");
        const text = await readFile(journal, "utf8");
        const verifiedFirst = new Set(
          text
            .split("\n")
            .filter((l) => l.includes('"state":"verified"'))
            .map((l) => (JSON.parse(l) as { id: string }).id.toLowerCase()),
        );
        const queriedBefore = new Map(arm.monitor.stats.queriedIds);

        const second = await runArm(arm, [
          "migrate",
          "--resume",
          journal,
          ...armFlags(arm),
          "--logs-endpoint",
          arm.endpoint,
          "--heartbeat-interval",
          "20ms",
          "--concurrency",
          "64",
          // A machine stuck on an operation would otherwise wait out the default deadline (35 min here).
          "--timeout",
          "120s",
        ]);
        assert.equal(second.code, 0, second.stderr);
        assert.match(second.stdout, /^1000 succeeded, 0 failed$/m);
        const repeated = (what: string, count: (id: string) => number): string[] =>
          ids.filter((id) => count(id) !== 1).map((id) => `${what} ${id}: ${count(id)}`);
        assert.deepEqual(
          [
            ...repeated("AMA PUT", (id) => arm.machine(id)!.puts),
            ...repeated("association PUT", (id) => arm.monitor.stats.associationPuts.get(id.toLowerCase()) ?? 0),
            ...repeated("legacy DELETE", (id) => arm.machine(id)!.deletes),
          ],
          [],
          "each step once per machine across both runs",
        );
        // A machine verified in the first run is not asked about again.
        const requeried = [...verifiedFirst].filter((id) => (arm.monitor.stats.queriedIds.get(id) ?? 0) !== (queriedBefore.get(id) ?? 0));
        assert.ok(verifiedFirst.size > 0);
        assert.deepEqual(requeried, []);
        assert.equal(arm.stats.overlappingWrites, 0);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }));
});
