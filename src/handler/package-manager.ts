// The bundle installs .deb/.rpm packages, so it fails if apt, dpkg, yum or zypper is busy (cloud-init,
// unattended-upgrades, another extension). We wait for the locks first, with a bound, and name whoever
// holds them — the legacy handler only guessed from the bundle's output.
import { readFileSync, readlinkSync, readdirSync, statSync } from "node:fs";
import { monotonicNow, type Deadline } from "./deadline.ts";
import { ExtensionError } from "./errors.ts";
import type { Logger } from "./log-line.ts";

export interface LockHolder {
  lockPath: string;
  pid: number;
  command: string;
}

/** Parses /proc/locks into (pid, inode) pairs; works for POSIX (dpkg, rpm) and flock locks alike. */
export function parseProcLocks(text: string): { pid: number; inode: number }[] {
  const entries: { pid: number; inode: number }[] = [];
  for (const line of text.split("\n")) {
    // "1: POSIX  ADVISORY  WRITE 812 08:01:1310730 0 EOF"; blocked waiters are prefixed with "->".
    const match = /^\d+:\s+(?:->\s+)?\S+\s+\S+\s+\S+\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/.exec(line);
    if (match) entries.push({ pid: Number(match[1]), inode: Number(match[2]) });
  }
  return entries;
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "unknown";
  }
}

function holdsOpen(pid: number, path: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** Who holds one of the package manager's locks right now, if anyone. */
export function findLockHolder(lockPaths: string[], procLocks?: string): LockHolder | undefined {
  let locks: { pid: number; inode: number }[];
  try {
    locks = parseProcLocks(procLocks ?? readFileSync("/proc/locks", "utf8"));
  } catch {
    return undefined;
  }
  for (const lockPath of lockPaths) {
    let inode: number;
    try {
      inode = statSync(lockPath).ino;
    } catch {
      continue;
    }
    for (const lock of locks) {
      // Inode numbers are only unique per filesystem: confirm the holder really has this file open.
      if (lock.inode === inode && lock.pid !== process.pid && holdsOpen(lock.pid, lockPath)) {
        return { lockPath, pid: lock.pid, command: commandOf(lock.pid) };
      }
    }
  }
  return undefined;
}

function lockedError(holder: LockHolder, waitedSeconds: number): ExtensionError {
  return new ExtensionError(
    "PackageManagerLocked",
    `${holder.lockPath.replace(/.*\/(var|run)\//, "/$1/")} is held by pid ${holder.pid} (${holder.command}) and was still held after ${waitedSeconds} s`,
    "wait for it to finish or stop it, then retry",
  );
}

/** Waits (backing off from 1 s to 15 s) until no package-manager lock is held, or throws 55 at `budgetMs`. */
export async function waitForPackageManager(lockPaths: string[], budgetMs: number, deadline: Deadline, log: Logger): Promise<void> {
  const started = monotonicNow();
  let delay = 1000;
  let lastHolder = "";
  for (;;) {
    const holder = findLockHolder(lockPaths);
    if (!holder) {
      if (lastHolder) log.info(`package manager is free after ${Math.round((monotonicNow() - started) / 1000)} s`);
      return;
    }
    const who = `${holder.lockPath} held by pid ${holder.pid} (${holder.command})`;
    if (who !== lastHolder) log.warn(`package manager busy: ${who}; waiting`);
    lastHolder = who;
    const left = Math.min(budgetMs - (monotonicNow() - started), deadline.remainingMs());
    if (left <= 0 || !(await deadline.sleep(Math.min(delay, left)))) {
      throw lockedError(holder, Math.round((monotonicNow() - started) / 1000));
    }
    delay = Math.min(delay * 2, 15_000);
  }
}
