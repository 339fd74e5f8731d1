// Each operation works inside a budget safely under the guest agent's kill timeout, so the handler always
// gets to write a terminal status. Waits and children are cut by the same deadline.

/** Guest agent timeouts (seconds) and the share of them we allow ourselves. */
export const AGENT_TIMEOUT_SECONDS = { install: 900, enable: 300, disable: 900, update: 900, uninstall: 300 } as const;
const RESERVE_SECONDS = 30;

export type OperationName = keyof typeof AGENT_TIMEOUT_SECONDS;

/** `overrideSeconds`: OMS_HANDLER_DEADLINE_SECONDS, already checked to be a positive number (process-env.ts). */
export function operationBudgetMs(operation: OperationName, overrideSeconds?: number): number {
  if (overrideSeconds !== undefined) return overrideSeconds * 1000;
  return (AGENT_TIMEOUT_SECONDS[operation] - RESERVE_SECONDS) * 1000;
}

/**
 * Milliseconds on a clock that never steps. The wall clock does, at boot above all (chrony makestep, Hyper-V
 * time sync): measured on it, a budget could shrink to nothing or stretch past the guest agent's kill.
 */
export function monotonicNow(): number {
  return performance.now();
}

export class Deadline {
  private readonly endsAt: number;
  private readonly controller = new AbortController();

  constructor(
    readonly budgetMs: number,
    private readonly now: () => number = monotonicNow,
  ) {
    this.endsAt = now() + budgetMs;
  }

  remainingMs(): number {
    return Math.max(0, this.endsAt - this.now());
  }

  /** Aborted when the operation must stop at once (e.g. the invocation lock was lost). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  abort(reason: Error): void {
    this.controller.abort(reason);
  }

  /** Sleeps for `ms`, or less if the deadline comes first. Returns false when no time was left. */
  async sleep(ms: number): Promise<boolean> {
    const wait = Math.min(ms, this.remainingMs());
    if (wait <= 0 || this.signal.aborted) return false;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      this.signal.addEventListener("abort", done, { once: true });
    });
    return !this.signal.aborted;
  }
}
