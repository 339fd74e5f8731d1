// The pieces on their own: retry decisions, instance-view parsing, target parsing, client construction.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createArmClients } from "../../src/cli/clients.ts";
import { codeFromStatusCode, fromArcStatus, fromStatuses, parseHandlerMessage } from "../../src/cli/instance-view.ts";
import {
  backoffMs,
  DEFAULT_RETRY,
  FLEET_RETRY_POLICY,
  fleetRetryPolicy,
  isRetryableStatus,
  retryAfterMs,
  retryScope,
  type RetryEvent,
} from "../../src/cli/retry.ts";
import { buildTargetList, parseTargetId, parseTargetsFile } from "../../src/cli/targets.ts";
import { parseCountOrPercent } from "../../src/cli/args.ts";
import { graphQuery, kqlString } from "../../src/cli/graph.ts";
import { isMachineCounter, machineOf, Pacer, remainingCounters } from "../../src/cli/throttle.ts";
import { quotaResetMs } from "../../src/cli/retry.ts";
import { sameHandlerVersion } from "../../src/cli/arm.ts";
import { fakeCredential } from "../../simulator/arm/fake-arm.ts";

type Policy = ReturnType<typeof fleetRetryPolicy>;
type Request = Parameters<Policy["sendRequest"]>[0];
type Next = Parameters<Policy["sendRequest"]>[1];

function fakeRequest(method: string, abortSignal?: AbortSignal): Request {
  return { method, url: "https://example.invalid/x", abortSignal } as unknown as Request;
}

function responses(...statuses: (number | [number, Record<string, string>])[]): { next: Next; calls: () => number } {
  let calls = 0;
  const next = (async (request: Request) => {
    const item = statuses[Math.min(calls++, statuses.length - 1)]!;
    const [status, headers] = Array.isArray(item) ? item : [item, {}];
    return { request, status, headers: { get: (name: string) => headers[name.toLowerCase()] } };
  }) as unknown as Next;
  return { next, calls: () => calls };
}

