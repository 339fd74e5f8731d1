// validate, status, remove and the command line itself.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { startFakeArm, type FakeArm } from "../../simulator/arm/fake-arm.ts";
import { armFlags, deployArgs, parseReport, runArm, runCli, workspace, WORKSPACE_ID, type Workspace } from "./helpers.ts";

let ws: Workspace;
before(async () => {
  ws = await workspace();
});
after(async () => {
  await ws.cleanup();
});

describe("validate", () => {
  test("lists every violation in both documents and exits 2", async () => {
    const pub = await ws.file("v-pub.json", JSON.stringify({ workspaceId: "{not-a-guid}", stopOnMultipleConnections: "yes", skipDockerProviderInstall: 1 }));
    const prot = await ws.file(
      "v-prot.json",
      JSON.stringify({ workspaceKey: "not base64!", proxy: "ftp://x y", vmResourceId: "/subscriptions/nope", colour: "blue" }),
    );
    const r = await runCli(["validate", "--settings", pub, "--protected-settings", `@${prot}`]);
    assert.equal(r.code, 2);
    const lines = r.stdout.trim().split("\n");
    for (const field of [
      "settings.workspaceId",
      "settings.stopOnMultipleConnections",
      "settings.skipDockerProviderInstall",
      "protectedSettings.workspaceKey",
      "protectedSettings.proxy",
      "protectedSettings.vmResourceId",
      "protectedSettings.colour",
    ]) {
      assert.ok(
        lines.some((l) => l.startsWith(`${field} `)),
        `${field} missing from:\n${r.stdout}`,
      );
    }
    assert.equal(lines.length, 7);
    assert.match(r.stderr, /7 problems in protected settings from .*v-prot\.json, settings from .*v-pub\.json/);
    assert.ok(!r.stdout.includes("not base64!"), "values are never quoted back");
  });

  test("accepts good settings (strings for booleans, unknown public keys with a warning) and exits 0", async () => {
    const r = await runCli([
      "validate",
      "--settings",
      JSON.stringify({ workspaceId: WORKSPACE_ID, skipDockerProviderInstall: "TRUE", azureResourceId: "x", colour: 1 }),
      "--protected-settings",
      `@${ws.protectedSettings}`,
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /warning: unknown public setting "colour" ignored/);
    assert.match(r.stderr, /^valid: /m);
  });

  test("--json, stdin, and unreadable or malformed input", async () => {
    const json = await runCli(["validate", "--settings", "-", "--json"], { readStdin: async () => JSON.stringify({ workspaceId: "x" }) });
    assert.equal(json.code, 2);
    assert.deepEqual(JSON.parse(json.stdout), {
      valid: false,
      problems: [{ field: "settings.workspaceId", message: "must be a workspace ID (GUID such as 00000000-0000-0000-0000-000000000000)" }],
      warnings: [],
    });

    const missing = await runCli(["validate", "--settings", "@/nonexistent/settings.json"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read settings from \/nonexistent\/settings\.json: no such file/);

    const broken = await runCli(["validate", "--protected-settings", '{"workspaceKey": "c2VjcmV0"']);
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /protected settings from the command line are not valid JSON \(syntax error/);
    assert.ok(!broken.stderr.includes("c2VjcmV0"), "a parse error of protected settings never quotes them");

    const none = await runCli(["validate"]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /give --settings and\/or --protected-settings/);
  });
});

describe("status and remove", () => {
  let arm: FakeArm;
  let ids: { good: string; bad: string; set: string; arc: string; bare: string };
  before(async () => {
    arm = await startFakeArm();
    ids = {
      good: arm.addMachine("vm", "good"),
      bad: arm.addMachine("vm", "bad", { failure: { code: 53, reason: "WorkspaceKeyRejected", text: "the workspace rejected the key — copy the key again" } }),
      set: arm.addMachine("vmss", "pool", { instances: 2 }),
      arc: arm.addMachine("arc", "edge", {
        failure: { code: 55, reason: "ServiceUnreachable", text: "no route to opinsights.azure.com:443 — allow outbound 443" },
      }),
      bare: arm.addMachine("vm", "bare"),
    };
    const deployed = await runArm(arm, [...deployArgs(ws, arm), ids.good, ids.bad, ids.set, ids.arc]);
    assert.equal(deployed.code, 1, deployed.stderr);
  });
  after(async () => {
    await arm.close();
  });

  test("status reads each instance view and extracts our code and message", async () => {
    const before = arm.log.length;
    const r = await runArm(arm, ["status", ...armFlags(arm), "--json", ids.good, ids.bad, ids.set, ids.arc, ids.bare]);
    assert.equal(r.code, 1);
    const rows = new Map(parseReport(r.stdout).results.map((row) => [row.machine, row]));
    assert.deepEqual([rows.get("rg-fleet/good")?.result, rows.get("rg-fleet/good")?.code], ["ok", 0]);
    assert.match(rows.get("rg-fleet/good")!.message, /^Enable succeeded/);
    const bad = rows.get("rg-fleet/bad")!;
    assert.deepEqual(
      [bad.result, bad.code, bad.reason, bad.message],
      ["failed", 53, "WorkspaceKeyRejected", "Enable failed (53 WorkspaceKeyRejected): the workspace rejected the key — copy the key again"],
    );
    const arc = rows.get("rg-fleet/edge (arc)")!;
    assert.deepEqual([arc.result, arc.code, arc.reason], ["failed", 55, "ServiceUnreachable"]);
    assert.deepEqual(
      [rows.get("rg-fleet/pool (vmss)")?.result, rows.get("rg-fleet/pool (vmss)")?.message],
      ["ok", "2/2 instances succeeded; Enable succeeded: onboarded to workspace " + WORKSPACE_ID],
    );
    assert.deepEqual(
      [rows.get("rg-fleet/bare")?.result, rows.get("rg-fleet/bare")?.message],
      ["not-installed", "OmsAgentForLinux is not installed on this virtual machine"],
    );
    assert.ok(arm.log.length > before);
    assert.ok(
      arm.log.slice(before).every((l) => l.method === "GET"),
      "status only reads",
    );
  });

  test("remove deletes the extension everywhere and is idempotent", async () => {
    const r = await runArm(arm, ["remove", ...armFlags(arm), ids.good, ids.bad, ids.set, ids.arc, ids.bare]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /rg-fleet\/good\s+ok\s+OmsAgentForLinux removed/);
    assert.match(r.stdout, /rg-fleet\/bare\s+ok\s+OmsAgentForLinux was not installed/);
    assert.match(r.stdout, /^5 succeeded, 0 failed$/m);
    for (const id of Object.values(ids)) assert.equal(arm.machine(id)!.extensions.size, 0);

    const after = await runArm(arm, ["status", ...armFlags(arm), ids.good, ids.arc, ids.set]);
    assert.equal(after.code, 1);
    assert.equal((after.stdout.match(/not-installed/g) ?? []).length, 3);
  });

  test("--name addresses an extension installed under another name", async () => {
    const vm = arm.addMachine("vm", "named");
    assert.equal((await runArm(arm, [...deployArgs(ws, arm, "--name", "OMSExtension"), vm])).code, 0);
    assert.ok(arm.machine(vm)!.extensions.has("omsextension"));
    assert.equal((await runArm(arm, ["status", ...armFlags(arm), vm])).code, 1, "default name is not installed");
    assert.equal((await runArm(arm, ["status", ...armFlags(arm), "--name", "OMSExtension", vm])).code, 0);
  });
});

describe("command line", () => {
  const vm = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1";

  test("usage errors exit 2 with the cause and where to look", async () => {
    const cases: [string[], RegExp][] = [
      [["frobnicate"], /unknown command "frobnicate"; expected one of: validate, plan, deploy, status, remove/],
      [["status", "--settings", "x", vm], /--settings does not apply to "status"/],
      [["status", "--bogus", vm], /Unknown option '--bogus'.*fleet status --help/],
      [["status"], /no targets: give resource ids as arguments, in a file with -f, or select them from Resource Graph/],
      [["status", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"], /subscription "x" is not a GUID/],
      [["status", `${vm}/extensions/OmsAgentForLinux`], /is an extension id; give the machine's id/],
      [["status", vm.replace("virtualMachines/vm1", "virtualMachineScaleSets/ss/virtualMachines/3")], /is a scale-set instance/],
      [["status", "--concurrency", "0", vm], /--concurrency must be between 1 and 1000/],
      [["status", "--timeout", "soon", vm], /--timeout "soon" is not a duration/],
      [["status", "--endpoint", "http://127.0.0.1:1", vm], /--endpoint must be https:\/\/ \(the Azure SDK never sends a token over plain http\)/],
      [["status", "--cloud", "mars", vm], /--cloud "mars" is not one of: public, usgov, china/],
      [["status", "--ca-cert", "/nonexistent.pem", vm], /cannot read --ca-cert \/nonexistent\.pem: ENOENT/],
      [["deploy", "--settings", `{"workspaceId":"${WORKSPACE_ID}"}`, vm], /deploy needs --protected-settings/],
      [
        ["deploy", "--settings", `{"workspaceId":"${WORKSPACE_ID}"}`, "--protected-settings", "{}", "--version", "1", vm],
        /type handler version "1" must be major\.minor/,
      ],
    ];
    for (const [args, expected] of cases) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(" ")}\n${r.stderr}`);
      assert.match(r.stderr, expected, args.join(" "));
    }
  });

  test("the process entry (npm run fleet) exits with run's code and prints through the redacting streams", () => {
    const repo = fileURLToPath(new URL("../../", import.meta.url));
    const bad = JSON.stringify({ workspaceKey: "c2VjcmV0LWtleQ=", proxy: "http://u:s3cret-pass@proxy:8080" });
    const p = spawnSync(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "validate", "--settings", '{"workspaceId":"x"}', "--protected-settings", "-"],
      { cwd: repo, input: bad, encoding: "utf8" },
    );
    assert.equal(p.status, 2, p.stderr);
    assert.match(p.stdout, /^settings\.workspaceId must be a workspace ID/m);
    assert.match(p.stdout, /^protectedSettings\.workspaceKey must be the workspace key in padded base64/m);
    assert.ok(!`${p.stdout}${p.stderr}`.includes("s3cret-pass"));
    const ok = spawnSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", "validate", "--settings", `{"workspaceId":"${WORKSPACE_ID}"}`], {
      cwd: repo,
      encoding: "utf8",
    });
    assert.equal(ok.status, 0, ok.stderr);
  });

  test("help prints usage and exits 0", async () => {
    const r = await runCli(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /fleet deploy\s+--settings/);
    assert.match((await runCli(["deploy", "--help"])).stdout, /Exit status: 0 every target succeeded/);
  });

  test("--dry-run validates settings and targets, prints the plan, and calls nothing", async () => {
    const file = await ws.file("targets.json", JSON.stringify([{ id: vm, name: "vm1" }, vm.replace("vm1", "vm2"), vm.toUpperCase()]));
    const r = await runCli(["deploy", "--settings", `@${ws.settings}`, "--protected-settings", `@${ws.protectedSettings}`, "-f", file, "--dry-run"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout
        .trim()
        .split("\n")
        .map((l) => l.split(/\s+/)[1]),
      ["rg/vm1", "rg/vm2"],
    );
    assert.match(r.stderr, /deploy OmsAgentForLinux 1\.19: 2 targets \(2 VM, 0 scale set, 0 Arc\)/);
    assert.match(r.stderr, /targets\.json\[2\]: duplicate/);
    assert.match(r.stderr, /dry run: nothing was sent to Azure \(endpoint https:\/\/management\.azure\.com\)/);
  });

  test("a shared vmResourceId cannot go to several machines", async () => {
    const prot = await ws.file("p-vmid.json", JSON.stringify({ workspaceKey: "c2VjcmV0", vmResourceId: vm }));
    const r = await runCli(["deploy", "--settings", `@${ws.settings}`, "--protected-settings", prot, vm, vm.replace("vm1", "vm2"), "--dry-run"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /protectedSettings\.vmResourceId names a single machine but 2 targets were given/);
  });

  test("a bad targets file lists every bad line", async () => {
    const file = await ws.file("bad-targets.txt", `${vm}\nnot-an-id\n/subscriptions/${WORKSPACE_ID}/resourceGroups/rg/providers/Microsoft.Web/sites/app\n`);
    const r = await runCli(["status", "-f", file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad-targets\.txt:2: "not-an-id" is not an ARM resource id/);
    assert.match(r.stderr, /bad-targets\.txt:3: .* is a Microsoft\.Web\/sites; OmsAgentForLinux targets are virtual machines, scale sets and Arc machines/);
  });

  test("an authentication failure is one clear error, not one per machine", async () => {
    const arm = await startFakeArm();
    try {
      const id = arm.addMachine("vm", "vm1");
      const unavailable = (message: string) => Object.assign(new Error(message), { name: "CredentialUnavailableError" });
      const failing = {
        async getToken(): Promise<never> {
          throw Object.assign(new Error("ChainedTokenCredential authentication failed.\n…"), {
            name: "AggregateAuthenticationError",
            errors: [
              unavailable("EnvironmentCredential is unavailable. No underlying credential could be used."),
              unavailable("Azure CLI could not be found. Please visit https://aka.ms/azure-cli."),
            ],
          });
        },
      };
      const r = await runCli(["status", ...armFlags(arm), id], { credential: failing });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /error: could not get an Azure token: EnvironmentCredential is unavailable; Azure CLI could not be found — sign in \(az login/);
      assert.equal(arm.stats.requests, 0);

      const wrongToken = await runCli(["status", ...armFlags(arm), "--retries", "0", id], {
        credential: { getToken: async () => ({ token: "stale", expiresOnTimestamp: Date.now() + 60_000 }) },
      });
      assert.equal(wrongToken.code, 1);
      assert.match(wrongToken.stdout, /HTTP 401 AuthenticationFailed.*sign in again or check --cloud\/--endpoint\/--scope/);
    } finally {
      await arm.close();
    }
  });
});
