// Fleet rollout benchmark: `fleet deploy` (the real CLI code and SDK clients, in-process) to N fake machines on
// the loopback ARM server (test/cli/fake-arm.ts) with a fixed latency per request.
//
//   npm run bench:fleet -- [--machines 1000] [--latency 20] [--concurrency 16,64] [--poll-interval 100]
//
// Ideal wall time = ceil(machines ÷ concurrency) × per-machine latency, where the per-machine latency is
// measured by deploying to a sample of machines one at a time (so it includes the real request count and LRO
// poll waits of each kind of machine, but no contention).
//
// The fake server runs in a worker thread, so its CPU does not steal the CLI's event loop; the CLI cannot run
// out of process here because it would need a real Azure login. RSS is per process, so it covers both; the
// main thread's JS heap is the CLI's alone.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { run } from "../src/cli/commands.ts";
import { fakeCredential, startFakeArm, type FakeArmStats, type Kind } from "../test/cli/fake-arm.ts";

interface ServerConfig {
  latencyMs: number;
  machines: number;
}

interface Ready {
  endpoint: string;
  caCertFile: string;
  token: string;
  ids: string[];
}

/** A mixed fleet like a real one: 80 % VMs, 10 % scale sets (2 instances each), 10 % Arc machines. */
function kindOf(i: number): Kind {
  return i % 10 === 8 ? "vmss" : i % 10 === 9 ? "arc" : "vm";
}

async function serve(config: ServerConfig): Promise<void> {
  const arm = await startFakeArm({ latencyMs: config.latencyMs, inProgressPolls: 1, logRequests: false });
  const ids = Array.from({ length: config.machines }, (_, i) => arm.addMachine(kindOf(i), `m${i}`));
  const port = parentPort!;
  port.on("message", (message: string) => {
    if (message === "stats") port.postMessage(arm.stats);
    if (message === "close") void arm.close().then(() => port.close());
  });
  port.postMessage({ endpoint: arm.endpoint, caCertFile: arm.caCertFile, token: arm.token, ids } satisfies Ready);
}

class ServerThread {
  private readonly worker: Worker;
  private constructor(worker: Worker, readonly ready: Ready) {
    this.worker = worker;
  }

  static start(config: ServerConfig): Promise<ServerThread> {
    // Workers do not inherit tsx's loader hooks; register them before importing this file in the worker.
    const self = JSON.stringify(fileURLToPath(import.meta.url));
    const boot = `import("tsx/esm/api").then(({ register }) => { register(); return import(${self}); })`;
    const worker = new Worker(boot, { eval: true, workerData: config });
    return new Promise((resolve, reject) => {
      worker.once("message", (ready: Ready) => resolve(new ServerThread(worker, ready)));
      worker.once("error", reject);
    });
  }

  stats(): Promise<FakeArmStats> {
    return new Promise((resolve) => {
      this.worker.once("message", resolve);
      this.worker.postMessage("stats");
    });
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.worker.once("exit", resolve));
    this.worker.postMessage("close");
    await exited;
  }
}

interface Measured {
  wall: number;
  code: number;
  succeeded: number;
  stats: FakeArmStats;
  rssBefore: number;
  rssPeak: number;
  heapPeak: number;
}

