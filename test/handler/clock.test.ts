// Clock steps (chrony makestep, Hyper-V time sync at boot) move the wall clock by minutes or hours. Budgets,
// retries and lock waits are measured on a monotonic clock, so a step neither cuts an operation to nothing nor
// carries it past the guest agent's kill.
import assert from "node:assert/strict";
import { mkdirSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Deadline } from "../../src/handler/deadline.ts";
import { ExtensionError } from "../../src/handler/errors.ts";
import { acquireLock, LOCK_FILE } from "../../src/handler/lock.ts";
import { silentLogger } from "../../src/handler/log.ts";
import { makeTempDir } from "../../simulator/system-root.ts";

const HOUR = 3600_000;

/** Replaces Date.now (and so the wall clock every module reads) with one that can be stepped. */
async function withSteppableClock<T>(body: (step: (offsetMs: number) => void) => Promise<T> | T): Promise<T> {
  const realNow = Date.now;
  let offset = 0;
  Date.now = () => realNow() + offset;
  try {
    return await body((offsetMs) => {
      offset = offsetMs;
    });
  } finally {
    Date.now = realNow;
  }
}

test("a deadline keeps its budget when the wall clock steps forward or back", { timeout: 60_000 }, async () => {
  await withSteppableClock((step) => {
    const forward = new Deadline(60_000);
    step(+HOUR);
    assert.ok(forward.remainingMs() > 0, "a step forward does not cut the budget to nothing");
    step(0);
    const back = new Deadline(60_000);
    step(-HOUR);
    assert.ok(back.remainingMs() <= 60_000, "a step back does not stretch the budget");
  });
});

test("a lock wait is measured on the monotonic clock: a step back does not stretch it to the whole deadline", { timeout: 60_000 }, async () => {
  const stateDir = makeTempDir();
  const release = await acquireLock(stateDir, 1000, new Deadline(30_000), silentLogger(), () => {});
  try {
    const error = await withSteppableClock(async (step) => {
      const waiting = acquireLock(stateDir, 1500, new Deadline(30_000), silentLogger(), () => {});
      step(-HOUR);
      return waiting.then(
        () => assert.fail("the lock is held"),
        (e: unknown) => e,
      );
    });
    assert.ok(error instanceof ExtensionError && error.reason === "AnotherOperationRunning", String(error));
    assert.match(error.problem, /for [12] s$/, "the wait lasted its own budget");
  } finally {
    await release();
  }
});

test("decision: a lock whose mtime is far in the future (a step back after a dead holder wrote it) only makes waiters give up within their budget", async () => {
  const stateDir = makeTempDir();
  mkdirSync(join(stateDir, LOCK_FILE));
  const future = new Date(Date.now() + HOUR);
  utimesSync(join(stateDir, LOCK_FILE), future, future);
  const error = await acquireLock(stateDir, 1000, new Deadline(10_000), silentLogger(), () => {}).then(
    () => assert.fail("a lock refreshed 'in the future' is not stale"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ExtensionError && error.code === 30 && error.reason === "AnotherOperationRunning");
});
