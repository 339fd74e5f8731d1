// Everything the CLI prints goes through Output, which redacts every line: there is no other route to
// stdout/stderr, so no code path can print a secret by forgetting to redact.
import type { Redactor } from "../shared/redact.ts";
import type { PlanItem } from "./arm.ts";
import type { Row } from "./rollout.ts";
import type { Target } from "./targets.ts";

export interface Sink {
  write(text: string): void;
}

export class Output {
  constructor(
    private readonly stdout: Sink,
    private readonly stderr: Sink,
    public redactor: Redactor,
  ) {}

  out(line = ""): void {
    this.stdout.write(this.redactor.redact(line) + "\n");
  }

  err(line: string): void {
    this.stderr.write(this.redactor.redact(line) + "\n");
  }
}

function codeCell(row: Row): string {
  if (row.code !== null) return String(row.code);
  return row.errorCode ?? "";
}

/** `[12/200] ok      rg/vm1  183.2s`, plus code and message when it did not succeed (CI logs show only these). */
export function progressLine(row: Row, done: number, total: number): string {
  const width = String(total).length;
  const head = `[${String(done).padStart(width)}/${total}] ${row.result.padEnd(7)} ${row.machine}  ${row.seconds.toFixed(1)}s`;
  const retries = row.retries > 0 ? `  (${row.retries} ${row.retries === 1 ? "retry" : "retries"})` : "";
  if (row.result === "ok") return head + retries;
  const code = codeCell(row);
  return `${head}${retries}  ${code ? `${code} ` : ""}${row.message}`;
}

const MESSAGE_WIDTH = 100;

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

/**
 * machine, result, code, message, seconds. Long messages are cut to keep the columns readable and then
 * printed in full under the table, because the full handler message is the part the operator acts on.
 */
export function table(rows: Row[]): string[] {
  const header = ["MACHINE", "RESULT", "CODE", "MESSAGE", "SECONDS"];
  const cells = rows.map((r) => [r.machine, r.result, codeCell(r), truncate(r.message, MESSAGE_WIDTH), r.seconds.toFixed(1)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const format = (c: string[]): string =>
    c
      .map((cell, i) => (i === c.length - 1 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const lines = [format(header), ...cells.map(format)];
  const long = rows.filter((r) => r.message.length > MESSAGE_WIDTH);
  if (long.length > 0) {
    lines.push("", "Full messages:");
    for (const r of long) lines.push(`  ${r.machine}: ${r.message}`);
  }
  return lines;
}

/** Machines left alone on purpose: not Linux (from Resource Graph), or never started once the budget was spent. */
function leftAlone(rows: Row[]): { notLinux: number; notStarted: number } {
  return { notLinux: rows.filter((r) => r.errorCode === "NotLinux").length, notStarted: rows.filter((r) => r.result === "not-started").length };
}

export function summaryLine(rows: Row[]): string {
  const ok = rows.filter((r) => r.result === "ok").length;
  const { notLinux, notStarted } = leftAlone(rows);
  const failed = rows.length - ok - notLinux - notStarted;
  return `${ok} succeeded, ${failed} failed${notStarted > 0 ? `, ${notStarted} not started` : ""}${notLinux > 0 ? `, ${notLinux} skipped (not Linux)` : ""}`;
}

export interface JsonReport {
  command: string;
  extension?: Record<string, unknown>;
  summary: { total: number; succeeded: number; failed: number; notStarted?: number; skipped?: number; seconds: number };
  duplicatesIgnored: string[];
  results: Row[];
}

export function jsonReport(command: string, rows: Row[], seconds: number, duplicates: string[], extension?: Record<string, unknown>): JsonReport {
  const ok = rows.filter((r) => r.result === "ok").length;
  const { notLinux, notStarted } = leftAlone(rows);
  return {
    command,
    ...(extension ? { extension } : {}),
    summary: {
      total: rows.length,
      succeeded: ok,
      failed: rows.length - ok - notLinux - notStarted,
      ...(notStarted > 0 ? { notStarted } : {}),
      ...(notLinux > 0 ? { skipped: notLinux } : {}),
      seconds: Math.round(seconds * 10) / 10,
    },
    duplicatesIgnored: duplicates,
    results: rows,
  };
}

export interface PlanLine {
  target: Target;
  row: Row;
  plan: PlanItem | undefined;
}

/** `error` when the machine or its extension could not be read (the row says why). */
function actionOf(line: PlanLine): string {
  return line.plan?.action ?? (line.row.errorCode === "NotLinux" ? "skip" : "error");
}

/** machine, action, the extension now there (version and provisioning state), and what would change. */
export function planTable(lines: PlanLine[]): string[] {
  const header = ["MACHINE", "ACTION", "NOW", "CHANGES"];
  const cells = lines.map((l) => {
    const now = l.plan?.current ? `${l.plan.current.typeHandlerVersion ?? "?"} ${l.plan.current.provisioningState ?? "?"}` : "-";
    return [l.target.label, actionOf(l), now, truncate(l.plan?.action === "update" ? l.plan.message : l.plan ? "" : l.row.message, MESSAGE_WIDTH)];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const format = (c: string[]): string =>
    c
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [format(header), ...cells.map(format)];
}

export function planReport(lines: PlanLine[], seconds: number): Record<string, unknown> {
  const count = (action: string): number => lines.filter((l) => actionOf(l) === action).length;
  return {
    command: "plan",
    summary: {
      total: lines.length,
      create: count("create"),
      update: count("update"),
      unchanged: count("unchanged"),
      skip: count("skip"),
      error: count("error"),
      seconds: Math.round(seconds * 10) / 10,
    },
    results: lines.map((l) => ({
      machine: l.target.label,
      id: l.target.id,
      kind: l.target.kind,
      action: actionOf(l),
      current: l.plan?.current ?? null,
      changes: l.plan?.changes ?? [],
      message: l.plan?.message ?? l.row.message,
      ...(l.plan ? {} : { errorCode: l.row.errorCode ?? null }),
    })),
  };
}

/**
 * A JSON document whose `results` are written one row per line: the same data as JSON.stringify of the
 * whole, without building a 5 MB string (and its redacted copy) for a 10,000-machine run.
 */
export function writeJsonDocument(out: Output, head: Record<string, unknown>, results: unknown[]): void {
  const text = JSON.stringify(head, null, 2);
  out.out(`${text.slice(0, text.lastIndexOf("}")).trimEnd()}${Object.keys(head).length > 0 ? "," : ""}\n  "results": [`);
  results.forEach((row, i) => out.out(`    ${JSON.stringify(row)}${i < results.length - 1 ? "," : ""}`));
  out.out("  ]\n}");
}
