// The sequence number names the settings file we read and the status file we write.
import { readdirSync } from "node:fs";
import type { ProcessEnvironment } from "./process-env.ts";

const SETTINGS_FILE = /^(\d+)\.settings$/;

/** `ConfigSequenceNumber` when the agent sets it, else the highest N among `<configFolder>/N.settings`, else 0. */
export function currentSequence(configFolder: string, processEnv: Pick<ProcessEnvironment, "configSequenceNumber">): number {
  if (processEnv.configSequenceNumber !== undefined) return processEnv.configSequenceNumber;
  let highest = -1;
  let entries: string[] = [];
  try {
    entries = readdirSync(configFolder);
  } catch {
    // No config folder yet: nothing to read.
  }
  for (const entry of entries) {
    const match = SETTINGS_FILE.exec(entry);
    if (match) highest = Math.max(highest, Number(match[1]));
  }
  return Math.max(highest, 0);
}
