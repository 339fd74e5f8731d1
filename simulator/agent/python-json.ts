// Python json.dumps (default separators ", " / ": ", ensure_ascii=True), so agent-written files match byte for byte.

/** A number that Python holds as a float (HandlerEnvironment's `"version": 1.0`). */
export class PyFloat {
  constructor(readonly value: number) {}
}

function pyString(s: string): string {
  return JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export function pyJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (value instanceof PyFloat) {
    return Number.isInteger(value.value) ? value.value.toFixed(1) : String(value.value);
  }
  switch (typeof value) {
    case "string":
      return pyString(value);
    case "number":
      return Number.isFinite(value) ? String(value) : value > 0 ? "Infinity" : value < 0 ? "-Infinity" : "NaN";
    case "boolean":
      return value ? "true" : "false";
    default:
      break;
  }
  if (Array.isArray(value)) return `[${value.map(pyJsonDumps).join(", ")}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return `{${entries.map(([k, v]) => `${pyString(k)}: ${pyJsonDumps(v)}`).join(", ")}}`;
}
