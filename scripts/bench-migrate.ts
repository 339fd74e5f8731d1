// Migration benchmark: `omsagent-fleet migrate` of 1,000 fake machines from OmsAgentForLinux to AMA.
//
//   npm run bench:migrate -- [--machines 1000] [--concurrency 100] [--latency 20] [--heartbeat-delay 2000]
//                            [--heartbeat-interval 500] [--capacity 1500] [--refill-per-minute 500] [--time-scale 6]
//                            [--sample 10]
//
// Processes as in bench-fleet.ts: this one orchestrates, the fake ARM server (with its monitor endpoints and
// Compute's write bucket) runs in a child, and the CLI runs bundled like the omsagent-fleet bin in another
// (scripts/bench-fleet-cli.ts, which runs any command line), so the CLI's peak RSS is its own.
//
// Each machine costs two Compute writes (AMA PUT, legacy DELETE), an association PUT, a handful of reads, and
// the wait for AMA's first heartbeat (--heartbeat-delay, scaled down from the minutes it takes in Azure). The
// run cannot be faster than either bound:
//
//   machines in flight: ceil(machines ÷ concurrency) × one machine's migration (measured alone)
//   write bucket:       (writes − capacity) ÷ refill rate + one machine's migration
//
// and the larger one is the ideal the wall time is compared with.
import { fork, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import { startFakeArm, type FakeArmStats, type Kind } from "../simulator/arm/fake-arm.ts";
import { installLegacyAgent, type DataSource } from "../simulator/arm/fake-monitor.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

interface ServerConfig {
  machines: number;
  latencyMs: number;
  heartbeatDelayMs: number;
  bucket: { capacity: number; refillPerMinute: number } | null;
  targetsFile: string;
}

interface Ready {
  endpoint: string;
  caCertFile: string;
  token: string;
  workspace: string;
}

interface Stats {
  arm: FakeArmStats;
  queries: number;
  associationPuts: number;
}

interface CliResult {
  code: number;
  wall: number;
  succeeded: number;
  failed: number;
  maxRss: number;
  heapPeak: number;
  stderrTail: string;
}

const SOURCES: DataSource[] = [
  { name: "kern", kind: "LinuxSyslog", properties: { syslogName: "kern", syslogSeverities: [{ severity: "emerg" }, { severity: "err" }] } },
  {
    name: "cpu",
    kind: "LinuxPerformanceObject",
    properties: { objectName: "Processor", instanceName: "*", intervalSeconds: 60, performanceCounters: [{ counterName: "% Processor Time" }] },
  },
];

function kindOf(i: number): Kind {
  return i % 10 === 8 ? "vmss" : i % 10 === 9 ? "arc" : "vm";
}

async function serve(): Promise<void> {
  const config = await new Promise<ServerConfig>((resolve) => process.once("message", (m) => resolve(m as ServerConfig)));
  const arm = await startFakeArm({
    latencyMs: config.latencyMs,
    inProgressPolls: 1,
    logRequests: false,
    writeBucket: config.bucket,
    monitor: { heartbeatDelayMs: config.heartbeatDelayMs },
  });
  const workspace = arm.monitor.addWorkspace("law-bench", SOURCES);
  const ids = Array.from({ length: config.machines }, (_, i) => {
    const kind = kindOf(i);
    const id = arm.addMachine(kind, `m${i}`, kind === "arc" ? {} : { identity: { type: "SystemAssigned" } });
    installLegacyAgent(arm.machine(id)!, workspace.customerId);
    return id;
  });
  await writeFile(config.targetsFile, ids.join("\n"));
  process.on("message", (message) => {
    if (message === "stats")
      process.send?.({
        stats: {
          arm: arm.stats,
          queries: arm.monitor.stats.queries,
          associationPuts: [...arm.monitor.stats.associationPuts.values()].reduce((a, b) => a + b, 0),
        } satisfies Stats,
      });
    if (message === "close") void arm.close().then(() => process.exit(0));
  });
  process.send?.({ endpoint: arm.endpoint, caCertFile: arm.caCertFile, token: arm.token, workspace: workspace.id } satisfies Ready);
}

function ask<T>(child: ChildProcess, message: unknown, pick: (m: unknown) => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      const value = pick(m);
      if (value !== undefined) {
        child.off("message", onMessage);
        resolve(value);
      }
    };
    child.on("message", onMessage);
    child.once("exit", (code) => reject(new Error(`child exited (${code}) before answering`)));
    if (message !== undefined) child.send(message as string);
  });
}

async function startServer(config: ServerConfig): Promise<{ ready: Ready; stats(): Promise<Stats>; close(): Promise<void> }> {
  const child = fork(fileURLToPath(import.meta.url), ["--serve"], { execArgv: ["--import", "tsx"], stdio: "inherit" });
  child.send(config as unknown as string);
  const ready = await ask(child, undefined, (m) => ((m as Ready).endpoint ? (m as Ready) : undefined));
  return {
    ready,
    stats: () => ask(child, "stats", (m) => (m as { stats?: Stats }).stats),
    close: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.send("close");
      }),
  };
}

