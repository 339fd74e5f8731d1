// Reading --settings / --protected-settings and checking them against schemas/ (through src/shared, the same
// code the handler runs), so a fleet rollout never sends settings the handler would reject with code 11.
import { readFile } from "node:fs/promises";
import { checkProtectedSettings, checkPublicSettings, type SettingsProblem } from "../shared/settings-schema.ts";

export type SettingsKind = "settings" | "protected settings";

export type JsonInput = { ok: true; value: unknown; source: string; inline: boolean } | { ok: false; message: string };

/**
 * Like `az ... --settings`: inline JSON, `@path`, a plain path, or `-` for stdin. Protected settings must not
 * leak through a parse error, so for them only the position is reported, never the parser's quote of the text.
 */
export async function readJsonInput(arg: string, kind: SettingsKind, readStdin: () => Promise<string>): Promise<JsonInput> {
  const secret = kind === "protected settings";
  let text: string;
  let source: string;
  let inline = false;
  const trimmed = arg.trim();
  if (trimmed === "-") {
    source = "stdin";
    text = await readStdin();
  } else if (trimmed.startsWith("{") || trimmed.startsWith("[") || trimmed === "") {
    source = "the command line";
    text = arg;
    inline = true;
  } else {
    const path = trimmed.startsWith("@") ? trimmed.slice(1) : trimmed;
    source = path;
    try {
      text = await readFile(path, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === "ENOENT" ? "no such file" : (code ?? (e as Error).message);
      return { ok: false, message: `cannot read ${kind} from ${path}: ${why}; pass a JSON file, @file, inline JSON, or - for stdin` };
    }
  }
  text = text.replace(/^\uFEFF/, "");
  if (text.trim() === "") return { ok: false, message: `${kind} from ${source} are empty; expected a JSON object` };
  try {
    return { ok: true, value: JSON.parse(text), source, inline };
  } catch (e) {
    const detail = secret ? positionOf(e as Error) : (e as Error).message;
    return { ok: false, message: `${kind} from ${source} are not valid JSON (${detail}); check quoting, commas and braces` };
  }
}

function positionOf(error: Error): string {
  const match = /position (\d+)/.exec(error.message);
  return match ? `syntax error at character ${match[1]}` : "syntax error";
}

export interface SettingsCheck {
  problems: SettingsProblem[];
  warnings: string[];
}

/** Every violation in both documents at once, each naming its field (the message never quotes a value). */
export function checkSettings(publicValue: unknown | undefined, protectedValue: unknown | undefined): SettingsCheck {
  const problems: SettingsProblem[] = [];
  const warnings: string[] = [];
  if (publicValue !== undefined) {
    const checked = checkPublicSettings(publicValue);
    if (checked.ok) warnings.push(...checked.warnings);
    else problems.push(...checked.problems);
  }
  if (protectedValue !== undefined) {
    const checked = checkProtectedSettings(protectedValue);
    if (checked.ok) warnings.push(...checked.warnings);
    else problems.push(...checked.problems);
  }
  return { problems, warnings };
}

/**
 * vmResourceId tells the handler which machine it is; one value shared by a fleet would make every machine
 * report as that one (the handler reads the right id from the metadata service when it is absent).
 */
export function fleetSettingsProblems(protectedValue: unknown, targetCount: number): SettingsProblem[] {
  const id = (protectedValue as { vmResourceId?: unknown } | null)?.vmResourceId;
  if (targetCount > 1 && typeof id === "string" && id !== "") {
    return [
      {
        field: "protectedSettings.vmResourceId",
        message: `names a single machine but ${targetCount} targets were given; remove it (the handler reads each machine's id from the metadata service)`,
      },
    ];
  }
  return [];
}
