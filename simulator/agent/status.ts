// Reading status/<seq>.status as the agent does (parse_ext_status, collect_ext_status), with its messages for a
// missing, unreadable, malformed, invalid or oversized file.
import { existsSync, readFileSync } from "node:fs";
import { AGENT_CODES } from "./contract.ts";

const STATUS_VALUES = ["transitioning", "warning", "error", "success"];
const MAX_STATUS_FILE_SIZE = 128 * 1024;
const MAX_STATUS_MESSAGE_LENGTH = 1024;
const MAX_SUBSTATUS_FIELD_LENGTH = 10 * 1024;
const TRUNCATED_SUFFIX = " ... [TRUNCATED]";

export interface AgentSubstatus {
  name: unknown;
  status: string;
  code: unknown;
  /** formattedMessage.message as text ("" when absent). */
  message: string;
  /** formattedMessage.message as passed through (null when absent). */
  rawMessage: unknown;
}

/** What the agent reports as the extension-level status (runtimeSettingsStatus.settingsStatus). */
export interface AgentExtensionStatus {
  /** "transitioning" | "success" | "error" | "warning", or null for an empty array / JSON null */
  status: string | null;
  /** Passed through from the file (should be a number; defaults to 0). */
  code: unknown;
  /** formattedMessage.message as text: "" when the file has none (the agent reports null then). */
  message: string;
  /** formattedMessage.message exactly as the agent passes it through (null when absent). */
  rawMessage: unknown;
  operation: unknown;
  configurationAppliedTime: unknown;
  substatus: AgentSubstatus[];
  /** The file's text, when it could be read. */
  raw?: string;
  file: string;
  sequenceNumber: number;
}

class StatusError extends Error {
  constructor(message: string) {
    super(`[ExtensionStatusError] ${message}`);
  }
}

/** str(value) of the json.loads result, as the agent's messages format it. */
function pyRepr(value: unknown, nested = false): string {
  if (value === null || value === undefined) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") {
    if (!nested) return value;
    const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
    return quote + value.replace(/\\/g, "\\\\").replace(new RegExp(quote, "g"), `\\${quote}`).replace(/\n/g, "\\n") + quote;
  }
  if (Array.isArray(value)) return `[${value.map((v) => pyRepr(v, true)).join(", ")}]`;
  return `{${Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => `${pyRepr(k, true)}: ${pyRepr(v, true)}`)
    .join(", ")}}`;
}

function hasKey(obj: unknown, key: string): boolean {
  return typeof obj === "object" && obj !== null && !Array.isArray(obj) && key in obj;
}

function validateHasKey(obj: unknown, key: string, fullKeyPath: string): void {
  if (!hasKey(obj, key)) throw new StatusError(`Invalid status format by extension: Missing ${fullKeyPath} key`);
}

function validateInRange(value: unknown, name: string): void {
  if (typeof value !== "string" || !STATUS_VALUES.includes(value)) {
    throw new StatusError(`Invalid value ${pyRepr(value)} in range ['transitioning', 'warning', 'error', 'success'] at the node ${name}`);
  }
}

function parseFormattedMessage(fm: unknown): unknown {
  if (fm === null || fm === undefined) return null;
  validateHasKey(fm, "lang", "formattedMessage/lang");
  validateHasKey(fm, "message", "formattedMessage/message");
  return (fm as Record<string, unknown>).message;
}

