// One line per check: what was looked at, whether it is healthy, and on failure the fix. What doctor could not
// look at is a SKIP with the reason, never a PASS. The same checks are printed for a person (text) or for the
// fleet CLI (--json).
import { ExtensionError } from "../errors.ts";
import { redact } from "../secrets.ts";

export interface Check {
  /** machine, agent, workspace <id>, history, network */
  area: string;
  name: string;
  /** False only for a failure: a skipped check is not a fault of the machine (and the fleet CLI reads `ok`). */
  ok: boolean;
  /** Not checked; `detail` says why. */
  skipped?: true;
  /** What was found (never a secret), or why it was not checked. */
  detail: string;
  /** What to do, on failure. */
  fix?: string;
}

export const pass = (area: string, name: string, detail: string): Check => ({ area, name, ok: true, detail });
export const fail = (area: string, name: string, detail: string, fix: string): Check => ({ area, name, ok: false, detail, fix });
export const skip = (area: string, name: string, reason: string): Check => ({ area, name, ok: true, skipped: true, detail: reason });

/** A check built from one of the handler's own preflight functions: its ExtensionError is the finding. */
export async function fromPreflight(area: string, name: string, run: () => string | void | Promise<string | void>): Promise<Check> {
  try {
    return pass(area, name, (await run()) || "ok");
  } catch (error) {
    if (error instanceof ExtensionError) return fail(area, name, `${error.problem} (would fail with ${error.code} ${error.reason})`, error.action);
    return fail(area, name, (error as Error).message, "report it with the output of doctor attached");
  }
}

export interface DoctorReport {
  healthy: boolean;
  checks: Check[];
}

function verdict(report: DoctorReport): string {
  const failed = report.checks.filter((c) => !c.ok).length;
  const skipped = report.checks.filter((c) => c.skipped).length;
  const notChecked = skipped > 0 ? `, ${skipped} not checked (SKIP)` : "";
  return failed === 0
    ? `healthy: ${skipped > 0 ? "" : "all "}${report.checks.length - skipped} checks passed${notChecked}`
    : `${failed} of ${report.checks.length} checks failed${notChecked}`;
}

export function renderText(report: DoctorReport, failedOnly = false): string {
  const shown = failedOnly ? report.checks.filter((c) => !c.ok) : report.checks;
  const areaWidth = Math.max(0, ...shown.map((c) => c.area.length));
  const nameWidth = Math.max(0, ...shown.map((c) => c.name.length));
  const lines = shown.map((c) => {
    const head = `${c.skipped ? "SKIP" : c.ok ? "PASS" : "FAIL"}  ${c.area.padEnd(areaWidth)}  ${c.name.padEnd(nameWidth)}  ${c.detail}`;
    return c.ok ? head : `${head} — fix: ${c.fix}`;
  });
  lines.push(verdict(report));
  return redact(lines.join("\n")) + "\n";
}

export function renderJson(report: DoctorReport, failedOnly = false): string {
  const shown = failedOnly ? { healthy: report.healthy, total: report.checks.length, checks: report.checks.filter((c) => !c.ok) } : report;
  return redact(JSON.stringify(shown)) + "\n";
}
