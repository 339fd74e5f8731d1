// Every child (bundle, omsadmin.sh, service_control, openssl, probes) runs through here: no shell, LC_ALL=C
// so its output can be parsed, its own process group so a timeout kills its whole tree (the bundle is
// sh → dpkg/rpm → maintainer scripts), output streamed to extension.log (redacted) with a bounded copy
// kept for error classification.
import { readdirSync, readFileSync } from "node:fs";
import { monotonicNow, type Deadline } from "./deadline.ts";
import type { Logger } from "./log-line.ts";
import { STANDARD_BIN_DIRS } from "./paths.ts";
import type { ChildEnvironment } from "./process-env.ts";
import { redact } from "./secrets.ts";

export interface ChildSpec {
  /** Short name used in the log, e.g. "bundle" or "omsadmin". */
  label: string;
  file: string;
  args: string[];
  input?: Buffer | string;
  /** Upper bound for this child; the operation deadline may cut it shorter. */
  timeoutMs?: number;
  /** Keep the output out of the log (e.g. openssl printing decrypted settings). */
  quiet?: boolean;
  cwd?: string;
  /** What the child starts from: the entry's parsed environment (process-env.ts). */
  childEnv: ChildEnvironment;
}

export interface ChildResult {
  exitCode: number;
  /** stdout alone, complete (bounded at MAX_KEPT). */
  stdout: string;
  /** stdout and stderr interleaved, the last MAX_KEPT characters. */
  output: string;
  /** stderr alone, the last MAX_KEPT characters: what may be quoted when stdout could hold secrets. */
  stderr: string;
  timedOut: boolean;
  /** The operation was aborted (lock lost) while the child ran. */
  aborted: boolean;
  durationMs: number;
}

const MAX_KEPT = 512 * 1024;
const KILL_GRACE_MS = 3000;
/** After the child exited, how long its pipes may still deliver what it wrote before we stop reading. */
const DRAIN_MS = 200;
/** Exit code we report when the executable could not be started at all (as a shell would). */
const NOT_FOUND_EXIT = 127;

function childEnvironment(base: ChildEnvironment): Record<string, string> {
  // The guest agent runs under systemd, whose PATH may lack the sbin directories the tools need.
  const path = [base.PATH, ...STANDARD_BIN_DIRS].filter(Boolean).join(":");
  return { ...base, LC_ALL: "C", LANG: "C", PATH: path };
}

