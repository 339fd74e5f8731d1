// config/<seq>.settings → decrypted, validated, normalised settings. Every problem is error 11 with a
// message naming the file, field or certificate; nothing secret ever goes into that message.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { ProtectedSettings, PublicSettings, SettingsProblem } from "../shared/settings-schema.ts";
import type { Deadline } from "./deadline.ts";
import { ExtensionError } from "./errors.ts";
import type { Logger } from "./log-line.ts";
import type { ChildEnvironment } from "./process-env.ts";
import { runChild } from "./process.ts";
import { registerProxySecrets, registerSecret } from "./secrets.ts";
import { settingsPath } from "./sequence.ts";
import { sha256Hex } from "./sha256.ts";

export interface Settings {
  public: PublicSettings;
  /** Absent when the operation does not need the protected settings (install, update, uninstall). */
  protected?: ProtectedSettings;
  warnings: string[];
  /** Hash of the effective settings, to recognise an enable that was already applied. */
  hash: string;
}

/** What the settings file holds before validation. */
interface RawHandlerSettings {
  publicSettings: unknown;
  protectedSettings: unknown;
  thumbprint: unknown;
}

const FIX_SETTINGS = "correct the extension settings (see the settings reference in the README) and redeploy the extension";

function invalid(problem: string, action = FIX_SETTINGS, cause?: unknown): ExtensionError {
  return new ExtensionError("InvalidConfiguration", problem, action, { cause });
}

/** null means "no settings": the file is absent or empty (the agent writes an empty 0.settings then). */
function readHandlerSettings(path: string): RawHandlerSettings | null {
  if (!existsSync(path)) return null;
  const text = readFileSync(path, "utf8").replace(/^\uFEFF/, "");
  if (text.trim() === "") return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw invalid(`the settings file ${path} is not valid JSON (${(error as Error).message})`);
  }
  const runtime = (parsed as { runtimeSettings?: unknown })?.runtimeSettings;
  // The guest agent writes exactly one entry; with several we could not know which one the user meant.
  if (Array.isArray(runtime) && runtime.length > 1) {
    throw invalid(`the settings file ${path} has ${runtime.length} runtimeSettings entries; the guest agent writes exactly one`);
  }
  const handlerSettings = Array.isArray(runtime)
    ? ((runtime[0] as { handlerSettings?: unknown } | undefined)?.handlerSettings as Record<string, unknown> | undefined)
    : undefined;
  if (!handlerSettings || typeof handlerSettings !== "object") {
    throw invalid(`the settings file ${path} has no runtimeSettings[0].handlerSettings`);
  }
  let publicSettings = handlerSettings.publicSettings ?? null;
  if (typeof publicSettings === "string") {
    // FastTrack goal states carry public settings as a JSON string.
    try {
      publicSettings = publicSettings.trim() === "" ? null : JSON.parse(publicSettings);
    } catch {
      throw invalid(`publicSettings in ${path} is a string that is not valid JSON`);
    }
  }
  return {
    publicSettings,
    protectedSettings: handlerSettings.protectedSettings ?? null,
    thumbprint: handlerSettings.protectedSettingsCertThumbprint ?? null,
  };
}

export interface DecryptContext {
  libDir: string;
  waagentLib: string;
  /** What openssl starts from (process-env.ts). */
  childEnv: ChildEnvironment;
  deadline: Deadline;
  log: Logger;
}

function certificateFor(thumbprint: string, dirs: string[]): { crt: string; prv: string } {
  for (const dir of dirs) {
    const crt = join(dir, `${thumbprint}.crt`);
    const prv = join(dir, `${thumbprint}.prv`);
    if (existsSync(crt) && existsSync(prv)) return { crt, prv };
  }
  throw invalid(
    `the certificate ${thumbprint} that protects the settings was not found (looked for ${thumbprint}.crt and ${thumbprint}.prv in ${[...new Set(dirs)].join(" and ")})`,
    "redeploy the extension so the guest agent fetches the current certificate; if it persists, restart the guest agent (waagent or himdsd)",
  );
}