describe("retry policy", () => {
  const fast = { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 2 };

  test("retries 409 only for writes, and 408/429/5xx except 501/505 for everything", () => {
    assert.equal(isRetryableStatus("PUT", 409), true);
    assert.equal(isRetryableStatus("DELETE", 409), true);
    assert.equal(isRetryableStatus("GET", 409), false);
    for (const s of [408, 429, 500, 502, 503, 504]) assert.equal(isRetryableStatus("GET", s), true, String(s));
    for (const s of [400, 401, 403, 404, 501, 505]) assert.equal(isRetryableStatus("PUT", s), false, String(s));
  });

  test("reads Retry-After as seconds, HTTP date, or Azure's millisecond headers", () => {
    const h = (o: Record<string, string>) => (name: string) => o[name];
    assert.equal(retryAfterMs(h({ "retry-after": "7" })), 7000);
    assert.equal(retryAfterMs(h({ "retry-after-ms": "250", "retry-after": "7" })), 250);
    assert.equal(retryAfterMs(h({ "x-ms-retry-after-ms": "40" })), 40);
    assert.equal(retryAfterMs(h({ "retry-after": new Date(10_000).toUTCString() }), 4_000), 6_000);
    assert.equal(retryAfterMs(h({ "retry-after": "soon" })), undefined);
    assert.equal(retryAfterMs(h({})), undefined);
  });

  test("backs off exponentially with jitter, capped", () => {
    assert.equal(
      backoffMs(0, DEFAULT_RETRY, () => 1),
      2000,
    );
    assert.equal(
      backoffMs(3, DEFAULT_RETRY, () => 1),
      16000,
    );
    assert.equal(
      backoffMs(3, DEFAULT_RETRY, () => 0),
      8000,
    );
    assert.equal(
      backoffMs(20, DEFAULT_RETRY, () => 1),
      60000,
    );
  });

  test("stops after maxRetries and returns the last response for the SDK to turn into an error", async () => {
    const { next, calls } = responses(500);
    const events: RetryEvent[] = [];
    const res = await retryScope.run({ onRetry: (e) => events.push(e) }, () => fleetRetryPolicy(fast).sendRequest(fakeRequest("PUT"), next));
    assert.equal(res.status, 500);
    assert.equal(calls(), 4);
    assert.deepEqual(
      events.map((e) => [e.reason, e.attempt]),
      [
        ["500", 1],
        ["500", 2],
        ["500", 3],
      ],
    );
  });

  test("does not retry a 409 on a read, nor a 404", async () => {
    for (const [method, status] of [
      ["GET", 409],
      ["PUT", 404],
    ] as const) {
      const { next, calls } = responses(status, 200);
      assert.equal((await fleetRetryPolicy(fast).sendRequest(fakeRequest(method), next)).status, status);
      assert.equal(calls(), 1);
    }
  });

  test("honours Retry-After, and a 429 pauses the other requests through the same policy", async () => {
    const policy = fleetRetryPolicy(fast);
    const throttled = responses([429, { "retry-after-ms": "150" }], 200);
    const started = performance.now();
    const first = policy.sendRequest(fakeRequest("GET"), throttled.next);
    await new Promise((r) => setTimeout(r, 20));
    const other = responses(200);
    const second = await policy.sendRequest(fakeRequest("GET"), other.next);
    assert.equal(second.status, 200);
    assert.ok(performance.now() - started >= 140, "the second request waited for the pause");
    assert.equal((await first).status, 200);
    assert.equal(throttled.calls(), 2);
  });

  test("a deadline interrupts the wait", async () => {
    const { next } = responses([503, { "retry-after": "30" }]);
    const started = performance.now();
    await assert.rejects(fleetRetryPolicy(fast).sendRequest(fakeRequest("PUT", AbortSignal.timeout(50)), next), (e: Error) => e.name === "TimeoutError");
    assert.ok(performance.now() - started < 1000);
  });

  test("retries transport errors but not aborts", async () => {
    let calls = 0;
    const next = (async () => {
      calls++;
      if (calls === 1) throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
      return { status: 200, headers: { get: () => undefined } };
    }) as unknown as Next;
    assert.equal((await fleetRetryPolicy(fast).sendRequest(fakeRequest("GET"), next)).status, 200);
    assert.equal(calls, 2);
    const aborting = (async () => {
      throw Object.assign(new Error("aborted"), { name: "AbortError" });
    }) as unknown as Next;
    await assert.rejects(fleetRetryPolicy(fast).sendRequest(fakeRequest("GET"), aborting), /aborted/);
  });

  test("both SDK clients carry our policy instead of the SDK's retry policy", async () => {
    const clients = await createArmClients({
      endpoint: "https://management.example",
      scope: "https://management.example/.default",
      credential: fakeCredential("t"),
      retry: DEFAULT_RETRY,
    });
    for (const pipeline of [
      clients.compute("00000000-0000-0000-0000-000000000000").pipeline,
      clients.hybrid("00000000-0000-0000-0000-000000000000").pipeline,
    ]) {
      const names = pipeline.getOrderedPolicies().map((p) => p.name);
      assert.ok(names.includes(FLEET_RETRY_POLICY), names.join(","));
      assert.ok(!names.some((n) => /retry/i.test(n) && n !== FLEET_RETRY_POLICY), names.join(","));
    }
  });
});