/** Colour codes (the bundle prints its deprecation notice in red) are noise in logs and status messages. */
// eslint-disable-next-line no-control-regex -- an escape sequence starts with the ESC control character
const ANSI_ESCAPE = /\x1b\[[0-9;?]*[A-Za-z]/g;

function keepTail(buffer: string, chunk: string): string {
  const joined = buffer + chunk;
  return joined.length > MAX_KEPT ? joined.slice(joined.length - MAX_KEPT) : joined;
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** How long a SIGKILLed group may take to disappear; the kernel needs milliseconds, a loaded machine more. */
const GROUP_EXIT_WAIT_MS = 2000;

/** Any process of the group still running? A zombie waiting for its reaper runs no more code. */
function groupRunning(pgid: number): boolean {
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return false;
  }
  return pids.some((pid) => {
    try {
      // pid (comm) state ppid pgrp …: comm may hold spaces and parentheses, so split after its last ")".
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return Number(pgrp) === pgid && state !== "Z" && state !== "X";
    } catch {
      return false;
    }
  });
}

async function groupGone(pgid: number, waitMs: number): Promise<void> {
  const until = monotonicNow() + waitMs;
  while (groupRunning(pgid) && monotonicNow() < until) await new Promise((resolve) => setTimeout(resolve, 10));
}

export async function runChild(spec: ChildSpec, deadline: Deadline, log: Logger): Promise<ChildResult> {
  const started = monotonicNow();
  const limit = Math.min(spec.timeoutMs ?? Number.POSITIVE_INFINITY, deadline.remainingMs());
  log.info({ child: spec.label }, `running ${spec.label}: ${redact([spec.file, ...spec.args].join(" "))}`);
  if (limit <= 0 || deadline.signal.aborted) {
    return { exitCode: -1, stdout: "", output: "", stderr: "", timedOut: true, aborted: deadline.signal.aborted, durationMs: 0 };
  }

  // Loaded on first use: a run with nothing to do starts no child and should not pay for loading execa.
  const { execa } = await import("execa");
  const child = execa(spec.file, spec.args, {
    detached: true,
    reject: false,
    buffer: false,
    all: true,
    cwd: spec.cwd,
    env: childEnvironment(spec.childEnv),
    extendEnv: false,
    stdin: spec.input === undefined ? "ignore" : "pipe",
    ...(spec.input === undefined ? {} : { input: spec.input }),
    stripFinalNewline: false,
  });

  let output = "";
  let stdout = "";
  let pending = "";
  const flushLine = (line: string) => {
    if (!spec.quiet && line.length > 0) log.info({ child: spec.label }, line);
  };
  child.all?.setEncoding("utf8");
  child.all?.on("data", (raw: string) => {
    const chunk = raw.replace(ANSI_ESCAPE, "");
    output = keepTail(output, chunk);
    const lines = (pending + chunk).split("\n");
    pending = lines.pop() ?? "";
    lines.forEach(flushLine);
  });
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    stdout = keepTail(stdout, chunk);
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr = keepTail(stderr, chunk);
  });

  let timedOut = false;
  let aborted = false;
  let graceTimer: NodeJS.Timeout | undefined;
  const stop = (why: "timeout" | "abort") => {
    if (why === "timeout") timedOut = true;
    else aborted = true;
    log.warn(
      { child: spec.label },
      `${spec.label} ${why === "timeout" ? `still running after ${Math.round(limit / 1000)} s` : "interrupted"}: killing its process group`,
    );
    killGroup(child.pid, "SIGTERM");
    graceTimer = setTimeout(() => killGroup(child.pid, "SIGKILL"), KILL_GRACE_MS);
  };
  const timer = setTimeout(() => stop("timeout"), limit);
  const onAbort = () => stop("abort");
  deadline.signal.addEventListener("abort", onAbort, { once: true });

  // The child's end is its exit, not the end of its pipes: a process it started in the background (a daemon
  // that did not close its descriptors) may hold stdout for hours. Once it exited, what it wrote is read for a
  // moment, then the pipes are let go.
  type Exit = { code: number | null; signal: NodeJS.Signals | null };
  const exited = new Promise<Exit>((resolve) => child.once("exit", (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal })));
  const settled = child.then((value) => ({ result: value }));
  const first = await Promise.race([settled, exited.then((exit) => ({ exit }))]);
  let exit: Exit | undefined;
  if ("exit" in first) {
    exit = first.exit;
    let drainTimer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      settled,
      new Promise<undefined>((resolve) => {
        drainTimer = setTimeout(() => resolve(undefined), DRAIN_MS);
      }),
    ]);
    clearTimeout(drainTimer);
    if (drained === undefined) {
      log.info({ child: spec.label }, `${spec.label} exited, but a process it started still holds its output: not waiting for that process`);
      for (const stream of [child.stdout, child.stderr, child.all]) stream?.destroy();
    }
  }
  const result = (await settled).result;
  clearTimeout(timer);
  deadline.signal.removeEventListener("abort", onAbort);
  if (timedOut || aborted) {
    // Leave nothing of the tree behind, even children that ignored SIGTERM, and return only once it is gone:
    // the caller then removes files (the onboarding file with the key) that a dying child must not read.
    killGroup(child.pid, "SIGKILL");
    if (child.pid !== undefined) await groupGone(child.pid, GROUP_EXIT_WAIT_MS);
  }
  if (graceTimer) clearTimeout(graceTimer);
  flushLine(pending);

  let exitCode = exit?.code ?? result.exitCode ?? -1;
  if (exit === undefined && result.exitCode === undefined && !timedOut && !aborted && result.signal === undefined) {
    // The executable could not be started (ENOENT, EACCES): report it the way a shell would.
    exitCode = NOT_FOUND_EXIT;
    const notStarted = `${spec.file}: ${result.code ?? "cannot execute"}\n`;
    output = keepTail(output, notStarted);
    stderr = keepTail(stderr, notStarted);
  }
  const durationMs = monotonicNow() - started;
  log.info({ child: spec.label, exitCode, timedOut, durationMs }, `${spec.label} finished`);
  return { exitCode, stdout, output, stderr, timedOut, aborted, durationMs };
}

/** The last `lines` non-empty lines of a child's output, redacted: evidence for status details. */
export function outputTail(output: string, lines = 15, maxChars = 2000): string {
  const tail = output
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line.length > 0)
    .slice(-lines)
    .join("\n");
  return redact(tail.length > maxChars ? tail.slice(tail.length - maxChars) : tail);
}
