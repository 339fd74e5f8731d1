// The installable CLI: `npm run pack:fleet` makes the omsagent-fleet tarball, which is installed into a temp
// directory and run as an operator would, as built JavaScript through its bin, against the fake ARM server.
//
// How it is installed without the network: `npm install --offline <tarball>` needs the registry's metadata
// for every dependency range, which `npm ci` never caches, so it fails with ENOTCACHED on a fresh clone.
// The test therefore does what npm does for the tarball itself (unpack it to node_modules/omsagent-fleet and
// link its bin into node_modules/.bin) and links each declared dependency from this repository's
// node_modules after checking that the version there is the exact one the package declares. The bin is an ES
// module, so NODE_PATH (CommonJS only) would not do. Authentication is the real DefaultAzureCredential,
// narrowed to its Azure CLI credential (AZURE_TOKEN_CREDENTIALS) with a stand-in `az` on PATH, so no
// network is tried.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { startFakeArm, type FakeArm } from "../../simulator/arm/fake-arm.ts";
import { WORKSPACE_ID, WORKSPACE_KEY } from "./helpers.ts";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../../", import.meta.url));

interface Manifest {
  name: string;
  version: string;
  bin: Record<string, string>;
  files: string[];
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies?: Record<string, string>;
}

let dir: string;
let app: string;
let bin: string;
let tarball: string;
let arm: FakeArm;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "fleet-package-test-"));
  const packed = await run("npm", ["run", "-s", "pack:fleet", "--", "--pack-destination", dir, "--json"], { cwd: repo, maxBuffer: 10 * 1024 * 1024 });
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as { filename: string }[];
  tarball = join(dir, info!.filename);

  // What `npm install <tarball>` lays out.
  app = join(dir, "app");
  const installed = join(app, "node_modules", "omsagent-fleet");
  await mkdir(installed, { recursive: true });
  await run("tar", ["xzf", tarball, "-C", installed, "--strip-components=1"]);
  const manifest = JSON.parse(await readFile(join(installed, "package.json"), "utf8")) as Manifest;
  for (const [name, version] of Object.entries(manifest.dependencies)) {
    const source = join(repo, "node_modules", name);
    const have = (JSON.parse(await readFile(join(source, "package.json"), "utf8")) as { version: string }).version;
    assert.equal(have, version, `${name}: the repository has ${have}, the package declares ${version}`);
    await mkdir(dirname(join(app, "node_modules", name)), { recursive: true });
    await symlink(source, join(app, "node_modules", name));
  }
  await mkdir(join(app, "node_modules", ".bin"));
  const [binName, binPath] = Object.entries(manifest.bin)[0]!;
  await chmod(join(installed, binPath), 0o755);
  bin = join(app, "node_modules", ".bin", binName);
  await symlink(join("..", "omsagent-fleet", binPath), bin);

  // A stand-in Azure CLI: DefaultAzureCredential runs `az account get-access-token --output json --resource …`.
  await mkdir(join(dir, "path"));
  const az = join(dir, "path", "az");
  arm = await startFakeArm();
  await writeFile(
    az,
    `#!/bin/sh\necho '{"accessToken":"${arm.token}","expiresOn":"2099-01-01 00:00:00.000000","expires_on":4070908800,"tokenType":"Bearer"}'\n`,
  );
  await chmod(az, 0o755);
});

