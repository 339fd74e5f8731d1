// The sequence number names the settings file we read and the status file we write.
import { readdirSync } from "node:fs";

const SETTINGS_FILE = /^(\d+)\.settings$/;

/** `ConfigSequenceNumber` when the agent sets it, else the highest N among `<configFolder>/N.settings`, else 0. */
export function currentSequence(configFolder: string, processEnv: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = processEnv.ConfigSequenceNumber?.trim();
  if (fromEnv && /^\d+$/.test(fromEnv)) return Number(fromEnv);
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