function runCli(bundle: string, args: string[], token: string, stateHome: string): Promise<CliResult> {
  const child = fork(bundle, [], { stdio: "inherit", cwd: root });
  return ask(child, { args, token, stateHome }, (m) => ((m as CliResult).wall !== undefined ? (m as CliResult) : undefined));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      machines: { type: "string", default: "1000" },
      concurrency: { type: "string", default: "100" },
      latency: { type: "string", default: "20" },
      "heartbeat-delay": { type: "string", default: "2000" },
      "heartbeat-interval": { type: "string", default: "500" },
      capacity: { type: "string", default: "1500" },
      "refill-per-minute": { type: "string", default: "500" },
      "time-scale": { type: "string", default: "6" },
      sample: { type: "string", default: "10" },
      serve: { type: "boolean" },
    },
  });
  const machines = Number(values.machines);
  const concurrency = Number(values.concurrency);
  const capacity = Number(values.capacity);
  const refillPerMinute = Number(values["refill-per-minute"]) * Number(values["time-scale"]);
  const sampleSize = Number(values.sample);
  const dir = await mkdtemp(join(tmpdir(), "bench-migrate-"));
  try {
    const bundle = join(root, "dist", "bench-fleet-cli.mjs");
    const manifest = (await import("../cli/package.json", { with: { type: "json" } })).default as { dependencies: Record<string, string> };
    await build({
      absWorkingDir: root,
      entryPoints: ["scripts/bench-fleet-cli.ts"],
      outfile: bundle,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      external: Object.keys(manifest.dependencies),
      logLevel: "warning",
      banner: { js: "import { createRequire as __fleetCreateRequire } from 'node:module';\nconst require = __fleetCreateRequire(import.meta.url);" },
    });

    const migrate = async (count: number, c: number, bucket: ServerConfig["bucket"]): Promise<{ cli: CliResult; stats: Stats }> => {
      const targetsFile = join(dir, `targets-${count}.txt`);
      const server = await startServer({
        machines: count,
        latencyMs: Number(values.latency),
        heartbeatDelayMs: Number(values["heartbeat-delay"]),
        bucket,
        targetsFile,
      });
      try {
        const { endpoint, caCertFile, token, workspace } = server.ready;
        const dcr = `/subscriptions/00000000-0000-0000-0000-00000000abcd/resourceGroups/rg-monitor/providers/Microsoft.Insights/dataCollectionRules/dcr-bench`;
        const connection = ["--endpoint", endpoint, "--ca-cert", caCertFile, "--poll-interval", "100ms"];
        const made = await runCli(bundle, ["migrate", "dcr", "--workspace", workspace, "--dcr", dcr, "--create", "--json", ...connection], token, dir);
        if (made.code !== 0) throw new Error(`migrate dcr failed: ${made.stderrTail}`);
        const args = [
          "migrate",
          "--workspace",
          workspace,
          "--dcr",
          dcr,
          "-f",
          targetsFile,
          ...connection,
          "--logs-endpoint",
          endpoint,
          "--heartbeat-interval",
          `${values["heartbeat-interval"]}ms`,
          "--concurrency",
          String(c),
          "--json",
          "--journal",
          join(dir, `journal-${count}-${Date.now()}.jsonl`),
        ];
        const cli = await runCli(bundle, args, token, dir);
        return { cli, stats: await server.stats() };
      } finally {
        await server.close();
      }
    };

    console.log(
      `migrate benchmark: ${machines} machines (80 % VM, 10 % scale set, 10 % Arc), ${values.latency} ms per request, concurrency ${concurrency}, first heartbeat ${values["heartbeat-delay"]} ms after AMA, heartbeat query every ${values["heartbeat-interval"]} ms, node ${process.version}`,
    );
    const serial = await migrate(sampleSize, 1, null);
    if (serial.cli.code !== 0) throw new Error(`the serial sample failed (exit ${serial.cli.code}): ${serial.cli.stderrTail}`);
    const one = serial.cli.wall / sampleSize;
    console.log(`one machine alone: ${(one * 1000).toFixed(0)} ms, ${(serial.stats.arm.requests / sampleSize).toFixed(1)} requests`);

    const { cli, stats } = await migrate(machines, concurrency, { capacity, refillPerMinute });
    const writes = stats.arm.puts + machines; // AMA PUTs + legacy DELETEs, both from Compute's bucket
    const inFlightBound = Math.ceil(machines / concurrency) * one;
    const bucketBound = Math.max(0, (writes - capacity) / (refillPerMinute / 60)) + one;
    const ideal = Math.max(inFlightBound, bucketBound);
    const ok = cli.code === 0 && cli.succeeded === machines && stats.arm.overlappingWrites === 0;
    const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
    console.log("");
    console.log(
      `result               ${ok ? `${cli.succeeded}/${machines} migrated and verified` : `FAILED (exit ${cli.code}, ${cli.succeeded} ok, ${cli.failed} failed)`}`,
    );
    console.log(`wall                 ${cli.wall.toFixed(1)} s`);
    console.log(
      `ideal                ${ideal.toFixed(1)} s   (machines in flight ${inFlightBound.toFixed(1)} s, write bucket ${bucketBound.toFixed(1)} s; wall ÷ ideal ${(cli.wall / ideal).toFixed(3)})`,
    );
    console.log(
      `requests             ${stats.arm.requests} (${(stats.arm.requests / machines).toFixed(1)} a machine), AMA PUTs ${stats.arm.puts}, association PUTs ${stats.associationPuts}`,
    );
    console.log(`heartbeat queries    ${stats.queries} (one shared query per interval for every machine waiting)`);
    console.log(`429 from the bucket  ${stats.arm.throttled}`);
    console.log(`CLI peak RSS         ${mb(cli.maxRss)}, heap peak ${mb(cli.heapPeak)}`);
    if (!ok) {
      console.log(cli.stderrTail);
      process.exitCode = 1;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes("--serve")) await serve();
else await main();