/** base64 DER CMS → JSON object, with `openssl cms` (FIPS-friendly), falling back to `openssl smime`. */
async function decryptProtectedSettings(blob: string, thumbprint: string, context: DecryptContext): Promise<unknown> {
  if (!/^[0-9A-Fa-f]{40}$/.test(thumbprint)) {
    throw invalid(`protectedSettingsCertThumbprint "${thumbprint}" is not a SHA-1 thumbprint`);
  }
  const compact = blob.replace(/\s+/g, "");
  if (compact === "" || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw invalid(`protectedSettings is not valid base64, so it cannot be decrypted with certificate ${thumbprint}`);
  }
  registerSecret(compact);
  const { crt, prv } = certificateFor(thumbprint.toUpperCase(), [context.libDir, context.waagentLib]);
  const der = Buffer.from(compact, "base64");
  let lastError = "";
  for (const command of ["cms", "smime"]) {
    const result = await runChild(
      {
        label: `openssl ${command}`,
        file: "openssl",
        args: [command, "-decrypt", "-inform", "DER", "-recip", crt, "-inkey", prv],
        input: der,
        quiet: true,
        timeoutMs: 30_000,
        childEnv: context.childEnv,
      },
      context.deadline,
      context.log,
    );
    if (result.exitCode === 0 && result.stdout.trim() !== "") {
      const plaintext = result.stdout;
      registerSecret(plaintext.trim());
      context.log.info(`decrypted protected settings with openssl ${command}`);
      try {
        return JSON.parse(plaintext);
      } catch {
        throw invalid(`the decrypted protected settings are not valid JSON (content not shown: it is secret)`);
      }
    }
    // openssl's stderr names the failure (e.g. "no recipient matches certificate"). Its stdout is never quoted:
    // on a corrupted blob openssl may already have written part of the plaintext there before failing.
    lastError =
      result.stderr
        .split("\n")
        .find((line) => line.trim() !== "")
        ?.trim() ?? `exit code ${result.exitCode}`;
    if (result.exitCode === 127) lastError = "openssl is not installed";
  }
  throw invalid(
    `the protected settings could not be decrypted with certificate ${thumbprint} (${lastError})`,
    "make sure the settings were encrypted for this machine's current certificate: redeploy the extension from Azure so they are re-encrypted",
  );
}

export interface LoadOptions {
  /** enable needs the workspace key; other operations only need public settings. */
  needProtected: boolean;
}

function hashOf(publicSettings: PublicSettings, protectedSettings: ProtectedSettings | undefined): string {
  const canonical = JSON.stringify([publicSettings, protectedSettings ?? null]);
  return sha256Hex(canonical);
}

/**
 * Loads the settings for this sequence number. Returns null when there are none (allowed for every
 * operation but enable); throws 11 listing every problem at once otherwise.
 */
export async function loadSettings(configFolder: string, seq: number, options: LoadOptions, context: DecryptContext): Promise<Settings | null> {
  const path = settingsPath(configFolder, seq);
  const raw = readHandlerSettings(path);
  if (raw === null) {
    if (options.needProtected) {
      throw invalid(
        `there are no settings for sequence number ${seq} (${path} is missing or empty)`,
        'deploy the extension with settings {"workspaceId": ...} and protected settings {"workspaceKey": ...}',
      );
    }
    return null;
  }

  // ajv is loaded only when settings are actually validated: a run with nothing to do never gets here.
  const { checkProtectedSettings, checkPublicSettings, formatProblems } = await import("../shared/settings-schema.ts");
  const problems: SettingsProblem[] = [];
  const warnings: string[] = [];
  let publicSettings: PublicSettings | undefined;
  if (raw.publicSettings === null) {
    problems.push({ field: "settings", message: "are missing (they must contain workspaceId)" });
  } else {
    const checked = checkPublicSettings(raw.publicSettings);
    if (checked.ok) {
      publicSettings = checked.value;
      warnings.push(...checked.warnings);
    } else problems.push(...checked.problems);
  }

  let protectedSettings: ProtectedSettings | undefined;
  if (options.needProtected) {
    if (raw.protectedSettings === null || raw.protectedSettings === "") {
      problems.push({ field: "protectedSettings", message: "are missing (they must contain workspaceKey)" });
    } else if (typeof raw.protectedSettings !== "string") {
      problems.push({ field: "protectedSettings", message: "must be the encrypted base64 blob the guest agent writes" });
    } else if (typeof raw.thumbprint !== "string" || raw.thumbprint === "") {
      problems.push({ field: "protectedSettingsCertThumbprint", message: "is missing, so the protected settings cannot be decrypted" });
    } else {
      const decrypted = await decryptProtectedSettings(raw.protectedSettings, raw.thumbprint, context);
      const checked = checkProtectedSettings(decrypted);
      if (checked.ok) {
        protectedSettings = checked.value;
        registerSecret(protectedSettings.workspaceKey);
        registerProxySecrets(protectedSettings.proxy);
      } else {
        // Register what we can before anything is logged, even though validation failed.
        const candidate = decrypted as Record<string, unknown> | null;
        if (candidate && typeof candidate.workspaceKey === "string") registerSecret(candidate.workspaceKey);
        if (candidate && typeof candidate.proxy === "string") registerProxySecrets(candidate.proxy);
        problems.push(...checked.problems);
      }
    }
  }

  if (problems.length > 0 || !publicSettings) {
    throw invalid(`the settings for sequence number ${seq} are invalid: ${formatProblems(problems)}`);
  }
  return { public: publicSettings, protected: protectedSettings, warnings, hash: hashOf(publicSettings, protectedSettings) };
}
