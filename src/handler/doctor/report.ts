// One line per check: what was looked at, whether it is healthy, and on failure the fix. The same checks are
// printed for a person (text) or for the fleet CLI (--json).
import { ExtensionError } from "../errors.ts";
import { redact } from "../secrets.ts";

export interface Check {
  /** machine, agent, workspace <id>, history, network */
  area: string;
  name: string;
  ok: boolean;
  /** What was found (never a secret). */
  detail: string;
  /** What to do, on failure. */
  fix?: string;
}

export const pass = (area: string, name: string, detail: string): Check => ({ area, name, ok: true, detail });
export const fail = (area: string, name: string, detail: string, fix: string): Check => ({ area, name, ok: false, detail, fix });

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

export function renderText(report: DoctorReport): string {
  const areaWidth = Math.max(...report.checks.map((c) => c.area.length));
  const nameWidth = Math.max(...report.checks.map((c) => c.name.length));
  const lines = report.checks.map((c) => {
    const head = `${c.ok ? "PASS" : "FAIL"}  ${c.area.padEnd(areaWidth)}  ${c.name.padEnd(nameWidth)}  ${c.detail}`;
    return c.ok ? head : `${head} — fix: ${c.fix}`;
  });
  const failed = report.checks.filter((c) => !c.ok).length;
  lines.push(failed === 0 ? `healthy: all ${report.checks.length} checks passed` : `${failed} of ${report.checks.length} checks failed`);
  return redact(lines.join("\n")) + "\n";
}

export function renderJson(report: DoctorReport, failedOnly = false): string {
  const shown = failedOnly ? { healthy: report.healthy, total: report.checks.length, checks: report.checks.filter((c) => !c.ok) } : report;
  return redact(JSON.stringify(shown)) + "\n";
}