describe("instance view", () => {
  const ours = "Enable failed (53 WorkspaceKeyRejected): the workspace answered 403 — copy the key again";

  test("extracts our code from ProvisioningState/failed/<code> and the message as written", () => {
    const s = fromStatuses([{ code: "ProvisioningState/failed/53", level: "Error", displayStatus: "Provisioning failed", message: ours }], "Failed");
    assert.deepEqual(s, { state: "failed", code: 53, reason: "WorkspaceKeyRejected", message: ours });
  });

  test("falls back to the code in our message, and finds it inside ARM's wrapping", () => {
    const wrapped = `VM has reported a failure when processing extension 'OmsAgentForLinux' (publisher 'Microsoft.EnterpriseCloud.Monitoring' and type 'OmsAgentForLinux'). Error message: '${ours}'. More information on troubleshooting is available at https://aka.ms/x.`;
    assert.deepEqual(parseHandlerMessage(wrapped), { operation: "Enable", code: 53, reason: "WorkspaceKeyRejected", message: ours });
    assert.equal(fromStatuses([{ code: "ProvisioningState/failed", level: "Error", message: ours }]).code, 53);
    assert.equal(parseHandlerMessage("Enable succeeded"), undefined);
  });

  test("success, transitioning, and no view yet", () => {
    assert.deepEqual(fromStatuses([{ code: "ProvisioningState/succeeded", level: "Info", message: "Enable succeeded: onboarded" }]), {
      state: "succeeded",
      code: 0,
      message: "Enable succeeded: onboarded",
    });
    assert.equal(fromStatuses([{ code: "ProvisioningState/transitioning", message: "Install in progress" }]).state, "transitioning");
    assert.deepEqual(fromStatuses(undefined, "Succeeded"), { state: "succeeded", code: 0, message: "provisioning succeeded, no status reported yet" });
    assert.equal(fromStatuses([], "Updating").state, "transitioning");
  });

  test("Arc's single status: numeric or ProvisioningState codes, level, provisioningState", () => {
    assert.deepEqual(fromArcStatus({ code: "53", level: "Error", message: ours }, "Failed"), {
      state: "failed",
      code: 53,
      reason: "WorkspaceKeyRejected",
      message: ours,
    });
    assert.deepEqual(fromArcStatus({ code: "0", level: "Information", message: "Enable succeeded" }, "Succeeded"), {
      state: "succeeded",
      code: 0,
      message: "Enable succeeded",
    });
    assert.equal(fromArcStatus({ code: "0", level: "Information", message: "Enable succeeded" }, "Failed").state, "failed");
    assert.equal(codeFromStatusCode("ProvisioningState/failed/52"), 52);
    assert.equal(codeFromStatusCode("ProvisioningState/succeeded"), null);
  });
});

describe("targets", () => {
  const sub = "00000000-0000-0000-0000-000000000001";

  test("parses the three kinds, case-insensitively, with trailing slashes", () => {
    const vm = parseTargetId(`/subscriptions/${sub}/resourcegroups/RG/providers/microsoft.compute/VIRTUALMACHINES/vm1/`);
    assert.ok(vm.ok);
    assert.deepEqual({ kind: vm.target.kind, rg: vm.target.resourceGroup, name: vm.target.name }, { kind: "vm", rg: "RG", name: "vm1" });
    const arc = parseTargetId(`/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m1`);
    assert.ok(arc.ok && arc.target.kind === "arc");
    const set = parseTargetId(`/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/s1`);
    assert.ok(set.ok && set.target.kind === "vmss");
  });

  test("reads line files with comments and JSON arrays of ids or az-style objects", () => {
    const lines = parseTargetsFile("# header\n/a\r\n\n  /b  # trailing\n", "t.txt");
    assert.deepEqual(lines.sources, [
      { value: "/a", where: "t.txt:2" },
      { value: "/b", where: "t.txt:4" },
    ]);
    const json = parseTargetsFile(JSON.stringify(["/a", { id: "/b", name: "b" }, 3]), "t.json");
    assert.deepEqual(
      json.sources.map((s) => s.value),
      ["/a", "/b"],
    );
    assert.match(json.problems[0]!, /t\.json\[2\]: expected a resource id string/);
  });

  test("labels are short and unique", () => {
    const id = (s: string, rg: string, kind: string, name: string) => ({
      value: `/subscriptions/${s}/resourceGroups/${rg}/providers/${kind}/${name}`,
      where: "x",
    });
    const other = "11111111-0000-0000-0000-000000000000";
    const list = buildTargetList([
      id(sub, "rg", "Microsoft.Compute/virtualMachines", "a"),
      id(other, "rg", "Microsoft.Compute/virtualMachines", "a"),
      id(sub, "rg", "Microsoft.HybridCompute/machines", "a"),
    ]);
    assert.deepEqual(
      list.targets.map((t) => t.label),
      ["00000000/rg/a", "11111111/rg/a", "rg/a (arc)"],
    );
  });
});

