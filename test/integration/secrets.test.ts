// The workspace key and proxy credentials must not reach extension.log, status files, telemetry,
// stdout/stderr, any child's command line, or any file left behind — on success and on failure.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { agentPid, killAgent } from "../../simulator/oms/sim.ts";
import { createSimulatedVm, WORKSPACE_ID, WORKSPACE_KEY, type SimulatedVm } from "../../simulator/vm.ts";

const PROXY_PASSWORD = "Pr0xy-Passw0rd!";
const PROXY = `http://svc-user:${PROXY_PASSWORD}@proxy.corp.example:3128`;
const SECRETS = [WORKSPACE_KEY, PROXY_PASSWORD, Buffer.from(WORKSPACE_KEY).toString("base64")];

const vms: SimulatedVm[] = [];
after(() => Promise.all(vms.map((vm) => vm.close())));

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    const stat = lstatSync(path);
    if (stat.isDirectory()) filesUnder(path, out);
    else if (stat.isFile()) out.push(path);
  }
  return out;
}

function assertNoSecret(text: string, where: string): void {
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `a secret leaked into ${where}`);
}

/**
 * The processes this test file started, directly or not (the VM's handler runs and their children): other test
 * files running beside this one start tools with the same key on purpose, and must not count here.
 */
function ownProcesses(): string[] {
  const children = new Map<string, string[]>();
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      // The parent pid is the 2nd field after the command name, which is in parentheses and may hold blanks.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const ppid = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]!;
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      // Gone already.
    }
  }
  const own: string[] = [];
  const queue = [String(process.pid)];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      own.push(child);
      queue.push(child);
    }
  }
  return own;
}

/** Samples the command lines of this file's processes (see ownProcesses) while `work` runs. */
async function watchCommandLines<T>(work: Promise<T>): Promise<{ result: T; cmdlines: Set<string> }> {
  const cmdlines = new Set<string>();
  let done = false;
  const sampler = (async () => {
    while (!done) {
      for (const pid of ownProcesses()) {
        try {
          cmdlines.add(readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " "));
        } catch {
          // Gone already.
        }
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const result = await work;
  done = true;
  await sampler;
  return { result, cmdlines };
}

test("no secret in logs, statuses, telemetry, output, command lines or leftover files", async () => {
  const vm = await createSimulatedVm({ versions: ["1.19.0", "1.19.1"] });
  vms.push(vm);
  const { agent } = vm;
  const settings = { publicSettings: { workspaceId: WORKSPACE_ID }, protectedSettings: { workspaceKey: WORKSPACE_KEY, proxy: PROXY } };
  agent.setup({ dir: vm.staged.get("1.19.0")!.dir }, { seq: 0, settings });

  const outputs: string[] = [];
  const cmdlines = new Set<string>();
  const step = async (work: Promise<{ commands: { output: string; stdout: string; stderr: string }[] }>) => {
    const watched = await watchCommandLines(work);
    watched.cmdlines.forEach((line) => cmdlines.add(line));
    for (const command of watched.result.commands) outputs.push(command.output, command.stdout, command.stderr);
    return watched.result;
  };

  vm.fault("omsadmin-onboard", "slow:1", 1); // long enough for the sampler to see omsadmin's command line
  await step(agent.firstInstall("1.19.0"));
  assert.equal(agent.readStatus("1.19.0", 0).status, "success");
  assert.match(
    agent.readStatus("1.19.0", 0).substatus?.find((s) => s.name === "Proxy")?.message ?? "",
    /^proxy\.corp\.example:3128 \(from protected settings\)$/,
  );

  // Failures echo child output into statuses and logs: make the tools fail in ways that print a lot.
  // exit:8 is retried, so it must fail on every attempt.
  for (const [scenario, times] of [
    ["5-key", 1],
    ["exit:4", 1],
    ["exit:8", 3],
  ] as const) {
    agent.writeSettings(Number(agent.goalStateSeq) + 1, settings);
    // omsadmin.sh skips the onboarding (and its request's failure) while the agent runs.
    if (agentPid(vm.root, WORKSPACE_ID) !== undefined) await killAgent(vm.root, WORKSPACE_ID);
    vm.fault("omsadmin-onboard", scenario, times);
    await step(agent.enable("1.19.0"));
    assert.equal(agent.readStatus("1.19.0").status, "error");
  }
  // Settings that fail validation after decryption must not echo what was decrypted.
  agent.writeSettings(Number(agent.goalStateSeq) + 1, {
    publicSettings: { workspaceId: WORKSPACE_ID },
    protectedSettings: { workspaceKey: WORKSPACE_KEY, proxy: `${PROXY} bad`, extra: PROXY_PASSWORD },
  });
  await step(agent.enable("1.19.0"));
  assert.equal(agent.readStatus("1.19.0").code, 11);

  agent.writeSettings(Number(agent.goalStateSeq) + 1, settings);
  agent.setup({ dir: vm.staged.get("1.19.1")!.dir }, { seq: Number(agent.goalStateSeq), settings });
  await step(agent.update("1.19.0", "1.19.1"));
  await step(agent.uninstall("1.19.1"));

  outputs.forEach((text, i) => assertNoSecret(text, `command output #${i}`));
  for (const line of cmdlines) assertNoSecret(line, `a command line (${line.slice(0, 80)})`);
  assert.ok(
    [...cmdlines].some((line) => line.includes("omsadmin.sh")),
    "the sampler saw omsadmin run",
  );
  for (const line of vm.calls()) assertNoSecret(line, "a simulated tool's argv");

  for (const file of filesUnder(vm.dir)) {
    if (file.endsWith(".settings")) continue; // the guest agent's own file: protected settings stay encrypted there
    if (file === join(vm.root, "etc/opt/microsoft/omsagent/proxy.conf")) {
      // The agent's own credential store, written by omsadmin.sh: must at least be private.
      assert.equal(statSync(file).mode & 0o077, 0, "proxy.conf is 0600");
      continue;
    }
    assertNoSecret(readFileSync(file, "latin1"), file.slice(vm.dir.length));
  }
});

test("the command-line scan sees a secret in any process this file started, and none in another file's", async () => {
  // Another test file's process, started outside this one's tree (sh exits at once, leaving sleep to init).
  spawnSync("sh", ["-c", `setsid sleep 2 ${WORKSPACE_KEY} >/dev/null 2>&1 &`]);
  const leak = spawn("sh", ["-c", "sleep 1", "leaky-child", WORKSPACE_KEY]);
  const { cmdlines } = await watchCommandLines(new Promise((resolve) => leak.on("exit", resolve)));
  const withKey = [...cmdlines].filter((line) => line.includes(WORKSPACE_KEY));
  assert.ok(
    withKey.some((line) => line.includes("leaky-child")),
    "a leak in its own child is seen",
  );
  assert.ok(!withKey.some((line) => line.startsWith("sleep 2")), "a process of another test file is not");
});
