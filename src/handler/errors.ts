// The published error contract (the README's error-code table): every failure leaves the handler as one ExtensionError
// carrying a code from this table. invocation.ts is the only place that turns it into a status and an exit code.
import { codeOf, type Reason } from "./reasons.ts";

export const ErrorCodes = {
  9: "Enable called before a successful install",
  10: "Already connected to another workspace or SCOM, and stopOnMultipleConnections is true",
  11: "Invalid configuration",
  17: "Log Analytics agent (omsagent) package install failed",
  18: "omsconfig package install failed",
  19: "OMI package install failed",
  20: "SCX package install failed",
  21: "SCX provider kits install failed",
  22: "A bundled package install failed",
  23: "SCX or OMI already installed at an incompatible version",
  30: "Internal error",
  33: "Error generating the omsconfig metaconfiguration",
  51: "Unsupported operating system or architecture",
  52: "Missing dependency or permission",
  53: "Configuration rejected by the service",
  55: "Cannot reach the service, or the package manager stayed locked",
  60: "Unsupported OpenSSL version",
  61: "Missing python ctypes",
  62: "Missing tar",
  63: "Missing sed",
} as const;

export type ExtensionCode = keyof typeof ErrorCodes;

export function isExtensionCode(value: number): value is ExtensionCode {
  return Object.prototype.hasOwnProperty.call(ErrorCodes, value);
}

export interface ErrorDetails {
  /** Redacted tail of a child's output or other evidence; goes to a substatus and the log, never the message. */
  details?: string;
  cause?: unknown;
}

/**
 * A failure the user can act on. `reason` is a stable CamelCase name (e.g. PackageManagerLocked) whose code
 * comes from reasons.ts, `problem` says what happened and `action` what to do about it.
 */
export class ExtensionError extends Error {
  readonly code: ExtensionCode;
  readonly details?: string;

  constructor(
    readonly reason: Reason,
    readonly problem: string,
    readonly action: string,
    extra: ErrorDetails = {},
  ) {
    super(`${problem} — ${action}`, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = "ExtensionError";
    this.code = codeOf(reason);
    this.details = extra.details;
  }
}

/** Anything thrown that is not an ExtensionError is a handler bug: code 30, stack only in the log. */
export function toExtensionError(error: unknown): ExtensionError {
  if (error instanceof ExtensionError) return error;
  const text = error instanceof Error ? error.message : String(error);
  // The handler loads parts of itself on demand (scripts/build.mjs): one missing means a damaged package.
  if ((error as NodeJS.ErrnoException | undefined)?.code === "ERR_MODULE_NOT_FOUND" || /^Cannot find module/.test(text)) {
    return new ExtensionError(
      "HandlerFilesMissing",
      `the extension's files on this machine are incomplete (${text.split("\n")[0]})`,
      "remove the extension and add it again so the guest agent downloads a complete package",
      { cause: error },
    );
  }
  return new ExtensionError(
    "UnexpectedError",
    `the handler hit an unexpected error (${text.split("\n")[0]})`,
    "retry the operation; if it persists, report it with extension.log attached",
    { cause: error },
  );
}