describe("write pacing", () => {
  test("reads ARM's and Compute's remaining-request headers", () => {
    const headers: Record<string, string> = {
      "x-ms-ratelimit-remaining-subscription-writes": "1199",
      "x-ms-ratelimit-remaining-resource": "Microsoft.Compute/PutVM3Min;239, Microsoft.Compute/PutVM30Min;1187",
    };
    assert.deepEqual(
      [...remainingCounters((name) => headers[name])],
      [
        ["subscription-writes", 1199],
        ["Microsoft.Compute/PutVM3Min", 239],
        ["Microsoft.Compute/PutVM30Min", 1187],
      ],
    );
    assert.equal(remainingCounters(() => undefined).size, 0);
  });

  test("sends at full speed while requests remain, then no faster than the estimated refill (synthetic clock)", () => {
    const pacer = new Pacer({ reserve: 5, windowMs: 10_000, minSpanMs: 1_000, probeMs: 500 });
    const key = "sub|westeurope";
    const counters = (n: number): Map<string, number> => new Map([["bucket", n]]);
    assert.equal(pacer.delayMs(key, 0), 0, "nothing known: no waiting");
    // A bucket of 100 refilling 10 per second, drained by a write every 20 ms, each answered at once.
    let tokens = 100;
    let t = 0;
    for (; tokens > 6; t += 20) {
      assert.equal(pacer.delayMs(key, t), 0, `full speed at ${tokens} remaining`);
      pacer.sent(key, t);
      tokens = tokens - 1 + 0.2;
      pacer.answered(key, counters(Math.floor(tokens)), t);
    }
    // At the reserve the next write waits about one request's worth of refill (100 ms at 10/s).
    const delay = pacer.delayMs(key, t);
    assert.ok(delay > 50 && delay < 200, `delay ${delay} ms`);
    assert.equal(pacer.delayMs(key, t + delay), 0);
    // Another subscription or region is another bucket.
    assert.equal(pacer.delayMs("sub|eastus", t), 0);
  });

  test("with the reserve reached and no refill seen, writes go one at a time as probes", () => {
    const pacer = new Pacer({ reserve: 5, minSpanMs: 1_000, probeMs: 500 });
    pacer.sent("k", 0);
    pacer.answered("k", new Map([["bucket", 3]]), 0);
    assert.equal(pacer.delayMs("k", 100), 400);
    assert.equal(pacer.delayMs("k", 500), 0);
    pacer.sent("k", 500);
    assert.equal(pacer.delayMs("k", 600), 500, "a probe in flight: wait for its answer");
    pacer.answered("k", new Map(), 700);
    assert.equal(pacer.delayMs("k", 60_001), 0, "a counter not seen for a whole window no longer holds writes back");
  });
});

describe("buckets and versions as Azure reports them", () => {
  test("a VM's own counter paces only writes to that machine; ARM's deletes counter is read", () => {
    assert.equal(isMachineCounter("Microsoft.Compute/VMOperationsPerVM"), true);
    assert.equal(isMachineCounter("Microsoft.Compute/PutVMExtensionSubscriptionRegion"), false);
    const vm = "https://management.azure.com/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1";
    assert.equal(machineOf(`${vm}/extensions/OmsAgentForLinux?api-version=2026-03-01`), vm.slice("https://management.azure.com".length).toLowerCase());
    assert.equal(
      machineOf("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines/3/runCommand"),
      "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/virtualmachinescalesets/web/virtualmachines/3",
    );
    assert.equal(machineOf("/providers/Microsoft.ResourceGraph/resources"), undefined);
    const pacer = new Pacer({ reserve: 20, machineReserve: 1, probeMs: 500 });
    pacer.sent("sub|westeurope|vm1", 0);
    pacer.answered("sub|westeurope|vm1", new Map([["Microsoft.Compute/VMOperationsPerVM", 1]]), 0);
    assert.ok(pacer.delayForMachineMs("sub|westeurope", "vm1", 10) > 0, "vm1's own bucket is at its reserve");
    assert.equal(pacer.delayForMachineMs("sub|westeurope", "vm2", 10), 0, "vm2 is not held back by vm1's bucket");
    const headers: Record<string, string> = { "x-ms-ratelimit-remaining-subscription-deletes": "14998" };
    assert.deepEqual([...remainingCounters((name) => headers[name])], [["subscription-deletes", 14998]]);
  });

  test("Resource Graph's x-ms-user-quota-resets-after (hh:mm:ss) and Arc's full versions", () => {
    assert.equal(
      quotaResetMs((name) => (name === "x-ms-user-quota-resets-after" ? "00:00:03" : undefined)),
      3000,
    );
    assert.equal(
      quotaResetMs((name) => (name === "x-ms-user-quota-resets-after" ? "01:02:03.5" : undefined)),
      3_723_500,
    );
    assert.equal(
      quotaResetMs(() => "soon"),
      undefined,
    );
    assert.equal(sameHandlerVersion("1.19.2", "1.19"), true);
    assert.equal(sameHandlerVersion("1.19", "1.19"), true);
    assert.equal(sameHandlerVersion("1.190.1", "1.19"), false);
    assert.equal(sameHandlerVersion(undefined, "1.19"), false);
  });
});