after(async () => {
  await arm?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The installed bin, in a clean environment: no repository, no tsx, only what an operator's machine has. */
async function fleet(
  args: string[],
  stdin?: string,
  whileRunning?: (child: ReturnType<typeof execFile>) => void,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = execFile(bin, args, {
    cwd: app,
    env: {
      PATH: `${join(dir, "path")}:${dirname(process.execPath)}:/usr/bin:/bin`,
      HOME: dir,
      XDG_STATE_HOME: join(dir, "state"),
      AZURE_TOKEN_CREDENTIALS: "AzureCliCredential",
    },
    maxBuffer: 10 * 1024 * 1024,
  });
  if (stdin !== undefined) child.stdin?.end(stdin);
  whileRunning?.(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => void (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => void (stderr += d.toString()));
  const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
  return { code, stdout, stderr };
}

describe("omsagent-fleet package", () => {
  test("the tarball holds the built bin and the package declares the Azure SDK as exact runtime dependencies", async () => {
    const listing = (await run("tar", ["tzf", tarball])).stdout.trim().split("\n").sort();
    assert.deepEqual(listing, [
      "package/LICENSE",
      "package/README.md",
      "package/THIRD-PARTY-NOTICES.txt",
      "package/dist/omsagent-fleet.mjs",
      "package/package.json",
    ]);
    const manifest = JSON.parse(await readFile(join(repo, "cli", "package.json"), "utf8")) as Manifest;
    const root = JSON.parse(await readFile(join(repo, "package.json"), "utf8")) as Manifest;
    assert.deepEqual(manifest.bin, { "omsagent-fleet": "dist/omsagent-fleet.mjs" });
    assert.equal(manifest.version, root.version);
    assert.equal(manifest.engines.node, root.engines.node);
    assert.deepEqual(Object.keys(manifest.dependencies).sort(), [
      "@azure/arm-compute",
      "@azure/arm-hybridcompute",
      "@azure/arm-monitor",
      "@azure/arm-operationalinsights",
      "@azure/arm-resourcegraph",
      "@azure/core-rest-pipeline",
      "@azure/identity",
      "@azure/monitor-query-logs",
    ]);
    for (const [name, version] of Object.entries(manifest.dependencies)) {
      assert.match(version, /^\d+\.\d+\.\d+(-[\w.]+)?$/, `${name} is pinned exactly`);
      // The repository's tests run the same versions the package ships with.
      assert.equal(root.devDependencies?.[name], version, `${name} in the root devDependencies`);
    }
    const code = await readFile(join(app, "node_modules", "omsagent-fleet", "dist", "omsagent-fleet.mjs"), "utf8");
    assert.ok(code.startsWith("#!/usr/bin/env node\n"));
    assert.doesNotMatch(code, /from "tsx|\.ts"/, "built JavaScript, no TypeScript loader");
    // The SDK is imported, not bundled, and only when a command talks to Azure (--help and validate never load it).
    assert.match(code, /import\("@azure\/arm-compute"\)/);
    assert.doesNotMatch(code, /from "@azure\//);
    assert.ok(!(await readdir(join(app, "node_modules", "omsagent-fleet"))).includes("node_modules"));
  });

  test("the tarball carries the project's LICENSE and the licence text of the npm packages bundled into the bin", async () => {
    const installed = join(app, "node_modules", "omsagent-fleet");
    assert.equal(await readFile(join(installed, "LICENSE"), "utf8"), await readFile(join(repo, "LICENSE"), "utf8"));
    const notice = await readFile(join(installed, "THIRD-PARTY-NOTICES.txt"), "utf8");
    // ajv and its dependencies are bundled (the SDK is not, and is not listed).
    for (const name of ["ajv", "fast-deep-equal", "fast-uri", "json-schema-traverse"]) assert.match(notice, new RegExp(`^${name}@\\S+ — `, "m"), name);
    assert.match(notice, /Copyright \(c\) 2015-\d+ Evgeny Poberezkin/);
    assert.doesNotMatch(notice, /^@azure\//m);
  });

  test("the handler bundle that goes into the extension zip holds none of the Azure SDK", async () => {
    // npm test builds dist/handler (the entry and its chunks) before any test runs.
    const files = (await readdir(join(repo, "dist", "handler"), { recursive: true })).filter((name) => name.endsWith(".mjs"));
    assert.ok(files.includes("handler.mjs"), files.join(", "));
    for (const name of files) assert.doesNotMatch(await readFile(join(repo, "dist", "handler", name), "utf8"), /@azure\/(identity|arm-|core-)/, name);
  });

  test("--help", async () => {
    const r = await fleet(["--help"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^omsagent-fleet — roll the OmsAgentForLinux VM extension/);
    assert.match(r.stdout, /omsagent-fleet plan/);
  });

  test("validate", async () => {
    const ok = await fleet(
      ["validate", "--settings", JSON.stringify({ workspaceId: WORKSPACE_ID }), "--protected-settings", "-"],
      JSON.stringify({ workspaceKey: WORKSPACE_KEY }),
    );
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /^valid: /m);
    const bad = await fleet(["validate", "--settings", '{"workspaceId":"nope"}']);
    assert.equal(bad.code, 2);
    assert.match(bad.stdout, /^settings\.workspaceId must be a workspace ID/m);
  });

  test("Ctrl-C (SIGINT) mid-deploy leaves a journal that --resume finishes without a second PUT ARM answered", async () => {
    const ids = Array.from({ length: 40 }, (_, i) => arm.addMachine("vm", `sigint-${i}`, { latencyMs: 30 }));
    const settings = join(dir, "settings.json");
    const protectedSettings = join(dir, "protected.json");
    await writeFile(settings, JSON.stringify({ workspaceId: WORKSPACE_ID }));
    await writeFile(protectedSettings, JSON.stringify({ workspaceKey: WORKSPACE_KEY }));
    const journal = join(dir, "sigint.jsonl");
    const common = [
      "--settings",
      `@${settings}`,
      "--protected-settings",
      `@${protectedSettings}`,
      "--endpoint",
      arm.endpoint,
      "--ca-cert",
      arm.caCertFile,
      "--poll-interval",
      "20ms",
      "--concurrency",
      "4",
    ];
    const puts = (): number => ids.reduce((n, id) => n + arm.machine(id)!.puts, 0);
    const first = await fleet(["deploy", ...common, "--journal", journal, ...ids], undefined, (child) => {
      const watch = setInterval(() => {
        if (puts() >= 6) {
          clearInterval(watch);
          child.kill("SIGINT");
        }
      }, 5);
      child.on("close", () => clearInterval(watch));
    });
    assert.equal(first.code, 130, first.stderr);
    assert.match(first.stderr, /interrupted: finishing the table/);
    assert.match(first.stderr, /resume with: omsagent-fleet deploy --resume /);
    assert.ok(puts() < ids.length, "interrupted before every machine was sent");
    // PUTs journaled `sending` were never seen answered and are sent again (protected settings cannot be read
    // back); every other machine gets one PUT across both runs.
    const lastState = new Map<string, string>();
    for (const line of (await readFile(journal, "utf8")).trim().split("\n")) {
      const e = JSON.parse(line) as { type: string; id?: string; state?: string };
      if (e.type === "machine") lastState.set(e.id!.toLowerCase(), e.state!);
    }
    const unanswered = new Set([...lastState].filter(([, state]) => state === "sending").map(([id]) => id));
    const second = await fleet(["deploy", ...common, "--resume", journal]);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(
      ids.filter((id) => arm.machine(id)!.puts !== 1 && !unanswered.has(id.toLowerCase())),
      [],
      "one PUT per answered machine across both runs",
    );
    assert.ok(!(await readFile(journal, "utf8")).includes(WORKSPACE_KEY));
  });

  test("migrate dcr and migrate plan through the installed bin (the migration's SDKs resolve from the package's dependencies)", async () => {
    const workspace = arm.monitor.addWorkspace("packaged-ws", [
      { name: "kern", kind: "LinuxSyslog", properties: { syslogName: "kern", syslogSeverities: [{ severity: "err" }] } },
    ]);
    const dcr = `${workspace.id.split("/providers/")[0]}/providers/Microsoft.Insights/dataCollectionRules/packaged-dcr`;
    const connection = ["--endpoint", arm.endpoint, "--ca-cert", arm.caCertFile];
    const made = await fleet(["migrate", "dcr", "--workspace", workspace.id, "--dcr", dcr, "--create", ...connection]);
    assert.equal(made.code, 0, made.stderr);
    const vm = arm.addMachine("vm", "packaged-migrate", { identity: { type: "SystemAssigned" } });
    const plan = await fleet(["migrate", "plan", "--workspace", workspace.id, "--dcr", dcr, ...connection, "--json", vm]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.deepEqual(
      (JSON.parse(plan.stdout) as { results: { action: string; steps: string[] }[] }).results.map((r) => [r.action, r.steps]),
      [["create", ["install AMA", "associate DCR", "verify heartbeat"]]],
    );
  });

  test("plan against the fake ARM server, authenticated through DefaultAzureCredential", async () => {
    const vm = arm.addMachine("vm", "packaged-vm1");
    const set = arm.addMachine("vmss", "packaged-web");
    const r = await fleet([
      "plan",
      "--settings",
      JSON.stringify({ workspaceId: WORKSPACE_ID }),
      "--endpoint",
      arm.endpoint,
      "--ca-cert",
      arm.caCertFile,
      "--json",
      vm,
      set,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as { summary: { create: number }; results: { action: string }[] };
    assert.equal(plan.summary.create, 2);
    assert.deepEqual(
      plan.results.map((x) => x.action),
      ["create", "create"],
    );
    assert.match(r.stderr, /plan: 2 to create, 0 to update, 0 unchanged/);
  });
});