async function deploy(dir: string, machines: number, latencyMs: number, concurrency: number, pollMs: number): Promise<Measured> {
  const server = await ServerThread.start({ latencyMs, machines });
  try {
    const targets = join(dir, `targets-${machines}-${concurrency}.txt`);
    await writeFile(targets, server.ready.ids.join("\n"));
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    let heapPeak = 0;
    const sample = (): void => {
      const m = process.memoryUsage();
      rssPeak = Math.max(rssPeak, m.rss);
      heapPeak = Math.max(heapPeak, m.heapUsed);
    };
    const sampler = setInterval(sample, 25);
    let stdout = "";
    const started = performance.now();
    const code = await run(
      ["deploy", "--settings", `@${join(dir, "settings.json")}`, "--protected-settings", `@${join(dir, "protected.json")}`, "-f", targets,
        "--endpoint", server.ready.endpoint, "--ca-cert", server.ready.caCertFile, "--concurrency", String(concurrency),
        "--poll-interval", `${pollMs}ms`, "--json"],
      { stdout: { write: (s) => void (stdout += s) }, stderr: { write: () => undefined }, credential: fakeCredential(server.ready.token), env: {} },
    );
    const wall = (performance.now() - started) / 1000;
    clearInterval(sampler);
    sample();
    const report = JSON.parse(stdout) as { summary: { succeeded: number } };
    return { wall, code, succeeded: report.summary.succeeded, stats: await server.stats(), rssBefore, rssPeak, heapPeak };
  } finally {
    await server.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      machines: { type: "string", default: "1000" },
      latency: { type: "string", default: "20" },
      concurrency: { type: "string", default: "16,64" },
      "poll-interval": { type: "string", default: "100" },
      sample: { type: "string", default: "40" },
    },
  });
  const machines = Number(values.machines);
  const latencyMs = Number(values.latency);
  const pollMs = Number(values["poll-interval"]);
  const sampleSize = Number(values.sample);
  const concurrencies = String(values.concurrency).split(",").map(Number);
  const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

  const dir = await mkdtemp(join(tmpdir(), "bench-fleet-"));
  try {
    await writeFile(join(dir, "settings.json"), JSON.stringify({ workspaceId: "0b6e9a0c-3c55-4b47-9d5c-58f0e2c7a1d3" }));
    await writeFile(join(dir, "protected.json"), JSON.stringify({ workspaceKey: Buffer.alloc(64, 7).toString("base64") }));

    console.log(`fleet deploy benchmark: ${machines} machines (80 % VM, 10 % scale set, 10 % Arc), ${latencyMs} ms per request, LRO poll interval ${pollMs} ms, node ${process.version}`);
    const serial = await deploy(dir, sampleSize, latencyMs, 1, pollMs);
    if (serial.code !== 0) throw new Error(`the serial sample failed (exit ${serial.code})`);
    const perMachine = serial.wall / sampleSize;
    const requestsPerMachine = serial.stats.requests / sampleSize;
    console.log(`per-machine latency (${sampleSize} machines one at a time): ${(perMachine * 1000).toFixed(0)} ms, ${requestsPerMachine.toFixed(1)} requests (${(requestsPerMachine * latencyMs).toFixed(0)} ms of it is request latency)`);
    console.log("");
    console.log("concurrency  wall (s)  ideal (s)  ideal/wall  req/s  max in flight  RSS before → peak  CLI heap peak  result");
    for (const concurrency of concurrencies) {
      global.gc?.();
      const m = await deploy(dir, machines, latencyMs, concurrency, pollMs);
      const ideal = Math.ceil(machines / concurrency) * perMachine;
      const ok = m.code === 0 && m.succeeded === machines && m.stats.overlappingWrites === 0 && m.stats.maxActiveOps <= concurrency;
      console.log([
        String(concurrency).padStart(11),
        m.wall.toFixed(2).padStart(8),
        ideal.toFixed(2).padStart(9),
        `${((ideal / m.wall) * 100).toFixed(0)} %`.padStart(10),
        (m.stats.requests / m.wall).toFixed(0).padStart(5),
        String(m.stats.maxInFlight).padStart(13),
        `${mb(m.rssBefore)} → ${mb(m.rssPeak)}`.padStart(17),
        mb(m.heapPeak).padStart(13),
        ok ? ` ${m.succeeded}/${machines} ok` : ` FAILED (exit ${m.code}, ${m.succeeded} ok, overlapping writes ${m.stats.overlappingWrites})`,
      ].join("  "));
      if (!ok) process.exitCode = 1;
    }
    console.log(`process maxRSS (getrusage; CLI + fake server thread + tsx): ${mb(process.resourceUsage().maxRSS * 1024)}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (isMainThread) await main();
else await serve(workerData as ServerConfig);
