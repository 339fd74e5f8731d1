// One handler invocation at a time. The guest agent serialises its own commands, but enable is re-run on
// every goal state and Arc's extension service can overlap operations; old and new versions must exclude
// each other during an update, so the lock lives in the version-independent state directory.
import { mkdirSync, realpathSync, rmdirSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import lockfile from "proper-lockfile";
import { monotonicNow, type Deadline } from "./deadline.ts";
import { ExtensionError } from "./errors.ts";
import type { Logger } from "./log-line.ts";

export const LOCK_FILE = "handler.lock";
/** A lock not refreshed for this long belongs to a dead process and is taken over. */
const STALE_MS = 20_000;
const POLL_MS = 500;
const LOCK_FS = { mkdirSync, realpathSync, rmdirSync, statSync, utimesSync };

export type Release = () => Promise<void>;

/**
 * Waits for the lock within `waitMs` (bounded by the operation deadline). `onLost` runs if another process
 * takes the lock from us (our event loop stalled past STALE_MS): the caller aborts cleanly.
 */
export async function acquireLock(stateDir: string, waitMs: number, deadline: Deadline, log: Logger, onLost: (error: Error) => void): Promise<Release> {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const lockfilePath = join(stateDir, LOCK_FILE);
  const started = monotonicNow();
  let announced = false;
  for (;;) {
    try {
      // The sync API: the same mkdir lock, stale takeover and mtime refresh, through fs's *Sync calls. The async
      // one sends each of its five file system calls through the runtime's thread pool, ~4 ms of every run for
      // calls that take microseconds on the local disk this directory is on. Waiting stays async (below).
      const release = lockfile.lockSync(stateDir, {
        lockfilePath,
        realpath: false,
        stale: STALE_MS,
        update: STALE_MS / 4,
        retries: 0,
        onCompromised: onLost,
        // Only the calls it makes: by default it copies the whole fs module ({ ...fs }), whose lazy members
        // (fs.promises, the stream classes) the runtime then loads, for nothing.
        fs: LOCK_FS,
      });
      if (announced) log.info(`acquired the handler lock after ${Math.round((monotonicNow() - started) / 1000)} s`);
      return async () => release();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ELOCKED") throw error;
    }
    if (!announced) {
      log.info("another handler operation is running: waiting for it to finish");
      announced = true;
    }
    const left = Math.min(waitMs - (monotonicNow() - started), deadline.remainingMs());
    if (left <= 0 || !(await deadline.sleep(Math.min(POLL_MS, left)))) {
      throw new ExtensionError(
        "AnotherOperationRunning",
        `another OmsAgentForLinux operation held the handler lock (${lockfilePath}) for ${Math.round((monotonicNow() - started) / 1000)} s`,
        "wait for it to finish; the guest agent retries automatically",
      );
    }
  }
}
