// Slowing down before ARM says 429. Compute limits extension writes with token buckets per subscription and
// region, and every write response says how many requests are left (`x-ms-ratelimit-remaining-resource:
// <policy>;<n>,…`, and ARM's own `x-ms-ratelimit-remaining-subscription-writes: <n>`). A 429 costs its
// Retry-After (often tens of seconds) for every worker on the subscription, so the pacer spends the remaining
// requests down to a small reserve at full speed and then sends writes no faster than the buckets refill.
//
// The refill rate is not announced: it is estimated from the responses themselves. Between two responses on
// one bucket, refill = (remaining now − remaining then) + writes answered in between, over the time between.
//
// Buckets have scopes, as Compute has them: most counters speak for the subscription and region, but a VM's
// own counter (a name ending in "PerVM"; 12 requests refilling 4 a minute, Run Command counting against it)
// speaks for that machine only, so it paces writes to that machine and never the rest of the fleet. ARM's
// `x-ms-ratelimit-remaining-subscription-deletes` paces deletes (remove) like the writes counter paces PUTs.
import type { Pipeline, PipelinePolicy } from "./retry.ts";
import { FLEET_RETRY_POLICY, retryScope, sleep } from "./retry.ts";

const FLEET_THROTTLE_POLICY = "fleetThrottlePolicy";

export interface PacingOptions {
  /** Requests per bucket kept unused: other tools on the subscription share the same buckets. */
  reserve: number;
  /** The same for a single machine's own bucket, which is small and rarely shared. */
  machineReserve: number;
  /** How far back the refill estimate looks. */
  windowMs: number;
  /** Shortest span a refill estimate is made over (shorter spans are mostly noise). */
  minSpanMs: number;
  /** With the reserve reached and no refill estimate yet, one write per this interval finds out. */
  probeMs: number;
}

const DEFAULT_PACING: PacingOptions = { reserve: 20, machineReserve: 1, windowMs: 60_000, minSpanMs: 2_000, probeMs: 1_000 };

// POST: Run Command, which counts against the VM's own bucket.
const WRITE_METHODS = new Set(["PUT", "PATCH", "DELETE", "POST"]);

/** A counter that speaks for one machine rather than the subscription and region. */
export function isMachineCounter(name: string): boolean {
  return /PerVM$/i.test(name);
}

/**
 * The machine a request is about (a VM, a scale-set instance, a scale set or an Arc machine), lower-cased, from
 * its URL; undefined for anything else.
 */
export function machineOf(url: string): string | undefined {
  const path = url
    .replace(/^https?:\/\/[^/]+/i, "")
    .split("?")[0]!
    .toLowerCase();
  const match =
    /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/(?:microsoft\.compute\/virtualmachinescalesets\/[^/]+(?:\/virtualmachines\/[^/]+)?|microsoft\.compute\/virtualmachines\/[^/]+|microsoft\.hybridcompute\/machines\/[^/]+)/.exec(
      path,
    );
  return match?.[0];
}

/** Every `remaining` counter in a response's headers, by name. */
export function remainingCounters(get: (name: string) => string | undefined): Map<string, number> {
  const counters = new Map<string, number>();
  for (const kind of ["writes", "deletes"]) {
    const value = get(`x-ms-ratelimit-remaining-subscription-${kind}`)?.trim();
    if (value && /^\d+$/.test(value)) counters.set(`subscription-${kind}`, Number(value));
  }
  for (const part of (get("x-ms-ratelimit-remaining-resource") ?? "").split(",")) {
    const match = /^\s*([^;]+);\s*(\d+)\s*$/.exec(part);
    if (match) counters.set(match[1]!.trim(), Number(match[2]));
  }
  return counters;
}

interface Sample {
  at: number;
  remaining: number;
  /** Write responses seen on the scope up to and including this one. */
  answered: number;
}

class Bucket {
  samples: Sample[] = [];

  get latest(): Sample | undefined {
    return this.samples[this.samples.length - 1];
  }

  /** Requests per millisecond, or undefined while there is too little history. */
  rate(options: PacingOptions): number | undefined {
    const last = this.latest;
    if (!last) return undefined;
    const first = this.samples.find((s) => last.at - s.at <= options.windowMs);
    if (!first || last.at - first.at < options.minSpanMs) return undefined;
    const refilled = last.remaining - first.remaining + (last.answered - first.answered);
    return Math.max(0, refilled) / (last.at - first.at);
  }

  add(sample: Sample, options: PacingOptions): void {
    this.samples.push(sample);
    const horizon = sample.at - options.windowMs * 2;
    let drop = 0;
    while (drop < this.samples.length - 2 && this.samples[drop]!.at < horizon) drop++;
    if (drop > 0) this.samples.splice(0, drop);
  }
}

