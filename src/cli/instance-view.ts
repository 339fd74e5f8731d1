// Turning what ARM reports about the extension back into what our handler wrote: its numeric code (the README's error-code table)
// and its one-line message `<Operation> failed (<code> <Reason>): <cause> — <action>` (src/shared/status-message.ts).
import { parseFailure } from "../shared/status-message.ts";

type HandlerState = "succeeded" | "failed" | "transitioning" | "unknown";

export interface HandlerStatus {
  state: HandlerState;
  /** Our handler's code (0 on success, 9–63 on failure) when ARM carries one. */
  code: number | null;
  /** The reason word from our message, e.g. `WorkspaceKeyRejected`. */
  reason?: string;
  message: string;
}

export interface StatusEntry {
  code?: string;
  level?: string;
  displayStatus?: string;
  message?: string;
}

/**
 * Finds our failure format anywhere in a text: ARM wraps the handler's message in its own ("VM has reported a
 * failure when processing extension … Error message: '…'"), and only the inner part is ours.
 */
export function parseHandlerMessage(text: string | undefined): { operation: string; code: number; reason: string; message: string } | undefined {
  const parsed = parseFailure(text);
  if (!parsed || !text) return undefined;
  let message = text.slice(parsed.at).split(/\r?\n/)[0] ?? "";
  // ARM closes its quote and appends a troubleshooting link after the handler's text.
  message = message.replace(/['"]\.?\s+More information on troubleshooting.*$/i, "").replace(/['"]\.?$/, "");
  return { operation: parsed.operation, code: parsed.code, reason: parsed.reason, message };
}

/** `ProvisioningState/failed/53` → 53; `53` → 53 (Arc); anything else → null. */
export function codeFromStatusCode(code: string | undefined): number | null {
  if (!code) return null;
  const match = /^(?:ProvisioningState\/\w+\/)?(-?\d+)$/i.exec(code.trim());
  return match ? Number(match[1]) : null;
}

function stateFromWord(word: string | undefined): HandlerState {
  const w = (word ?? "").toLowerCase();
  if (w.startsWith("succeeded") || w === "success") return "succeeded";
  if (w.startsWith("fail") || w === "error" || w === "canceled") return "failed";
  if (["transitioning", "updating", "creating", "deleting", "accepted", "running", "inprogress"].includes(w)) return "transitioning";
  return "unknown";
}

function firstLine(text: string | undefined): string {
  return (
    (text ?? "")
      .split(/\r?\n/)
      .map((s) => s.trim())
      .find((s) => s !== "") ?? ""
  );
}

function fromEntry(entry: StatusEntry, fallbackState: HandlerState): HandlerStatus {
  const parsed = parseHandlerMessage(entry.message);
  const segments = (entry.code ?? "").split("/");
  let state: HandlerState = segments[0]?.toLowerCase() === "provisioningstate" ? stateFromWord(segments[1]) : "unknown";
  if (state === "unknown" && entry.level?.toLowerCase() === "error") state = "failed";
  if (state === "unknown") state = fallbackState;
  const statusCode = codeFromStatusCode(entry.code);
  const code = statusCode ?? parsed?.code ?? (state === "succeeded" ? 0 : null);
  return {
    state,
    code,
    ...(parsed ? { reason: parsed.reason } : {}),
    message: parsed?.message ?? firstLine(entry.message ?? entry.displayStatus),
  };
}

/**
 * A VM's (or scale-set instance's) extension instance view: `statuses[]` with the ProvisioningState entry
 * carrying our code and message. Falls back to the resource's provisioningState when there is no view yet.
 */
export function fromStatuses(statuses: StatusEntry[] | undefined, provisioningState?: string): HandlerStatus {
  const fallback = stateFromWord(provisioningState);
  const list = statuses ?? [];
  const entry = list.find((s) => s.code?.toLowerCase().startsWith("provisioningstate/")) ?? list[0];
  if (!entry) {
    return {
      state: fallback,
      code: fallback === "succeeded" ? 0 : null,
      message: provisioningState ? `provisioning ${provisioningState.toLowerCase()}, no status reported yet` : "no status reported yet",
    };
  }
  return fromEntry(entry, fallback);
}

/** An Arc machine's extension: `properties.instanceView.status` is a single {code, level, displayStatus, message}. */
export function fromArcStatus(status: StatusEntry | undefined, provisioningState?: string): HandlerStatus {
  const fallback = stateFromWord(provisioningState);
  if (!status) {
    return {
      state: fallback,
      code: fallback === "succeeded" ? 0 : null,
      message: provisioningState ? `provisioning ${provisioningState.toLowerCase()}, no status reported yet` : "no status reported yet",
    };
  }
  // Arc reports the terminal level as Information/Warning/Error; the provisioning state decides success.
  const fromStatus = fromEntry(status, fallback);
  if (fromStatus.state === "unknown" || (fallback === "failed" && fromStatus.state === "succeeded")) fromStatus.state = fallback;
  return fromStatus;
}
