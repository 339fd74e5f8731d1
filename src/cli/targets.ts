// Which machines to act on: ARM resource ids from the command line and from files, parsed strictly and
// de-duplicated, because a typo should stop the rollout before the first call, not fail one machine in 500.
import { readFile } from "node:fs/promises";

export type TargetKind = "vm" | "vmss" | "arc";

export interface Target {
  /** The id as the user wrote it (first spelling wins when de-duplicating). */
  id: string;
  /** Case-insensitive identity: ARM ids are case-insensitive. */
  key: string;
  kind: TargetKind;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  /** Short display name, e.g. `rg/vm1` or `rg/web (vmss)`; unique within one run. */
  label: string;
}

const PROVIDERS: Record<string, TargetKind> = {
  "microsoft.compute/virtualmachines": "vm",
  "microsoft.compute/virtualmachinescalesets": "vmss",
  "microsoft.hybridcompute/machines": "arc",
};

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ID_SHAPE =
  "/subscriptions/<guid>/resourceGroups/<rg>/providers/{Microsoft.Compute/virtualMachines|Microsoft.Compute/virtualMachineScaleSets|Microsoft.HybridCompute/machines}/<name>";

export type Parsed = { ok: true; target: Omit<Target, "label"> } | { ok: false; message: string };

export function parseTargetId(raw: string): Parsed {
  const id = raw.trim().replace(/\/+$/, "");
  const parts = id.split("/");
  // ["", "subscriptions", sub, "resourceGroups", rg, "providers", ns, type, name, ...rest]
  if (
    parts.length < 9 ||
    parts[0] !== "" ||
    parts[1]?.toLowerCase() !== "subscriptions" ||
    parts[3]?.toLowerCase() !== "resourcegroups" ||
    parts[5]?.toLowerCase() !== "providers"
  ) {
    return { ok: false, message: `"${id}" is not an ARM resource id; expected ${ID_SHAPE}` };
  }
  const [, , subscriptionId = "", , resourceGroup = "", , namespace = "", type = "", name = "", ...rest] = parts;
  const kind = PROVIDERS[`${namespace}/${type}`.toLowerCase()];
  if (!kind) {
    return {
      ok: false,
      message: `"${id}" is a ${namespace}/${type}; OmsAgentForLinux targets are virtual machines, scale sets and Arc machines (${ID_SHAPE})`,
    };
  }
  if (kind === "vmss" && rest[0]?.toLowerCase() === "virtualmachines") {
    return {
      ok: false,
      message: `"${id}" is a scale-set instance; the extension is set on the scale set's model, so give the scale set id (drop "/virtualMachines/${rest[1] ?? ""}")`,
    };
  }
  if (rest[0]?.toLowerCase() === "extensions") {
    return { ok: false, message: `"${id}" is an extension id; give the machine's id (drop "/extensions/${rest[1] ?? ""}") and the extension name with --name` };
  }
  if (rest.length > 0) return { ok: false, message: `"${id}" has extra path segments after the machine name; expected ${ID_SHAPE}` };
  if (!GUID.test(subscriptionId)) return { ok: false, message: `"${id}": subscription "${subscriptionId}" is not a GUID` };
  if (!resourceGroup || !name) return { ok: false, message: `"${id}": resource group and machine name must not be empty` };
  return { ok: true, target: { id, key: id.toLowerCase(), kind, subscriptionId, resourceGroup, name } };
}

export interface TargetSource {
  value: string;
  /** Where it came from, for error messages: `argument 2`, `hosts.txt:14`. */
  where: string;
}

/**
 * A targets file: a JSON array (of ids, or of objects with an `id` such as `az vm list -o json` prints), or
 * one id per line with blank lines and `#` comments ignored (as `az vm list --query "[].id" -o tsv` prints).
 */
export function parseTargetsFile(text: string, file: string): { sources: TargetSource[]; problems: string[] } {
  const trimmed = text.replace(/^\uFEFF/, "").trim();
  if (trimmed.startsWith("[")) {
    let data: unknown;
    try {
      data = JSON.parse(trimmed);
    } catch (e) {
      return { sources: [], problems: [`${file}: looks like a JSON array but does not parse (${(e as Error).message}); fix the JSON or use one id per line`] };
    }
    if (!Array.isArray(data)) return { sources: [], problems: [`${file}: expected a JSON array of resource ids`] };
    const sources: TargetSource[] = [];
    const problems: string[] = [];
    data.forEach((item, index) => {
      const where = `${file}[${index}]`;
      const id = typeof item === "string" ? item : (item as { id?: unknown } | null)?.id;
      if (typeof id === "string") sources.push({ value: id, where });
      else problems.push(`${where}: expected a resource id string or an object with an "id" string`);
    });
    return { sources, problems };
  }
  const sources: TargetSource[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const value = line.replace(/#.*$/, "").trim();
    if (value) sources.push({ value, where: `${file}:${index + 1}` });
  });
  return { sources, problems: [] };
}

export interface TargetList {
  targets: Target[];
  /** Ids dropped because they name a machine already in the list (compared case-insensitively). */
  duplicates: TargetSource[];
  problems: string[];
}

export function buildTargetList(sources: TargetSource[]): TargetList {
  const byKey = new Map<string, Omit<Target, "label">>();
  const duplicates: TargetSource[] = [];
  const problems: string[] = [];
  for (const source of sources) {
    const parsed = parseTargetId(source.value);
    if (!parsed.ok) {
      problems.push(`${source.where}: ${parsed.message}`);
    } else if (byKey.has(parsed.target.key)) {
      duplicates.push(source);
    } else {
      byKey.set(parsed.target.key, parsed.target);
    }
  }
  return { targets: label([...byKey.values()]), duplicates, problems };
}

export async function loadTargetSources(args: string[], files: string[]): Promise<{ sources: TargetSource[]; problems: string[] }> {
  const sources: TargetSource[] = args.map((value, index) => ({ value, where: `argument ${index + 1}` }));
  const problems: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      problems.push(`cannot read targets file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    const parsed = parseTargetsFile(text, file);
    sources.push(...parsed.sources);
    problems.push(...parsed.problems);
  }
  return { sources, problems };
}

/** `rg/name`, with the kind for non-VMs; machines that would still look alike get their subscription prefix. */
function label(targets: Omit<Target, "label">[]): Target[] {
  const short = (t: Omit<Target, "label">): string => `${t.resourceGroup}/${t.name}${t.kind === "vm" ? "" : ` (${t.kind})`}`;
  const counts = new Map<string, number>();
  for (const t of targets) counts.set(short(t).toLowerCase(), (counts.get(short(t).toLowerCase()) ?? 0) + 1);
  return targets.map((t) => ({
    ...t,
    label: (counts.get(short(t).toLowerCase()) ?? 0) > 1 ? `${t.subscriptionId.slice(0, 8)}/${short(t)}` : short(t),
  }));
}