describe("Resource Graph query and wave options", () => {
  test("the query filters type, resource group and tags, with KQL string escaping", () => {
    const q = graphQuery({ subscriptions: [], resourceGroups: ["rg-a"], tags: [{ key: "Env", value: "It's Prod" }, { key: "owner" }], kinds: ["vm", "arc"] });
    assert.match(q, /^resources\n\| where type in~ \('microsoft\.compute\/virtualmachines', 'microsoft\.hybridcompute\/machines'\)\n/);
    assert.match(q, /\| where resourceGroup in~ \('rg-a'\)/);
    assert.match(q, /\| extend tagsLower = parse_json\(tolower\(tostring\(tags\)\)\)\n/);
    assert.match(q, /\| where tagsLower\['env'\] == 'it\\'s prod'/);
    assert.match(q, /\| where isnotempty\(tagsLower\['owner'\]\)/);
    assert.match(q, /\| order by id asc$/);
    assert.equal(kqlString("a\\b'c"), "'a\\\\b\\'c'");
  });

  test("--batch and --max-failures take a count or a percentage of the fleet", () => {
    assert.deepEqual(parseCountOrPercent("50", "--batch", 1000, "up", 1), { ok: true, value: 50 });
    assert.deepEqual(parseCountOrPercent("10%", "--batch", 15, "up", 1), { ok: true, value: 2 });
    assert.deepEqual(parseCountOrPercent("10%", "--max-failures", 15, "down", 0), { ok: true, value: 1 });
    assert.deepEqual(parseCountOrPercent("1%", "--batch", 5, "up", 1), { ok: true, value: 1 });
    assert.deepEqual(parseCountOrPercent("0", "--max-failures", 5, "down", 0), { ok: true, value: 0 });
    assert.equal(parseCountOrPercent("0", "--batch", 5, "up", 1).ok, false);
    assert.equal(parseCountOrPercent("150%", "--batch", 5, "up", 1).ok, false);
    assert.equal(parseCountOrPercent("lots", "--batch", 5, "up", 1).ok, false);
  });
});

describe("runFleet", () => {
  test("machines in flight each listening for Ctrl-C on the run's signal print no listener-leak warning", async () => {
    const { runFleet } = await import("../../src/cli/rollout.ts");
    const sources = Array.from({ length: 24 }, (_, i) => ({
      value: `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm${i}`,
      where: `argument ${i + 1}`,
    }));
    const { targets } = buildTargetList(sources);
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on("warning", onWarning);
    try {
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const run = runFleet(targets, async () => (await gate, { result: "ok" as const, code: 0, message: "ok" }), {
        concurrency: 16,
        timeoutMs: 60_000,
        signal: new AbortController().signal,
        what: "deploy",
      });
      // All 16 workers are waiting on the gate, each with its listener on the run's signal.
      await new Promise((resolve) => setImmediate(resolve));
      release();
      const { rows } = await run;
      assert.equal(rows.length, 24);
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(warnings, [], "16 machines in flight listening for Ctrl-C is not a listener leak");
    } finally {
      process.off("warning", onWarning);
    }
  });
});
