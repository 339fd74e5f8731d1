// Targets from Azure Resource Graph: every VM, scale set and Arc machine matching subscription, resource group
// and tag filters, in one paged query instead of an `az vm list` per subscription. The operating system comes
// back with each machine so non-Linux ones can be listed as skipped instead of failing one PUT at a time.
import type { ResourceGraphClient } from "@azure/arm-resourcegraph";
import type { TargetKind } from "./targets.ts";

export interface GraphSelection {
  /** Empty: every subscription the caller can read (Resource Graph's own default). */
  subscriptions: string[];
  resourceGroups: string[];
  /** `key=value` (value compared ignoring case) or `key` alone (the tag is present). */
  tags: { key: string; value?: string }[];
  kinds: TargetKind[];
}

export interface GraphMachine {
  id: string;
  kind: TargetKind;
  location?: string;
  /** As Resource Graph reports it: `Linux`/`Windows` for VMs and scale sets, `linux`/`windows` for Arc. */
  osType?: string;
}

const GRAPH_TYPES: Record<TargetKind, string> = {
  vm: "microsoft.compute/virtualmachines",
  vmss: "microsoft.compute/virtualmachinescalesets",
  arc: "microsoft.hybridcompute/machines",
};

/** Resource Graph's maximum page size. */
const GRAPH_PAGE_SIZE = 1000;

/** A KQL string literal: single quotes, with backslash and quote escaped. */
export function kqlString(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

export function graphQuery(selection: GraphSelection): string {
  const lines = ["resources", `| where type in~ (${selection.kinds.map((k) => kqlString(GRAPH_TYPES[k])).join(", ")})`];
  if (selection.resourceGroups.length > 0) lines.push(`| where resourceGroup in~ (${selection.resourceGroups.map(kqlString).join(", ")})`);
  if (selection.tags.length > 0) {
    // ARM treats tag names as case-insensitive but KQL's property access is not: compare a lower-cased copy.
    lines.push("| extend tagsLower = parse_json(tolower(tostring(tags)))");
  }
  for (const tag of selection.tags) {
    const key = kqlString(tag.key.toLowerCase());
    lines.push(tag.value === undefined ? `| where isnotempty(tagsLower[${key}])` : `| where tagsLower[${key}] == ${kqlString(tag.value.toLowerCase())}`);
  }
  // Each type keeps its OS in a different place.
  lines.push(
    "| extend osType = tostring(coalesce(properties.storageProfile.osDisk.osType, properties.virtualMachineProfile.storageProfile.osDisk.osType, properties.osType))",
    "| project id, type, location, osType",
    // A stable order makes $skipToken paging deterministic.
    "| order by id asc",
  );
  return lines.join("\n");
}

/** `env=prod` → {key, value}; `env` → {key}. */
export function parseTag(text: string): { ok: true; tag: { key: string; value?: string } } | { ok: false; message: string } {
  const eq = text.indexOf("=");
  const key = (eq < 0 ? text : text.slice(0, eq)).trim();
  if (!key) return { ok: false, message: `--tag "${text}" has no tag name; use --tag name=value or --tag name` };
  return { ok: true, tag: eq < 0 ? { key } : { key, value: text.slice(eq + 1).trim() } };
}

export function parseKinds(text: string): { ok: true; kinds: TargetKind[] } | { ok: false; message: string } {
  const names: Record<string, TargetKind> = { vm: "vm", vms: "vm", vmss: "vmss", "scale-sets": "vmss", arc: "arc" };
  const kinds = new Set<TargetKind>();
  for (const part of text
    .split(",")
    .map((p) => p.trim().toLowerCase())
    .filter(Boolean)) {
    const kind = names[part];
    if (!kind) return { ok: false, message: `--machine-types "${part}" is not one of: vm, vmss, arc` };
    kinds.add(kind);
  }
  if (kinds.size === 0) return { ok: false, message: "--machine-types is empty; give e.g. vm,vmss,arc" };
  return { ok: true, kinds: [...kinds] };
}

function kindOf(type: unknown): TargetKind | undefined {
  const lower = String(type ?? "").toLowerCase();
  return (Object.keys(GRAPH_TYPES) as TargetKind[]).find((k) => GRAPH_TYPES[k] === lower);
}

/** Every page of the query, following $skipToken. */
export async function queryMachines(
  client: ResourceGraphClient,
  selection: GraphSelection,
  signal: AbortSignal | undefined,
  pageSize = GRAPH_PAGE_SIZE,
): Promise<{ machines: GraphMachine[]; pages: number }> {
  const query = graphQuery(selection);
  const machines: GraphMachine[] = [];
  let skipToken: string | undefined;
  let pages = 0;
  do {
    const page = await client.resources(
      {
        query,
        ...(selection.subscriptions.length > 0 ? { subscriptions: selection.subscriptions } : {}),
        options: { resultFormat: "objectArray", top: pageSize, ...(skipToken ? { skipToken } : {}) },
      },
      signal ? { abortSignal: signal } : {},
    );
    pages++;
    // The SDK models `data` as a dictionary, and its deserializer turns the array into {"0": …, "1": …}.
    const rows = (Array.isArray(page.data) ? page.data : Object.values(page.data ?? {})) as Record<string, unknown>[];
    for (const row of rows) {
      const kind = kindOf(row.type);
      if (typeof row.id !== "string" || !kind) continue;
      machines.push({
        id: row.id,
        kind,
        ...(typeof row.location === "string" ? { location: row.location } : {}),
        ...(typeof row.osType === "string" && row.osType !== "" ? { osType: row.osType } : {}),
      });
    }
    skipToken = page.skipToken;
  } while (skipToken);
  return { machines, pages };
}

/** Why a machine from the graph is not a target, or undefined for a Linux machine (or one whose OS is unknown). */
export function notLinuxReason(machine: GraphMachine): string | undefined {
  if (!machine.osType || machine.osType.toLowerCase() === "linux") return undefined;
  return `Resource Graph reports OS type ${machine.osType}; OmsAgentForLinux only runs on Linux (Windows machines use Azure Monitor Agent)`;
}
