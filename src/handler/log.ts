// extension.log: one readable line per event, timestamp first, operation and sequence on every line,
// secrets redacted, rotated by size. pino builds the records; a small synchronous sink renders them
// (sync, so the last lines are on disk before the process exits; no worker-thread transports, which
// do not survive bundling).
import { appendFileSync, existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import { redact } from "./secrets.ts";

export type { Logger };

export const LOG_FILE = "extension.log";
const ROTATE_BYTES = 10 * 1024 * 1024;
const KEEP_FILES = 5;

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };

/**
 * Renders a pino record as `<ISO time> <LEVEL> <op> seq=<n> <message> [{extra JSON}]`.
 * Parse with /^(\S+) (\S+)\s+(\S+) seq=(\S+) (.*?)(?: (\{.*\}))?$/.
 */
export function renderLine(json: string): string {
  const record = JSON.parse(json) as Record<string, unknown>;
  const { time, level, op, seq, msg, pid: _pid, hostname: _hostname, ...extra } = record;
  const head = `${new Date(Number(time)).toISOString()} ${(LEVELS[Number(level)] ?? "INFO").padEnd(5)} ${String(op ?? "-")} seq=${String(seq ?? "-")}`;
  const message = String(msg ?? "").replace(/\r?\n/g, "\\n");
  const tail = Object.keys(extra).length > 0 ? ` ${JSON.stringify(extra)}` : "";
  return redact(`${head} ${message}${tail}`) + "\n";
}

function rotate(path: string): void {
  if (!existsSync(path) || statSync(path).size < ROTATE_BYTES) return;
  for (let i = KEEP_FILES - 1; i >= 1; i--) {
    if (existsSync(`${path}.${i}`)) renameSync(`${path}.${i}`, `${path}.${i + 1}`);
  }
  renameSync(path, `${path}.1`);
}

export interface LogContext {
  logFolder: string;
  operation: string;
  seq: number | string;
}

/**
 * Logging is best-effort: a full or read-only log disk (ENOSPC, EROFS, EIO) must not stop an operation half-way —
 * a throwing log call would skip the status file, leave /etc/omsagent-onboard.conf with the key behind, or
 * end the process while a child still runs. Failed writes are dropped; each write tries again (space may free up).
 */
export function createLogger(context: LogContext): Logger {
  const path = join(context.logFolder, LOG_FILE);
  try {
    mkdirSync(context.logFolder, { recursive: true, mode: 0o700 });
    rotate(path);
  } catch {
    // The sink below tries anyway and drops what it cannot write.
  }
  const sink = {
    write(chunk: string) {
      try {
        appendFileSync(path, renderLine(chunk), { mode: 0o600 });
      } catch {
        // Dropped: see above.
      }
    },
  };
  return pino(
    {
      base: { op: context.operation, seq: context.seq },
      timestamp: pino.stdTimeFunctions.epochTime,
      redact: {
        paths: ["workspaceKey", "*.workspaceKey", "protectedSettings", "*.protectedSettings", "proxy", "*.proxy", "key", "*.key"],
        censor: "***",
      },
      serializers: { err: pino.stdSerializers.err },
    },
    sink,
  );
}

/** A logger that drops everything: used before HandlerEnvironment.json tells us where logs go. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
