// Fleet rollout benchmark: `fleet deploy` to 10,000 fake machines behind Compute's write bucket.
//
//   npm run bench:fleet -- [--machines 10000] [--capacity 1500] [--refill-per-minute 500] [--time-scale 6]
//                          [--latency 20] [--concurrency 64] [--poll-interval 100] [--sample 20]
//
// Three processes: this one (orchestration only), the fake ARM server (simulator/arm/fake-arm.ts, with the token
// bucket: `capacity` extension writes per subscription and region, refilled at `refill-per-minute`), and the
// CLI (scripts/bench-fleet-cli.ts bundled by esbuild like the omsagent-fleet bin, run by plain node), so the
// CLI's peak RSS is its own and the server's CPU is not on its event loop.
//
// Real Compute refills 500 writes a minute, which makes 10,000 machines a 17-minute run; the bucket's refill
// is multiplied by --time-scale (default 6: 3,000 a minute) so the benchmark takes about three minutes. The
// rollout is then bound by the bucket, not by the machines:
//
//   ideal = (writes − capacity) ÷ refill rate + one machine's deploy time (measured alone, bucket full)
//
// i.e. the moment the last write can have a token, plus that machine's own operation.
import { fork, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import { startFakeArm, type FakeArmStats, type Kind } from "../simulator/arm/fake-arm.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

interface ServerConfig {
  machines: number;
  latencyMs: number;
  bucket: { capacity: number; refillPerMinute: number } | null;
  targetsFile: string;
}

interface Ready {
  endpoint: string;
  caCertFile: string;
  token: string;
}

interface CliResult {
  code: number;
  wall: number;
  succeeded: number;
  failed: number;
  rssPeak: number;
  heapPeak: number;
  maxRss: number;
  liveAfter: number;
  rssAtStart: number;
  stderrTail: string;
}

/** A mixed fleet like a real one: 80 % VMs, 10 % scale sets (2 instances each), 10 % Arc machines. */
function kindOf(i: number): Kind {
  return i % 10 === 8 ? "vmss" : i % 10 === 9 ? "arc" : "vm";
}

/** The server process: builds the fleet, answers stats requests, exits when told. */
async function serve(): Promise<void> {
  const config = await new Promise<ServerConfig>((resolve) => process.once("message", (m) => resolve(m as ServerConfig)));
  const arm = await startFakeArm({ latencyMs: config.latencyMs, inProgressPolls: 1, logRequests: false, writeBucket: config.bucket });
  const ids = Array.from({ length: config.machines }, (_, i) => arm.addMachine(kindOf(i), `m${i}`));
  await writeFile(config.targetsFile, ids.join("\n"));
  process.on("message", (message) => {
    if (message === "stats") process.send?.({ stats: arm.stats });
    if (message === "close") void arm.close().then(() => process.exit(0));
  });
  process.send?.({ endpoint: arm.endpoint, caCertFile: arm.caCertFile, token: arm.token } satisfies Ready);
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

async function startServer(config: ServerConfig): Promise<{ ready: Ready; stats(): Promise<FakeArmStats>; close(): Promise<void> }> {
  const child = fork(fileURLToPath(import.meta.url), ["--serve"], { execArgv: ["--import", "tsx"], stdio: "inherit" });
  child.send(config as unknown as string);
  const ready = await ask(child, undefined, (m) => ((m as Ready).endpoint ? (m as Ready) : undefined));
  return {
    ready,
    stats: () => ask(child, "stats", (m) => (m as { stats?: FakeArmStats }).stats),
    close: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.send("close");
      }),
  };
}

