// Settings validation shared by the on-machine handler and the fleet CLI: one set of JSON Schemas
// (schemas/), compiled once, every violation reported at once.
import type { ErrorObject, ValidateFunction } from "ajv";
import publicSchema from "../../schemas/public-settings.schema.json" with { type: "json" };
import { validateProtected, validatePublic } from "./settings-validators.ts";

export interface PublicSettings {
  workspaceId: string;
  skipDockerProviderInstall: boolean;
  stopOnMultipleConnections: boolean;
}

export interface ProtectedSettings {
  workspaceKey: string;
  proxy?: string;
  vmResourceId?: string;
  domain?: string;
}

export interface SettingsProblem {
  /** Where the problem is, e.g. `settings.workspaceId` or `protectedSettings`. */
  field: string;
  message: string;
}

export type Checked<T> = { ok: true; value: T; warnings: string[] } | { ok: false; problems: SettingsProblem[] };

const knownPublicKeys = new Set(Object.keys(publicSchema.properties));

/** Public keys real templates send that the handler knowingly ignores (not worth a warning each time). */
const toleratedPublicKeys = new Set(["azureResourceId", "noDigest", "enableAutomaticManagement"]);

const BOOLEAN_SETTINGS = ["skipDockerProviderInstall", "stopOnMultipleConnections"] as const;

/** Portals and PowerShell send booleans as strings; the schema accepts "true"/"false" in any case. */
function toBoolean(value: unknown): boolean {
  return value === true || (typeof value === "string" && value.toLowerCase() === "true");
}

function describe(section: string, error: ErrorObject): SettingsProblem {
  const path = error.instancePath
    .split("/")
    .filter(Boolean)
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (error.keyword === "required") path.push(String(error.params.missingProperty));
  if (error.keyword === "additionalProperties") path.push(String(error.params.additionalProperty));
  const field = [section, ...path].join(".");
  return { field, message: explain(path[path.length - 1], error) };
}

function explain(key: string | undefined, error: ErrorObject): string {
  switch (error.keyword) {
    case "required":
      return "is required";
    case "additionalProperties":
      return "is not a known protected setting (allowed: workspaceKey, proxy, vmResourceId, domain)";
    case "type":
      if (key && (BOOLEAN_SETTINGS as readonly string[]).includes(key)) return 'must be true or false (or the string "true"/"false")';
      return `must be of type ${String(error.params.type).replace(",", " or ")}`;
    case "minLength":
    case "pattern":
      return patternHint[key ?? ""] ?? "has an invalid format";
    default:
      return error.message ?? "is invalid";
  }
}

const patternHint: Record<string, string> = {
  workspaceId: "must be a workspace ID (GUID such as 00000000-0000-0000-0000-000000000000)",
  workspaceKey: "must be the workspace key in padded base64 (copy it from the workspace's Agents page)",
  proxy:
    "must look like [http|https://][user:password@]host[:port] with a port from 1 to 65535 and no backslash, '*', '?' or '[' (omsadmin.sh writes the proxy with an unquoted echo that would alter them)",
  vmResourceId: "must be the ARM ID of a VM, scale-set VM or Arc machine (/subscriptions/<id>/resourceGroups/<rg>/providers/..., any letter case)",
  domain: "must be a DNS domain such as opinsights.azure.com",
  skipDockerProviderInstall: 'must be true or false (or the string "true"/"false")',
  stopOnMultipleConnections: 'must be true or false (or the string "true"/"false")',
};

function run(section: string, validate: ValidateFunction, value: unknown): SettingsProblem[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return [{ field: section, message: "must be a JSON object" }];
  }
  if (validate(value)) return [];
  // minLength and pattern can both fire for one field with the same hint: report it once.
  const unique = new Map<string, SettingsProblem>();
  for (const error of validate.errors ?? []) {
    const problem = describe(section, error);
    unique.set(`${problem.field}\0${problem.message}`, problem);
  }
  return [...unique.values()];
}

export function checkPublicSettings(value: unknown): Checked<PublicSettings> {
  const problems = run("settings", validatePublic, value);
  if (problems.length > 0) return { ok: false, problems };
  const raw = value as Record<string, unknown>;
  const warnings = Object.keys(raw)
    .filter((k) => !knownPublicKeys.has(k) && !toleratedPublicKeys.has(k))
    .map((k) => `unknown public setting "${k}" ignored`);
  return {
    ok: true,
    warnings,
    value: {
      workspaceId: String(raw.workspaceId).toLowerCase(),
      skipDockerProviderInstall: toBoolean(raw.skipDockerProviderInstall),
      stopOnMultipleConnections: toBoolean(raw.stopOnMultipleConnections),
    },
  };
}

export function checkProtectedSettings(value: unknown): Checked<ProtectedSettings> {
  const problems = run("protectedSettings", validateProtected, value);
  if (problems.length > 0) return { ok: false, problems };
  const raw = value as Record<string, string | undefined>;
  const out: ProtectedSettings = { workspaceKey: raw.workspaceKey as string };
  for (const key of ["proxy", "vmResourceId", "domain"] as const) {
    if (raw[key] !== undefined && raw[key] !== "") out[key] = raw[key];
  }
  return { ok: true, value: out, warnings: [] };
}

/** One line naming every problem, e.g. for a status message or a CLI error. */
export function formatProblems(problems: SettingsProblem[]): string {
  return problems.map((p) => `${p.field} ${p.message}`).join("; ");
}
