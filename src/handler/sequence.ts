// The sequence number names the settings file we read and the status file we write.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ProcessEnvironment } from "./process-env.ts";
import { sha256Hex } from "./sha256.ts";

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

export function settingsPath(configFolder: string, seq: number): string {
  return join(configFolder, `${seq}.settings`);
}

/** Hash of the settings file as the guest agent wrote it: lets enable recognise a re-run without decrypting. */
export function settingsFileHash(configFolder: string, seq: number): string | undefined {
  try {
    return sha256Hex(readFileSync(settingsPath(configFolder, seq)));
  } catch {
    return undefined;
  }
}