/** Mirrors parse_ext_status, mutating `into` as it goes (so a late failure keeps what was parsed before it). */
function parseExtStatus(into: AgentExtensionStatus, data: unknown): void {
  if (data === null) return;
  if (!Array.isArray(data)) {
    throw new StatusError(`The extension status must be an array: ${pyRepr(data).slice(0, 4096)}`);
  }
  if (data.length === 0) return;
  const first = data[0] as unknown;
  validateHasKey(first, "status", "status");
  const statusData = (first as Record<string, unknown>).status;
  validateHasKey(statusData, "status", "status/status");
  const s = statusData as Record<string, unknown>;
  let status = s.status;
  if (typeof status !== "string" || !STATUS_VALUES.includes(status)) status = "error"; // case-sensitive
  into.configurationAppliedTime = s.configurationAppliedTime ?? null;
  into.operation = s.operation ?? null;
  into.status = status as string;
  into.code = "code" in s ? s.code : 0;
  into.rawMessage = parseFormattedMessage(s.formattedMessage);
  into.message = messageText(into.rawMessage);
  const list = "substatus" in s ? s.substatus : [];
  if (list === null) return;
  if (!Array.isArray(list)) throw new StatusError(`substatus must be a list: ${pyRepr(list)}`);
  for (const item of list as unknown[]) {
    if (item === null) continue;
    validateHasKey(item, "status", "substatus/status");
    const sub = item as Record<string, unknown>;
    validateInRange(sub.status, "substatus/status");
    const rawMessage = parseFormattedMessage(sub.formattedMessage);
    into.substatus.push({
      name: sub.name ?? null,
      status: sub.status as string,
      code: "code" in sub ? sub.code : 0,
      message: messageText(rawMessage),
      rawMessage,
    });
  }
}

function messageText(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : pyRepr(value);
}

function truncateField(field: unknown, size: number): [unknown, number] {
  if (typeof field !== "string") return [field, 0];
  const chars = Array.from(field);
  const truncated = chars.length < size ? field : chars.slice(0, size).join("") + TRUNCATED_SUFFIX;
  return [truncated, Array.from(truncated).length];
}

/** What the agent reports at the extension level for the status file `file` of sequence `seqText`. */
export function readStatusFile(file: string, handlerName: string, version: string, seqText: string): AgentExtensionStatus {
  const seqNo = Number.parseInt(seqText, 10);
  const result: AgentExtensionStatus = {
    status: null,
    code: null,
    message: "",
    rawMessage: null,
    operation: null,
    configurationAppliedTime: null,
    substatus: [],
    file,
    sequenceNumber: seqNo,
  };
  const fullName = `${handlerName}-${version}`;
  if (!existsSync(file)) {
    result.status = "transitioning";
    result.code = 0;
    result.rawMessage = result.message =
      `This status is being reported by the Guest Agent since no status file was reported by extension ${handlerName}: ` +
      `[ExtensionStatusError] Status file ${file} does not exist`;
    return result;
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    result.status = "error";
    result.code = AGENT_CODES.unknown;
    result.rawMessage =
      result.message = `We couldn't read any status for ${fullName} extension, for the sequence number ${seqNo}. It failed due to [ExtensionStatusError] ${(e as Error).message}`;
    return result;
  }
  result.raw = text;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    result.status = "error";
    result.code = AGENT_CODES.statusInvalid;
    result.rawMessage = result.message =
      `The status reported by the extension ${fullName}(Sequence number ${seqNo}), was in an incorrect format and the agent could not parse it correctly. ` +
      `Failed due to [ExtensionStatusError] ${(e as Error).message} \n First 2000 Bytes of status file:\n ${Array.from(text).slice(0, 2000).join("")}`;
    return result;
  }
  try {
    parseExtStatus(result, data);
    if (Array.from(text).length > MAX_STATUS_FILE_SIZE) {
      // MaxSizeExceeded: still reported, with the message and substatus cut down
      let size: number;
      [result.rawMessage, size] = truncateField(result.rawMessage, MAX_STATUS_MESSAGE_LENGTH);
      result.message = messageText(result.rawMessage);
      const kept: AgentSubstatus[] = [];
      for (const sub of result.substatus) {
        let n: number;
        [sub.name, n] = truncateField(sub.name, MAX_SUBSTATUS_FIELD_LENGTH);
        size += n;
        [sub.rawMessage, n] = truncateField(sub.rawMessage, MAX_SUBSTATUS_FIELD_LENGTH);
        sub.message = messageText(sub.rawMessage);
        size += n;
        if (size <= MAX_STATUS_FILE_SIZE) kept.push(sub);
        else break;
      }
      result.substatus = kept;
    }
  } catch (e) {
    if (!(e instanceof StatusError)) throw e;
    result.rawMessage = result.message = `Could not get a valid status from the extension ${fullName}. Encountered the following error: ${e.message}`;
    result.code = AGENT_CODES.statusInvalid;
    result.status = "error";
  }
  return result;
}
