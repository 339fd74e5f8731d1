// The one-line failure message the handler writes into its status and the operator CLI and doctor read back:
// `<Operation> failed (<code> <Reason>): <cause> — <action>`. Written and parsed here only.

export interface FailureMessage {
  operation: string;
  code: number;
  reason: string;
  cause: string;
  /** What to do; absent when the text carries no ` — `. */
  action?: string;
}

const SEPARATOR = " — ";
const HEAD = /(\w+) failed \((\d+) ([A-Za-z][A-Za-z0-9]*)\): /;

export function formatFailure(operation: string, code: number, reason: string, cause: string, action: string): string {
  return `${operation.charAt(0).toUpperCase()}${operation.slice(1)} failed (${code} ${reason}): ${cause}${SEPARATOR}${action}`;
}

/**
 * Finds the failure format anywhere in a text (ARM wraps the handler's message in its own) and returns its
 * parts, and `at`, where it starts in the text.
 */
export function parseFailure(text: string | undefined): (FailureMessage & { at: number }) | undefined {
  if (!text) return undefined;
  const match = HEAD.exec(text);
  if (!match) return undefined;
  const { statement, action } = splitAction(text.slice(match.index + match[0].length).split(/\r?\n/)[0] ?? "");
  return {
    operation: match[1] ?? "",
    code: Number(match[2]),
    reason: match[3] ?? "",
    cause: statement,
    ...(action === undefined ? {} : { action }),
    at: match.index,
  };
}

/** A message's statement and, after the separator, what to do (`action` absent when there is none). */
export function splitAction(message: string): { statement: string; action?: string } {
  const split = message.indexOf(SEPARATOR);
  return split < 0 ? { statement: message } : { statement: message.slice(0, split), action: message.slice(split + SEPARATOR.length) };
}
