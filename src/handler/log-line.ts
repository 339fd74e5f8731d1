// extension.log: the line format, the file and its rotation, and the Logger every module writes to.
// Two loggers produce these lines: pino (log.ts) for runs that do real work, and the plain one here for
// runs with nothing to do, which must not pay for loading pino (a no-op enable runs on every goal state
// and after every reboot). A test holds the two to the same output.
import { appendFileSync, existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { redact } from "./secrets.ts";

interface LogFn {
  (message: string): void;
  (fields: object, message: string): void;
}

/** What the handler's modules need of a logger (pino's Logger satisfies it). */
export interface Logger {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

export interface LogContext {
  logFolder: string;
  operation: string;
  seq: number | string;
}

export const LOG_FILE = "extension.log";
const ROTATE_BYTES = 10 * 1024 * 1024;
const KEEP_FILES = 5;

const LEVELS = { info: 30, warn: 40, error: 50 } as const;
const LEVEL_NAMES: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };

/** Field names whose values are masked wherever they appear at the top level or one level down. */
export const MASKED_FIELDS = ["workspaceKey", "protectedSettings", "proxy", "key"];
export const MASK = "***";

/**
 * `<ISO time> <LEVEL> <op> seq=<n> <message> [{extra JSON}]`, one event per line, redacted.
 * Parse with /^(\S+) (\S+)\s+(\S+) seq=(\S+) (.*?)(?: (\{.*\}))?$/.
 */
export function formatLine(time: number, level: number, op: unknown, seq: unknown, message: unknown, extra: Record<string, unknown>): string {
  const head = `${new Date(time).toISOString()} ${(LEVEL_NAMES[level] ?? "INFO").padEnd(5)} ${String(op ?? "-")} seq=${String(seq ?? "-")}`;
  const text = String(message ?? "").replace(/\r?\n/g, "\\n");
  const tail = Object.keys(extra).length > 0 ? ` ${JSON.stringify(extra)}` : "";
  return redact(`${head} ${text}${tail}`) + "\n";
}

function rotate(path: string): void {
  if (!existsSync(path) || statSync(path).size < ROTATE_BYTES) return;
  for (let i = KEEP_FILES - 1; i >= 1; i--) {
    if (existsSync(`${path}.${i}`)) renameSync(`${path}.${i}`, `${path}.${i + 1}`);
  }
  renameSync(path, `${path}.1`);
}

// Logging is best-effort: a full or read-only log disk (ENOSPC, EROFS, EIO) must not stop an operation half-way —
// a throwing log call would skip the status file, leave /etc/omsagent-onboard.conf with the key behind, or end
// the process while a child still runs. Failed writes are dropped; each write tries again (space may free up).

/** Creates the log folder, rotates a full log, and returns the path lines are appended to. */
export function openLogFile(logFolder: string): string {
  const path = join(logFolder, LOG_FILE);
  try {
    mkdirSync(logFolder, { recursive: true, mode: 0o700 });
    rotate(path);
  } catch {
    // appendLine tries anyway and drops what it cannot write.
  }
  return path;
}

export function appendLine(path: string, line: string): void {
  try {
    appendFileSync(path, line, { mode: 0o600 });
  } catch {
    // Dropped: see above.
  }
}

function masked(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof Error) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = MASKED_FIELDS.includes(key) ? MASK : depth > 0 ? masked(inner, depth - 1) : inner;
  }
  return out;
}

function serializeError(error: Error): Record<string, unknown> {
  return { type: error.constructor.name, message: error.message, stack: error.stack };
}

/** The plain logger: the same lines as log.ts's pino logger, written synchronously. */
export function createLineLogger(context: LogContext): Logger {
  const path = openLogFile(context.logFolder);
  const write = (level: number) =>
    ((first: string | object, second?: string) => {
      const [fields, message] = typeof first === "string" ? [{}, first] : [first, second];
      const extra = masked(fields, 1) as Record<string, unknown>;
      if (extra.err instanceof Error) extra.err = serializeError(extra.err);
      else if (extra.err === undefined) delete extra.err;
      appendLine(path, formatLine(Date.now(), level, context.operation, context.seq, message, extra));
    }) as LogFn;
  return { info: write(LEVELS.info), warn: write(LEVELS.warn), error: write(LEVELS.error) };
}

/** A logger that drops everything: for doctor, which reports on stdout and must not touch extension.log. */
export function silentLineLogger(): Logger {
  const drop = (() => {}) as LogFn;
  return { info: drop, warn: drop, error: drop };
}
