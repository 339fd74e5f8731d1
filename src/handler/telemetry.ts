// One event per operation for the guest agent's extension telemetry pipeline: a JSON file
// named <digits>.json in eventsFolder, built elsewhere and renamed in because the agent collects and
// deletes everything in that folder, half-written files included.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { redact } from "./secrets.ts";

export interface TelemetryInput {
  eventsFolder: string;
  name: string;
  version: string;
  operation: string;
  success: boolean;
  durationMs: number;
  message: string;
  operationId: string;
  now?: Date;
}

const MAX_MESSAGE = 3072;

function telemetryEvent(input: TelemetryInput): Record<string, string> {
  const message = redact(
    JSON.stringify({
      name: input.name,
      version: input.version,
      operation: input.operation,
      success: input.success,
      durationMs: input.durationMs,
      message: input.message,
    }),
  );
  return {
    Version: input.version,
    Timestamp: (input.now ?? new Date()).toISOString(),
    TaskName: input.operation,
    EventLevel: input.success ? "Informational" : "Error",
    Message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message,
    EventPid: String(process.pid),
    EventTid: "1",
    OperationId: input.operationId,
  };
}

export function writeTelemetryEvent(input: TelemetryInput): string {
  mkdirSync(input.eventsFolder, { recursive: true, mode: 0o700 });
  // Fixed-width nanosecond names sort in time order, which is how the agent picks the newest.
  const name = `${process.hrtime.bigint().toString().padStart(20, "0")}${String(process.pid).padStart(7, "0")}`.slice(-20);
  const staging = join(input.eventsFolder, "..", `.${name}.json.tmp`);
  writeFileSync(staging, JSON.stringify([telemetryEvent(input)]));
  const target = join(input.eventsFolder, `${Date.now()}${name.slice(-9)}.json`);
  renameSync(staging, target);
  return target;
}
