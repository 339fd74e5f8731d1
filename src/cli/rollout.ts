// Running one operation per machine across a fleet: a fixed pool of workers (bounded concurrency; each machine
// is handled by exactly one worker, start to finish), a deadline per machine, and one row per machine whatever
// happens to it.
import { setMaxListeners } from "node:events";
import { explainError, isAbort } from "./errors.ts";
import type { Outcome } from "./arm.ts";
import { StepError } from "./arm.ts";
import { retryScope, type RetryEvent } from "./retry.ts";
import type { Target } from "./targets.ts";

type RowResult = Outcome["result"] | "timeout" | "cancelled" | "skipped" | "not-started";

export interface Row {
  machine: string;
  id: string;
  kind: Target["kind"];
  result: RowResult;
  /** Our handler's numeric code when ARM reported one. */
  code: number | null;
  reason?: string;
  /** ARM error code or HTTP status when the failure happened in ARM rather than on the machine. */
  errorCode?: string;
  message: string;
  seconds: number;
  retries: number;
}

export type Work = (target: Target, signal: AbortSignal) => Promise<Outcome>;

export interface RolloutOptions {
  concurrency: number;
  /** Per-machine deadline, from the moment its worker picks it up (not from the start of the run). */
  timeoutMs: number;
  /** Aborts everything (Ctrl-C): machines not started are `skipped`, running ones `cancelled`. */
  signal?: AbortSignal;
  /** Called as each machine finishes, in completion order. */
  onRow?: (row: Row, done: number, total: number) => void;
  /** Describes the operation in messages, e.g. "deploy". */
  what: string;
  /** Machines per wave: a wave starts only when the previous one has finished. All at once when absent. */
  batch?: number;
  /** Failures tolerated; one more and no new machine starts (machines in flight finish). Unlimited when absent. */
  maxFailures?: number;
  /** Called when a wave starts (1-based). */
  onWave?: (wave: number, waves: number, size: number) => void;
}

export interface FleetRun {
  /** One row per target, in the targets' order. */
  rows: Row[];
  /** Set when the failure budget stopped the run. */
  stopped?: { failures: number; maxFailures: number };
}

/** What counts against --max-failures: anything that did not end well, except an interrupt. */
function countsAsFailure(row: Row): boolean {
  return row.result !== "ok" && row.result !== "not-installed" && row.result !== "cancelled" && row.result !== "skipped" && row.result !== "not-started";
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

async function runOne(target: Target, work: Work, options: RolloutOptions): Promise<Row> {
  const started = performance.now();
  // A timer cleared when the machine is done, rather than AbortSignal.timeout(): that one stays armed for the
  // whole --timeout (45 min by default) and keeps each finished machine's signal and listeners alive.
  const controller = new AbortController();
  const signal = controller.signal;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException(`no result within ${formatDuration(options.timeoutMs)}`, "TimeoutError"));
  }, options.timeoutMs);
  const interrupt = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", interrupt, { once: true });
  const retries: RetryEvent[] = [];
  let outcome: Outcome;
  let result: RowResult;
  try {
    outcome = await retryScope.run({ onRetry: (event) => retries.push(event) }, () => work(target, signal));
    result = outcome.result;
  } catch (error) {
    const cause = error instanceof StepError ? error.cause : error;
    const what = error instanceof StepError ? error.what : options.what;
    if (timedOut && (isAbort(cause) || signal.aborted)) {
      result = "timeout";
      outcome = {
        result: "failed",
        code: null,
        errorCode: "Timeout",
        message: `no result within ${formatDuration(options.timeoutMs)} (while: ${what}) — the operation may still be running in Azure; check with \`status\`, or raise --timeout`,
      };
    } else if (options.signal?.aborted && (isAbort(cause) || signal.aborted)) {
      result = "cancelled";
      outcome = {
        result: "failed",
        code: null,
        errorCode: "Cancelled",
        message: `interrupted while: ${what} — the operation may still be running in Azure; check with \`status\``,
      };
    } else {
      const explained = explainError(cause, what, retries.length);
      result = "failed";
      outcome = { result: "failed", ...explained };
    }
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", interrupt);
  }
  return {
    machine: target.label,
    id: target.id,
    kind: target.kind,
    result,
    code: outcome.code,
    ...(outcome.reason ? { reason: outcome.reason } : {}),
    ...(outcome.errorCode ? { errorCode: outcome.errorCode } : {}),
    message: outcome.message,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    retries: retries.length,
  };
}

/**
 * Rows come back in the targets' order; onRow sees them in completion order. Waves run one after another; the
 * failure budget is checked before each machine starts, so once it is spent only machines already in flight
 * finish and every other one is reported `not-started`.
 */
/** A row for a machine that was not worked on in this run (done earlier, skipped, never started). */
export function presetRow(target: Target, outcome: Pick<Row, "result" | "code" | "message" | "errorCode">): Row {
  return { machine: target.label, id: target.id, kind: target.kind, ...outcome, seconds: 0, retries: 0 };
}

export async function runFleet(targets: Target[], work: Work, options: RolloutOptions): Promise<FleetRun> {
  const rows: Row[] = new Array(targets.length);
  let done = 0;
  let failures = 0;
  let stopped: FleetRun["stopped"];
  const budgetSpent = (): boolean => options.maxFailures !== undefined && failures > options.maxFailures;
  const placeholder = (target: Target, result: "skipped" | "not-started", message: string): Row => presetRow(target, { result, code: null, message });

  // Each machine in flight listens for Ctrl-C on the run's signal (runOne): more than Node's default of 10 is
  // the design, not a leak, and must not print MaxListenersExceededWarning at --concurrency 16.
  if (options.signal) setMaxListeners(options.concurrency + 10, options.signal);
  const size = Math.max(1, options.batch ?? targets.length);
  const waves = Math.ceil(targets.length / size);
  for (let wave = 0; wave < waves; wave++) {
    const first = wave * size;
    const last = Math.min(targets.length, first + size);
    if (!options.signal?.aborted && !budgetSpent()) options.onWave?.(wave + 1, waves, last - first);
    let next = first;
    const worker = async (): Promise<void> => {
      for (;;) {
        const index = next++;
        if (index >= last) return;
        const target = targets[index]!;
        let row: Row;
        if (options.signal?.aborted) {
          row = placeholder(target, "skipped", "not started: the run was interrupted");
        } else if (budgetSpent()) {
          row = placeholder(target, "not-started", `not started: the failure budget was spent (${failures} failures, --max-failures ${options.maxFailures})`);
        } else {
          row = await runOne(target, work, options);
          if (countsAsFailure(row)) failures++;
          if (budgetSpent() && !stopped) stopped = { failures, maxFailures: options.maxFailures! };
        }
        rows[index] = row;
        done++;
        options.onRow?.(row, done, targets.length);
      }
    };
    const workers = Math.max(1, Math.min(options.concurrency, last - first));
    await Promise.all(Array.from({ length: workers }, worker));
  }
  if (stopped) stopped.failures = failures;
  return { rows, ...(stopped ? { stopped } : {}) };
}