async function runCli(bundle: string, args: string[], token: string, stateHome: string, nodeOptions: string[]): Promise<CliResult> {
  // Plain node on the bundle: no tsx loader in the measured process.
  const child = fork(bundle, [], { execArgv: nodeOptions, stdio: "inherit", cwd: root });
  return ask(child, { args, token, stateHome }, (m) => ((m as CliResult).wall !== undefined ? (m as CliResult) : undefined));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      machines: { type: "string", default: "10000" },
      capacity: { type: "string", default: "1500" },
      "refill-per-minute": { type: "string", default: "500" },
      "time-scale": { type: "string", default: "6" },
      latency: { type: "string", default: "20" },
      concurrency: { type: "string", default: "64" },
      "poll-interval": { type: "string", default: "100" },
      sample: { type: "string", default: "20" },
      "cli-node-options": { type: "string", default: "" },
      serve: { type: "boolean" },
    },
  });
  const machines = Number(values.machines);
  const capacity = Number(values.capacity);
  const refillPerMinute = Number(values["refill-per-minute"]) * Number(values["time-scale"]);
  const latencyMs = Number(values.latency);
  const concurrency = Number(values.concurrency);
  const pollMs = Number(values["poll-interval"]);
  const sampleSize = Number(values.sample);
  const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

  const dir = await mkdtemp(join(tmpdir(), "bench-fleet-"));
  try {
    const bundle = join(root, "dist", "bench-fleet-cli.mjs");
    const manifest = (await import("../cli/package.json", { with: { type: "json" } })).default as { dependencies: Record<string, string> };
    // The same bundling as scripts/build-fleet.mjs (the bin), written under dist/ so the SDK resolves from
    // the repository's node_modules.
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
    await writeFile(join(dir, "settings.json"), JSON.stringify({ workspaceId: "0b6e9a0c-3c55-4b47-9d5c-58f0e2c7a1d3" }));
    await writeFile(join(dir, "protected.json"), JSON.stringify({ workspaceKey: Buffer.alloc(64, 7).toString("base64") }));

    const deploy = async (count: number, c: number, bucket: ServerConfig["bucket"]): Promise<{ cli: CliResult; stats: FakeArmStats }> => {
      const targetsFile = join(dir, `targets-${count}.txt`);
      const server = await startServer({ machines: count, latencyMs, bucket, targetsFile });
      try {
        const args = [
          "deploy",
          "--settings",
          `@${join(dir, "settings.json")}`,
          "--protected-settings",
          `@${join(dir, "protected.json")}`,
          "-f",
          targetsFile,
          "--endpoint",
          server.ready.endpoint,
          "--ca-cert",
          server.ready.caCertFile,
          "--concurrency",
          String(c),
          "--poll-interval",
          `${pollMs}ms`,
          "--json",
          "--journal",
          join(dir, `journal-${count}-${Date.now()}.jsonl`),
        ];
        const cli = await runCli(bundle, args, server.ready.token, dir, String(values["cli-node-options"]).split(" ").filter(Boolean));
        return { cli, stats: await server.stats() };
      } finally {
        await server.close();
      }
    };

    console.log(
      `fleet deploy benchmark: ${machines} machines (80 % VM, 10 % scale set, 10 % Arc), ${latencyMs} ms per request, concurrency ${concurrency}, LRO poll ${pollMs} ms, node ${process.version}`,
    );
    console.log(
      `write bucket: ${capacity} requests, refilling ${refillPerMinute} per minute (Compute's ${values["refill-per-minute"]} × time scale ${values["time-scale"]})`,
    );
    const serial = await deploy(sampleSize, 1, null);
    if (serial.cli.code !== 0) throw new Error(`the serial sample failed (exit ${serial.cli.code}): ${serial.cli.stderrTail}`);
    const perMachine = serial.cli.wall / sampleSize;
    console.log(`one machine alone: ${(perMachine * 1000).toFixed(0)} ms, ${(serial.stats.requests / sampleSize).toFixed(1)} requests`);

    const { cli, stats } = await deploy(machines, concurrency, { capacity, refillPerMinute });
    const writes = stats.puts;
    const ideal = Math.max(0, (machines - capacity) / (refillPerMinute / 60)) + perMachine;
    const ok = cli.code === 0 && cli.succeeded === machines && stats.overlappingWrites === 0;
    const paced = /paced (\d+) writes \(([\d.]+) s/.exec(cli.stderrTail);
    console.log("");
    console.log(`result               ${ok ? `${cli.succeeded}/${machines} ok` : `FAILED (exit ${cli.code}, ${cli.succeeded} ok, ${cli.failed} failed)`}`);
    console.log(`wall                 ${cli.wall.toFixed(1)} s`);
    console.log(`bucket-bound ideal   ${ideal.toFixed(1)} s   (wall ÷ ideal ${(cli.wall / ideal).toFixed(3)}; target ≤ 1.2)`);
    console.log(
      `requests             ${stats.requests} (${(stats.requests / cli.wall).toFixed(0)}/s), extension PUTs ${writes} (${(writes / cli.wall).toFixed(1)}/s)`,
    );
    console.log(`429 from the bucket  ${stats.throttled} (lowest remaining count reported: ${stats.minRemaining})`);
    console.log(`paced writes         ${paced ? `${paced[1]} (${paced[2]} s of waiting in all)` : "0"}`);
    console.log(
      `CLI peak RSS         ${mb(cli.maxRss)} (getrusage of the CLI process; ${mb(cli.rssAtStart)} once its modules are loaded), heap peak ${mb(cli.heapPeak)}, heap after the run and a full GC ${mb(cli.liveAfter)}; target ≤ 150 MB`,
    );
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
