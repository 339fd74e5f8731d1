// One sentence per failure, cause then fix, from whatever the SDK threw. Messages here are not yet redacted;
// the output layer redacts everything it prints.
import { parseHandlerMessage } from "./instance-view.ts";

export interface Explained {
  /** ARM error code or HTTP status, e.g. `Conflict`, `HTTP 404`, `AuthenticationFailed`. */
  errorCode: string;
  /** Our handler's code when the error carries the handler's message. */
  code: number | null;
  reason?: string;
  message: string;
}

interface RestErrorLike {
  name: string;
  message: string;
  statusCode?: number;
  code?: string;
}

export function httpStatusOf(error: unknown): number | undefined {
  const status = (error as RestErrorLike | null)?.statusCode;
  return typeof status === "number" ? status : undefined;
}

export function isAbort(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name;
  return name === "AbortError" || name === "TimeoutError";
}

function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, " ").trim();
}

/** The ARM error's own message without the SDK's wrapping and without the JSON the SDK may append. */
function armMessage(error: RestErrorLike): string {
  return oneLine(error.message || "").replace(/^The long-running operation has failed\.?\s*/i, "");
}

const AUTH_ERRORS = new Set(["CredentialUnavailableError", "AggregateAuthenticationError", "AuthenticationError"]);

export function explainError(error: unknown, what: string, retries: number): Explained {
  const e = (error ?? {}) as RestErrorLike;
  if (AUTH_ERRORS.has(e.name)) {
    return {
      errorCode: e.name,
      code: null,
      message: `could not get an Azure token: ${credentialReasons(error)} — sign in (az login, managed identity, or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET) for this cloud`,
    };
  }

  const status = httpStatusOf(error);
  const handler = parseHandlerMessage(e.message);
  if (status === undefined) {
    // A failed long-running operation (not an HTTP error): ARM's text usually wraps our handler's message.
    if (handler) return { errorCode: armErrorCode(e.message) ?? "OperationFailed", code: handler.code, reason: handler.reason, message: handler.message };
    return { errorCode: e.code ?? e.name ?? "Error", code: null, message: `${what} failed: ${armMessage(e) || "no details"}` };
  }

  const armCode = e.code && !/^\d+$/.test(e.code) ? e.code : undefined;
  const label = `HTTP ${status}${armCode ? ` ${armCode}` : ""}`;
  const detail = armMessage(e);
  const after = retries > 0 ? ` after ${retries} ${retries === 1 ? "retry" : "retries"}` : "";
  const base = { errorCode: armCode ?? `HTTP ${status}`, code: handler?.code ?? null, ...(handler ? { reason: handler.reason } : {}) };
  switch (true) {
    case status === 401:
      return { ...base, message: `${what} was refused (${label}): ${detail} — the token was rejected; sign in again or check --cloud/--endpoint/--scope` };
    case status === 403:
      return {
        ...base,
        message: `${what} is not allowed (${label}): ${detail} — grant the caller Virtual Machine Contributor (VMs, scale sets) or Azure Connected Machine Resource Administrator (Arc) on the machine`,
      };
    case status === 404:
      return { ...base, message: `${what} failed: not found (${label}): ${detail} — check the resource id and that the subscription is the right one` };
    case status === 409:
      return {
        ...base,
        message: `${what} conflicted${after} (${label}): ${detail} — another operation on this machine is still running or the machine is not running; retry later`,
      };
    case status === 429:
      return { ...base, message: `${what} was throttled${after} (${label}): ${detail} — lower --concurrency or retry later` };
    case status >= 500:
      return { ...base, message: `${what} failed on the Azure side${after} (${label}): ${detail} — retry later` };
    default:
      return { ...base, message: `${what} was rejected (${label}): ${detail}` };
  }
}

/**
 * DefaultAzureCredential's error is "ChainedTokenCredential authentication failed." followed by one line per
 * credential it tried; the first sentence of each is what tells the operator which login to fix.
 */
function credentialReasons(error: unknown): string {
  const inner = (error as { errors?: unknown[] }).errors;
  const lines =
    Array.isArray(inner) && inner.length > 0
      ? inner.map((x) => String((x as Error)?.message ?? x))
      : String((error as Error).message ?? "")
          .split(/\r?\n/)
          .slice(1);
  const reasons = lines.map((l) => firstSentence(l.replace(/^CredentialUnavailableError:\s*/, "")).replace(/\.$/, "")).filter((l) => l !== "");
  return reasons.length > 0 ? reasons.join("; ") : firstSentence(String((error as Error).message ?? error));
}

function firstSentence(text: string): string {
  const line = oneLine(text);
  const cut = line.search(/\.\s/);
  return cut > 0 ? line.slice(0, cut + 1) : line;
}

/** `The long-running operation has failed. VMExtensionProvisioningError. …` → `VMExtensionProvisioningError`. */
function armErrorCode(message: string): string | undefined {
  return /has failed\. (\w+)\./.exec(message)?.[1];
}
