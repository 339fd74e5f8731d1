// The CLI side of `npm run bench:fleet`: `fleet deploy` (the same code as the omsagent-fleet bin, bundled the
// same way) run in a process of its own, so its peak RSS is the CLI's alone. The only difference from the bin
// is the credential: the fake server's token instead of an Azure login. Reports its figures to the parent
// over IPC.
import { run } from "../src/cli/commands.ts";
import { runInNewContext } from "node:vm";
import { keepHeapCompact } from "../src/cli/memory.ts";
import { fakeCredential } from "../simulator/arm/fake-arm.ts";

interface Job {
  args: string[];
  token: string;
  stateHome: string;
}

// As the bin's process entry (src/cli/main.ts) does.
keepHeapCompact();
const job = await new Promise<Job>((resolve) => process.once("message", (m) => resolve(m as Job)));
const rssAtStart = process.memoryUsage().rss;
let heapPeak = 0;
let rssPeak = 0;
const sample = (): void => {
  const m = process.memoryUsage();
  heapPeak = Math.max(heapPeak, m.heapUsed);
  rssPeak = Math.max(rssPeak, m.rss);
};
const sampler = setInterval(sample, 50);
let stdout = "";
let stderr = "";
const started = performance.now();
const code = await run(job.args, {
  // An operator's report goes to a pipe or a file; keeping all 5 MB of it here would be the benchmark's
  // memory, not the CLI's. The summary is at its head.
  stdout: { write: (s) => void (stdout.length < 4096 && (stdout += s.slice(0, 4096))) },
  // Progress lines are dropped as they come (a terminal would show them); only the last few are kept.
  stderr: { write: (s) => void (stderr = (stderr + s).slice(-4000)) },
  credential: fakeCredential(job.token),
  env: { XDG_STATE_HOME: job.stateHome },
});
const wall = (performance.now() - started) / 1000;
clearInterval(sampler);
sample();
// What is still alive once the run is over (keepHeapCompact has made gc() available).
(runInNewContext("gc") as () => void)();
const liveAfter = process.memoryUsage().heapUsed;
const summary = /"summary": (\{[^}]*\})/.exec(stdout)?.[1];
const report = { summary: JSON.parse(summary ?? '{"succeeded":0,"failed":-1}') as { succeeded: number; failed: number } };
process.send?.({
  code,
  wall,
  succeeded: report.summary.succeeded,
  failed: report.summary.failed,
  rssPeak,
  heapPeak,
  maxRss: process.resourceUsage().maxRSS * 1024,
  liveAfter,
  rssAtStart,
  stderrTail: stderr,
});
process.disconnect?.();
