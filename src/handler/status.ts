// status/<seq>.status, the file the guest agent turns into the portal's extension status (README: "Where status and logs go").
// Only the four status values the agent accepts, a numeric code, a message the portal can show in full
// (≤ 1 KB), and every write atomic and durable (temp file + fsync + rename) so the agent never reads half a file, even
// after a crash.
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { redact } from "./secrets.ts";
import { writeFileDurably } from "./state.ts";

type StatusValue = "transitioning" | "success" | "error" | "warning";

export interface SubStatus {
  name: string;
  status: StatusValue;
  code: number;
  message: string;
}

export interface StatusReport {
  operation: string;
  status: StatusValue;
  code: number;
  message: string;
  substatus?: SubStatus[];
}

export const MAX_MESSAGE_BYTES = 1024;
const MAX_SUBSTATUS_BYTES = 8 * 1024;

/** Cuts to `maxBytes` of UTF-8 without splitting a character, marking the cut. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const marker = "…";
  let cut = text.slice(0, maxBytes);
  while (Buffer.byteLength(cut + marker) > maxBytes) cut = cut.slice(0, -1);
  return cut + marker;
}

function statusPath(statusFolder: string, seq: number): string {
  return join(statusFolder, `${seq}.status`);
}

export function renderStatus(name: string, report: StatusReport, now: Date = new Date()): string {
  const formatted = (message: string, max: number) => ({ lang: "en-US", message: truncateUtf8(redact(message), max) });
  const document = [
    {
      version: "1.0",
      timestampUTC: now.toISOString().replace(/\.\d{3}Z$/, "Z"),
      status: {
        name,
        operation: report.operation,
        status: report.status,
        code: report.code,
        formattedMessage: formatted(report.message, MAX_MESSAGE_BYTES),
        ...(report.substatus && report.substatus.length > 0
          ? {
              substatus: report.substatus.map((entry) => ({
                name: entry.name,
                status: entry.status,
                code: entry.code,
                formattedMessage: formatted(entry.message, MAX_SUBSTATUS_BYTES),
              })),
            }
          : {}),
      },
    },
  ];
  return JSON.stringify(document);
}

export function writeStatus(statusFolder: string, seq: number, name: string, report: StatusReport): string {
  mkdirSync(statusFolder, { recursive: true });
  const path = statusPath(statusFolder, seq);
  writeFileDurably(path, renderStatus(name, report), 0o644);
  return path;
}

/**
 * True when `<seq>.status` holds a successful `operation` as this handler writes it. A crash, a full disk
 * or a hand edit can leave it empty or broken; the portal then shows nothing useful, so such a sequence
 * is never treated as already done.
 */
export function hasSucceeded(statusFolder: string, seq: number, operation: string): boolean {
  try {
    const [entry] = JSON.parse(readFileSync(statusPath(statusFolder, seq), "utf8")) as Array<{
      status?: { operation?: unknown; status?: unknown; code?: unknown };
    }>;
    return entry?.status?.operation === operation && entry.status.status === "success" && entry.status.code === 0;
  } catch {
    return false;
  }
}
