// `fleet deploy` end to end: the real @azure/arm-compute and @azure/arm-hybridcompute clients against the fake
// ARM server on loopback.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { LroStyle } from "../../simulator/arm/fake-arm.ts";
import { armFlags, deployArgs, parseReport, runArm, withArm, workspace, WORKSPACE_ID, WORKSPACE_KEY, type Workspace } from "./helpers.ts";

let ws: Workspace;
before(async () => {
  ws = await workspace();
});
after(async () => {
  await ws.cleanup();
});

describe("deploy", () => {
  for (const lroStyle of ["azure-async", "location", "body"] as LroStyle[]) {
    test(`succeeds on a mixed list of VMs, scale sets and Arc machines (LRO via ${lroStyle})`, () =>
      withArm({ lroStyle, inProgressPolls: 2 }, async (arm) => {
        const ids = [
          arm.addMachine("vm", "vm1"),
          arm.addMachine("vm", "vm2"),
          arm.addMachine("vmss", "web", { instances: 3 }),
          arm.addMachine("arc", "onprem1"),
        ];
        const r = await runArm(arm, [...deployArgs(ws, arm), ...ids]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /^4 succeeded, 0 failed$/m);
        for (const label of ["rg-fleet/vm1", "rg-fleet/vm2", "rg-fleet/web (vmss)", "rg-fleet/onprem1 (arc)"]) {
          assert.match(r.stdout, new RegExp(`^${label.replace(/[()]/g, "\\$&")}\\s+ok\\s+0\\s`, "m"));
          assert.match(r.stderr, new RegExp(`^\\[\\d/4\\] ok\\s+${label.replace(/[()]/g, "\\$&")}\\s+\\d+\\.\\ds`, "m"));
        }
        assert.match(r.stdout, /3\/3 instances succeeded/);
        // What reached ARM: the extension identity and both settings documents, with the flattened-name gotcha avoided.
        const put = arm.machine(ids[0]!)!.lastPut as { location: string; properties: Record<string, unknown> };
        assert.equal(put.location, "westeurope");
        assert.deepEqual(
          {
            publisher: put.properties.publisher,
            type: put.properties.type,
            typeHandlerVersion: put.properties.typeHandlerVersion,
            autoUpgradeMinorVersion: put.properties.autoUpgradeMinorVersion,
            enableAutomaticUpgrade: put.properties.enableAutomaticUpgrade,
          },
          {
            publisher: "Microsoft.EnterpriseCloud.Monitoring",
            type: "OmsAgentForLinux",
            typeHandlerVersion: "1.19",
            autoUpgradeMinorVersion: true,
            enableAutomaticUpgrade: false,
          },
        );
        // Sent explicitly: newer compute API versions may turn automatic upgrades on when it is left out.
        assert.equal((arm.machine(ids[2]!)!.lastPut as { properties: Record<string, unknown> }).properties.enableAutomaticUpgrade, false);
        assert.deepEqual(put.properties.settings, { workspaceId: WORKSPACE_ID, stopOnMultipleConnections: "true" });
        assert.deepEqual(put.properties.protectedSettings, { workspaceKey: WORKSPACE_KEY });
        const arcPut = arm.machine(ids[3]!)!.lastPut as { location: string; properties: Record<string, unknown> };
        assert.equal(arcPut.location, "westeurope");
        assert.equal(arcPut.properties.type, "OmsAgentForLinux");
        assert.equal(arm.stats.overlappingWrites, 0);
      }));
  }

  test("reports partial failure with our handler's code and message", () =>
    withArm({}, async (arm) => {
      const ok = arm.addMachine("vm", "good");
      const bad = arm.addMachine("vm", "badkey", {
        failure: {
          code: 53,
          reason: "WorkspaceKeyRejected",
          text: "the workspace answered 403 to onboarding — copy the primary key from the workspace's Agents page and deploy again",
        },
      });
      const arcBad = arm.addMachine("arc", "edge7", {
        failure: { code: 52, reason: "MissingDependency", text: "python3 with ctypes not found — install python3 and retry" },
      });
      const setBad = arm.addMachine("vmss", "pool", {
        instances: 4,
        failedInstances: { "2": { code: 55, reason: "ServiceUnreachable", text: "cannot reach opinsights.azure.com:443 — open outbound 443" } },
      });
      const r = await runArm(arm, [...deployArgs(ws, arm, "--json"), ok, bad, arcBad, setBad]);
      assert.equal(r.code, 1);
      const report = parseReport(r.stdout);
      assert.deepEqual(report.summary, { total: 4, succeeded: 1, failed: 3, seconds: report.summary.seconds });
      const byMachine = new Map(report.results.map((row) => [row.machine, row]));
      assert.equal(byMachine.get("rg-fleet/good")?.result, "ok");
      const vm = byMachine.get("rg-fleet/badkey")!;
      assert.deepEqual([vm.result, vm.code, vm.reason], ["failed", 53, "WorkspaceKeyRejected"]);
      assert.equal(
        vm.message,
        "Enable failed (53 WorkspaceKeyRejected): the workspace answered 403 to onboarding — copy the primary key from the workspace's Agents page and deploy again",
      );
      const arc = byMachine.get("rg-fleet/edge7 (arc)")!;
      assert.deepEqual([arc.result, arc.code, arc.reason], ["failed", 52, "MissingDependency"]);
      assert.match(arc.message, /^Enable failed \(52 MissingDependency\): python3 with ctypes not found — install python3 and retry$/);
      const set = byMachine.get("rg-fleet/pool (vmss)")!;
      assert.deepEqual([set.result, set.code], ["failed", 55]);
      assert.match(set.message, /^1\/4 instances failed; pool_2: Enable failed \(55 ServiceUnreachable\)/);
      // The closing line goes to stderr in --json mode so stdout stays one JSON document.
      assert.match(r.stderr, /^1 succeeded, 3 failed$/m);
      assert.match(r.stderr, /\] failed\s+rg-fleet\/badkey\s+[\d.]+s\s+53 Enable failed \(53 WorkspaceKeyRejected\)/);
    }));

  test("the table shows machine, result, code, message and seconds, with long messages in full below it", () =>
    withArm({}, async (arm) => {
      const text = `${"the workspace answered 403 to onboarding; ".repeat(3)}— copy the primary key and deploy again`;
      const bad = arm.addMachine("vm", "badkey", { failure: { code: 53, reason: "WorkspaceKeyRejected", text } });
      const r = await runArm(arm, [...deployArgs(ws, arm), bad]);
      assert.equal(r.code, 1);
      const lines = r.stdout.split("\n");
      assert.match(lines[0]!, /^MACHINE\s+RESULT\s+CODE\s+MESSAGE\s+SECONDS$/);
      assert.match(lines[1]!, /^rg-fleet\/badkey\s+failed\s+53\s+Enable failed \(53 WorkspaceKeyRejected\): .*…\s+\d+\.\d$/);
      assert.ok(r.stdout.includes(`rg-fleet/badkey: Enable failed (53 WorkspaceKeyRejected): ${text}`));
      assert.match(r.stdout, /^0 succeeded, 1 failed$/m);
    }));

  test("retries 409, 429 (honouring Retry-After), 500 and failed polls, then succeeds", () =>
    withArm({}, async (arm) => {
      const conflicted = arm.addMachine("vm", "busy", { conflicts: 3 });
      const throttled = arm.addMachine("arc", "throttled", { throttles: 1, retryAfter: "1" });
      const flaky = arm.addMachine("vmss", "flaky", { serverErrors: 2, pollErrors: 2 });
      const r = await runArm(arm, [...deployArgs(ws, arm, "--json"), conflicted, throttled, flaky]);
      assert.equal(r.code, 0, r.stderr);
      const rows = new Map(parseReport(r.stdout).results.map((row) => [row.machine, row]));
      assert.equal(rows.get("rg-fleet/busy")?.retries, 3);
      assert.equal(rows.get("rg-fleet/throttled (arc)")?.retries, 1);
      assert.equal(rows.get("rg-fleet/flaky (vmss)")?.retries, 4);
      // Retry-After: 1 was waited out, not replaced by the (2 ms) backoff.
      assert.ok(rows.get("rg-fleet/throttled (arc)")!.seconds >= 0.9, `throttled machine took ${rows.get("rg-fleet/throttled (arc)")!.seconds}s`);
      assert.deepEqual(arm.stats.injected, { conflicts: 3, throttles: 1, serverErrors: 2, pollErrors: 2 });
      // Exactly one retry layer: each injected fault cost one extra request, no more.
      assert.equal(arm.machine(conflicted)!.puts, 4);
      assert.equal(arm.machine(flaky)!.puts, 3);
      assert.match(r.stderr, /ok\s+rg-fleet\/busy\s+[\d.]+s\s+\(3 retries\)/);
    }));

  test("gives up after --retries and says why, with cause and fix", () =>
    withArm({}, async (arm) => {
      const busy = arm.addMachine("vm", "busy", { conflicts: 10 });
      const r = await runArm(arm, [...deployArgs(ws, arm, "--retries", "2"), busy]);
      assert.equal(r.code, 1);
      assert.equal(arm.machine(busy)!.puts, 3);
      assert.match(r.stdout, /rg-fleet\/busy\s+failed\s+Conflict\s+PUT extension conflicted after 2 retries \(HTTP 409 Conflict\)/);
      assert.match(r.stdout, /another operation on this machine is still running/);
    }));

  test("de-duplicates targets case-insensitively across arguments and files", () =>
    withArm({}, async (arm) => {
      const id = arm.addMachine("vm", "vm1");
      const other = arm.addMachine("arc", "arc1");
      const file = await ws.file("targets.txt", `# fleet\n${id.toUpperCase()}\n\n${other}\n${id.toLowerCase()}  # again\n`);
      const r = await runArm(arm, [...deployArgs(ws, arm, "--json", "-f", file), id]);
      assert.equal(r.code, 0, r.stderr);
      const report = parseReport(r.stdout);
      assert.equal(report.summary.total, 2);
      assert.equal(report.duplicatesIgnored.length, 2);
      assert.equal(arm.machine(id)!.puts, 1);
      assert.equal(report.results[0]?.id, id, "the first spelling wins");
      assert.match(r.stderr, /warning: .*targets\.txt:2: duplicate of a target already listed/);
      assert.equal(arm.stats.overlappingWrites, 0);
    }));

  test("keeps at most --concurrency machines in flight, one operation per machine", () =>
    withArm({ latencyMs: 15 }, async (arm) => {
      const ids = Array.from({ length: 12 }, (_, i) => arm.addMachine("vm", `vm${i}`));
      const r = await runArm(arm, [...deployArgs(ws, arm, "--concurrency", "3"), ...ids]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(arm.stats.maxInFlight <= 3, `max in flight ${arm.stats.maxInFlight}`);
      assert.ok(arm.stats.maxActiveOps <= 3 && arm.stats.maxActiveOps >= 2, `max active operations ${arm.stats.maxActiveOps}`);
      assert.equal(arm.stats.overlappingWrites, 0);
      const counts = [...r.stderr.matchAll(/^\[\s*(\d+)\/12\]/gm)].map((m) => Number(m[1]));
      assert.deepEqual(
        counts,
        Array.from({ length: 12 }, (_, i) => i + 1),
        "one progress line per machine with a running count",
      );
    }));

  test("a machine past its --timeout is reported as timeout while the others finish", () =>
    withArm({}, async (arm) => {
      const slow = arm.addMachine("vm", "slow", { latencyMs: 1500 });
      const fast = arm.addMachine("vm", "fast");
      const r = await runArm(arm, [...deployArgs(ws, arm, "--timeout", "300ms"), slow, fast]);
      assert.equal(r.code, 1);
      assert.match(
        r.stdout,
        /rg-fleet\/slow\s+timeout\s+Timeout\s+no result within 300ms \(while: GET virtual machine\) — the operation may still be running in Azure/,
      );
      assert.match(r.stdout, /rg-fleet\/fast\s+ok/);
      assert.ok(r.seconds < 1.4, `took ${r.seconds}s`);
    }));

  test("--location skips the GET of each machine; Windows machines are skipped and disconnected Arc machines refused before the PUT", () =>
    withArm({}, async (arm) => {
      const vm = arm.addMachine("vm", "vm1", { location: "eastus" });
      const win = arm.addMachine("vm", "win1", { os: "Windows" });
      const off = arm.addMachine("arc", "off1", { agentStatus: "Disconnected" });
      const r1 = await runArm(arm, [...deployArgs(ws, arm, "--location", "eastus2"), vm]);
      assert.equal(r1.code, 0, r1.stderr);
      assert.equal((arm.machine(vm)!.lastPut as { location: string }).location, "eastus2");
      assert.ok(!arm.log.some((l) => l.method === "GET" && l.path.endsWith("/virtualMachines/vm1")));

      const r2 = await runArm(arm, [...deployArgs(ws, arm), win, off]);
      assert.equal(r2.code, 1);
      assert.match(r2.stdout, /rg-fleet\/win1\s+skipped\s+NotLinux\s+rg-fleet\/win1 runs Windows; OmsAgentForLinux only runs on Linux/);
      assert.match(r2.stdout, /rg-fleet\/off1 \(arc\)\s+failed\s+AgentDisconnected\s+the Arc agent on .* is Disconnected/);
      assert.equal(arm.machine(win)!.puts, 0);
      assert.equal(arm.machine(off)!.puts, 0);
    }));

  test("a missing machine and a refused PUT are failures with ARM's reason", () =>
    withArm({}, async (arm) => {
      const ghost = arm.addMachine("vm", "ghost").replace("/ghost", "/nonexistent");
      const locked = arm.addMachine("vm", "locked", { reject: { status: 409, code: "ScopeLocked", message: "The scope is locked by a ReadOnly lock." } });
      const r = await runArm(arm, [...deployArgs(ws, arm, "--json", "--retries", "0"), ghost, locked]);
      assert.equal(r.code, 1);
      const rows = new Map(parseReport(r.stdout).results.map((row) => [row.machine, row]));
      assert.match(rows.get("rg-fleet/nonexistent")!.message, /^GET virtual machine failed: not found \(HTTP 404 ResourceNotFound\).* — check the resource id/);
      assert.equal(rows.get("rg-fleet/locked")!.errorCode, "ScopeLocked");
      assert.match(rows.get("rg-fleet/locked")!.message, /The scope is locked by a ReadOnly lock\./);
    }));

  test("flags set the extension's properties; Arc gets no enableAutomaticUpgrade (not in its API version)", () =>
    withArm({}, async (arm) => {
      const vm = arm.addMachine("vm", "vm1");
      const arc = arm.addMachine("arc", "arc1");
      const r = await runArm(arm, [
        ...deployArgs(ws, arm, "--version", "1.20", "--no-auto-upgrade-minor-version", "--enable-automatic-upgrade", "--force-update-tag", "rerun-2"),
        vm,
        arc,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const props = (arm.machine(vm)!.lastPut as { properties: Record<string, unknown> }).properties;
      assert.deepEqual(
        [props.typeHandlerVersion, props.autoUpgradeMinorVersion, props.enableAutomaticUpgrade, props.forceUpdateTag],
        ["1.20", false, true, "rerun-2"],
      );
      const arcProps = (arm.machine(arc)!.lastPut as { properties: Record<string, unknown> }).properties;
      assert.deepEqual([arcProps.typeHandlerVersion, arcProps.forceUpdateTag, "enableAutomaticUpgrade" in arcProps], ["1.20", "rerun-2", false]);
    }));

  test("a scale set with a Manual upgrade policy: model updated is ok, status says the instances are not there yet", () =>
    withArm({}, async (arm) => {
      const set = arm.addMachine("vmss", "manual", { upgradeMode: "Manual", instances: 3 });
      const r = await runArm(arm, [...deployArgs(ws, arm), set]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        /scale set model updated; instances get the extension when upgraded \(upgrade policy Manual: az vmss update-instances\) — 0\/3 instances succeeded, 3 not reporting the extension yet/,
      );
      const s = await runArm(arm, ["status", ...armFlags(arm), set]);
      assert.equal(s.code, 1);
      assert.match(s.stdout, /rg-fleet\/manual \(vmss\)\s+transitioning\s+0\/3 instances succeeded, 3 not reporting the extension yet/);
    }));

  test("Ctrl-C: running machines are cancelled, the rest skipped, the table still printed, exit 130", () =>
    withArm({ latencyMs: 100 }, async (arm) => {
      const ids = Array.from({ length: 6 }, (_, i) => arm.addMachine("vm", `vm${i}`));
      const interrupt = new AbortController();
      // Interrupt once both workers have a machine in flight (each has sent its first request).
      const watch = setInterval(() => {
        if (arm.stats.requests >= 2) {
          clearInterval(watch);
          interrupt.abort();
        }
      }, 5);
      const r = await runArm(arm, [...deployArgs(ws, arm, "--concurrency", "2"), ...ids], { signal: interrupt.signal });
      assert.equal(r.code, 130);
      assert.equal((r.stdout.match(/\scancelled\s/g) ?? []).length, 2, r.stdout);
      assert.equal((r.stdout.match(/\sskipped\s/g) ?? []).length, 4, r.stdout);
      assert.match(r.stdout, /interrupted while: (GET virtual machine|PUT extension) — the operation may still be running in Azure/);
      assert.match(r.stdout, /^0 succeeded, 6 failed$/m);
    }));

  test("settings are validated before the first call", () =>
    withArm({}, async (arm) => {
      const vm = arm.addMachine("vm", "vm1");
      const bad = await ws.file("bad-settings.json", JSON.stringify({ workspaceId: "not-a-guid", skipDockerProviderInstall: "sometimes" }));
      const r = await runArm(arm, [
        "deploy",
        "--settings",
        bad,
        "--protected-settings",
        `@${ws.protectedSettings}`,
        "--endpoint",
        arm.endpoint,
        "--ca-cert",
        arm.caCertFile,
        vm,
      ]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /settings are invalid; nothing was sent to Azure/);
      assert.match(r.stderr, /settings\.workspaceId must be a workspace ID/);
      assert.match(r.stderr, /settings\.skipDockerProviderInstall must be true or false/);
      assert.equal(arm.stats.requests, 0);
      assert.equal(arm.credential.calls, 0);
    }));
});
