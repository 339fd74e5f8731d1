// The pino logger for runs that do real work. pino builds the records; a small synchronous sink renders
// them as extension.log lines (log-line.ts) — sync, so the last lines are on disk before the process exits;
// no worker-thread transports, which do not survive bundling.
import { pino } from "pino";
import { appendLine, formatLine, MASK, MASKED_FIELDS, openLogFile, type LogContext, type Logger } from "./log-line.ts";

/** Renders one pino record (JSON) as an extension.log line. */
export function renderLine(json: string): string {
  const record = JSON.parse(json) as Record<string, unknown>;
  const { time, level, op, seq, msg, pid: _pid, hostname: _hostname, ...extra } = record;
  return formatLine(Number(time), Number(level), op, seq, msg, extra);
}

export function createLogger(context: LogContext): Logger {
  const path = openLogFile(context.logFolder);
  const sink = {
    write(chunk: string) {
      appendLine(path, renderLine(chunk));
    },
  };
  return pino(
    {
      base: { op: context.operation, seq: context.seq },
      timestamp: pino.stdTimeFunctions.epochTime,
      redact: { paths: MASKED_FIELDS.flatMap((field) => [field, `*.${field}`]), censor: MASK },
      serializers: { err: pino.stdSerializers.err },
    },
    sink,
  );
}

/** A logger that drops everything: for modules exercised outside a handler run (tests). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