/** Writes in flight and the buckets seen, for one subscription and region. */
class Scope {
  inFlight = 0;
  answered = 0;
  lastSent = 0;
  buckets = new Map<string, Bucket>();
}

export class Pacer {
  private readonly options: PacingOptions;
  private readonly scopes = new Map<string, Scope>();
  /** Writes that had to wait, and for how long in total. */
  paced = 0;
  waitedMs = 0;

  constructor(options: Partial<PacingOptions> = {}) {
    this.options = { ...DEFAULT_PACING, ...options };
  }

  private scope(key: string): Scope {
    let scope = this.scopes.get(key);
    if (!scope) this.scopes.set(key, (scope = new Scope()));
    return scope;
  }

  /** How long a write on this scope should wait before it is sent; 0 to send now. */
  delayMs(key: string, now = Date.now(), reserve = this.options.reserve): number {
    const scope = this.scope(key);
    let delay = 0;
    for (const bucket of scope.buckets.values()) {
      const latest = bucket.latest;
      // A counter no response has mentioned for a whole window (another operation's policy, say) says nothing
      // about the writes being sent now.
      if (!latest || now - latest.at > this.options.windowMs) continue;
      const rate = bucket.rate(this.options);
      // Writes already sent have not been counted in `remaining` yet; assume each will be.
      const predicted = latest.remaining + (rate ?? 0) * (now - latest.at) - scope.inFlight;
      if (predicted - 1 >= reserve) continue;
      if (rate === undefined || rate === 0) {
        // No refill seen yet: one write at a time, spaced out, to learn the rate without reaching zero.
        delay = Math.max(delay, scope.inFlight > 0 ? this.options.probeMs : scope.lastSent + this.options.probeMs - now);
      } else {
        delay = Math.max(delay, (reserve + 1 - predicted) / rate);
      }
    }
    return Math.max(0, Math.ceil(delay));
  }

  /** The wait for a write to one machine: its subscription-and-region buckets and its own. */
  delayForMachineMs(key: string, machine: string | undefined, now = Date.now()): number {
    const own = machine ? this.delayMs(`${key}|${machine}`, now, this.options.machineReserve) : 0;
    return Math.max(this.delayMs(key, now), own);
  }

  sent(key: string, now = Date.now()): void {
    const scope = this.scope(key);
    scope.inFlight++;
    scope.lastSent = now;
  }

  answered(key: string, counters: Map<string, number>, now = Date.now()): void {
    const scope = this.scope(key);
    scope.inFlight = Math.max(0, scope.inFlight - 1);
    scope.answered++;
    for (const [name, remaining] of counters) {
      let bucket = scope.buckets.get(name);
      if (!bucket) scope.buckets.set(name, (bucket = new Bucket()));
      bucket.add({ at: now, remaining, answered: scope.answered }, this.options);
    }
  }
}

/**
 * Paces every write attempt (it sits below the retry policy, so a retried PUT waits its turn too). The key is
 * the subscription and, once the machine's GET has told it, the region: Compute's buckets are per both.
 */
function throttlePolicy(pacer: Pacer, subscriptionId: string): PipelinePolicy {
  return {
    name: FLEET_THROTTLE_POLICY,
    async sendRequest(request, next) {
      if (!WRITE_METHODS.has(request.method.toUpperCase())) return next(request);
      const key = `${subscriptionId.toLowerCase()}|${(retryScope.getStore()?.region ?? "").toLowerCase()}`;
      const machine = machineOf(request.url);
      const own = machine ? `${key}|${machine}` : undefined;
      const signal = request.abortSignal as AbortSignal | undefined;
      let waited = 0;
      for (let delay = pacer.delayForMachineMs(key, machine); delay > 0; delay = pacer.delayForMachineMs(key, machine)) {
        await sleep(delay, signal);
        waited += delay;
      }
      if (waited > 0) {
        pacer.paced++;
        pacer.waitedMs += waited;
      }
      pacer.sent(key);
      if (own) pacer.sent(own);
      const shared = new Map<string, number>();
      const mine = new Map<string, number>();
      try {
        const response = await next(request);
        for (const [name, remaining] of remainingCounters((name) => response.headers.get(name))) (isMachineCounter(name) ? mine : shared).set(name, remaining);
        return response;
      } finally {
        pacer.answered(key, shared);
        if (own) pacer.answered(own, mine);
      }
    },
  };
}

export function installThrottlePolicy(pipeline: Pipeline, pacer: Pacer, subscriptionId: string): void {
  pipeline.removePolicy({ name: FLEET_THROTTLE_POLICY });
  pipeline.addPolicy(throttlePolicy(pacer, subscriptionId), { phase: "Retry", afterPolicies: [FLEET_RETRY_POLICY] });
}
