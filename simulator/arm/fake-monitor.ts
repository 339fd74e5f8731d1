// What the fake ARM server (fake-arm.ts) serves for the move to the Azure Monitor Agent (`omsagent-fleet migrate`):
// Log Analytics workspaces and their legacy agent data sources, data collection rules (DCRs) and their
// associations, the AMA extension's behaviour, and the Log Analytics query API with Heartbeat rows.
//
// Shapes and rules come from the real specifications (Azure/azure-rest-api-specs) and SDKs:
// - workspaces GET, api-version 2022-10-01 (the version @azure/arm-operationalinsights 9.0.0 sends for
//   `workspaces`): specification/operationalinsights/.../stable/2020-08-01/examples/WorkspacesGet.json has
//   `properties.customerId`, the GUID agents know as the workspace id.
// - workspaces/dataSources list, api-version 2020-08-01: `$filter` is required (the SDK's
//   DataSources.listByWorkspace takes it as a positional parameter; Microsoft's own
//   AzureMonitorCommunity ".../Migration Tools/DCR Config Generator" scripts filter `kind eq 'LinuxSyslog' or …`).
//   Item shape: .../2020-08-01/examples/DataSourcesGet.json (kind, properties, id, etag, name, type); the Linux
//   kinds' properties as Azure PowerShell's PSLinuxSyslogDataSourceProperties and Azure/azure-quickstart-templates
//   workspace templates write them (syslogName + syslogSeverities[{severity}]; objectName, instanceName,
//   intervalSeconds, performanceCounters[{counterName}]; LinuxSyslogCollection/LinuxPerformanceCollection {state}).
// - dataCollectionRules and dataCollectionRuleAssociations, api-version 2021-04-01 (what @azure/arm-monitor 7.0.0
//   sends): specification/monitor/resource-manager/Microsoft.Insights/stable/2021-04-01/examples/
//   DataCollectionRulesCreate.json, DataCollectionRuleAssociationsCreate.json, …ListByResource.json. A DCR's
//   response echoes the body with `immutableId` and the destination's `workspaceId` added.
// - the Log Analytics query API, POST {endpoint}/v1/workspaces/{workspaceId}/query with {query, timespan},
//   answered with {tables: [{name, columns: [{name, type}], rows}]} (the api's swagger, LogAnalytics
//   data-plane `Query_Execute`; @azure/monitor-query-logs 1.0.0 posts exactly this).
// - Heartbeat rows: `Category` is "Azure Monitor Agent" for AMA and "Direct Agent" for the legacy agent, and
//   Microsoft's AMA Migration Helper workbook (microsoft/AzureMonitorCommunity, "Azure Services/Azure Monitor/
//   Agents/Migration Tools/Migration Helper Workbook/AMA Migration Helper.workbook", item "heartbeatquery")
//   summarises them `by _ResourceId`; for scale sets `_ResourceId` is the scale set and `Computer` each instance.
//
// AMA sends heartbeats only to the workspaces its associated DCRs name as destinations, so the fake's rows
// appear only when the machine has AMA succeeded, a managed identity it can use (VMs and scale sets; Arc
// machines use the Arc agent's own), and an association to a DCR whose destination is the queried workspace,
// `heartbeatDelayMs` after the last of those became true.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Extension, HandlerFailure, Machine, Operation } from "./fake-arm.ts";

export const AMA_PUBLISHER = "Microsoft.Azure.Monitor";
export const AMA_TYPE = "AzureMonitorLinuxAgent";

/** The api-versions the migration's SDKs send, refused otherwise (as ARM refuses an unknown api-version). */
export const MONITOR_API_VERSIONS = {
  workspaces: ["2022-10-01", "2020-08-01", "2021-06-01"],
  dataSources: ["2020-08-01"],
  insights: ["2021-04-01", "2022-06-01", "2023-03-11"],
} as const;

/** How the AMA extension behaves on one machine. */
export interface AmaBehaviour {
  /** The agent never sends a heartbeat (blocked egress, a broken agent). */
  heartbeat?: "never";
  /** Overrides the server's heartbeatDelayMs for this machine. */
  heartbeatDelayMs?: number;
  /** The AMA extension fails to install. */
  failure?: HandlerFailure;
}

/** A managed identity on a VM or scale set, as `identity` in the compute API. */
export interface MachineIdentity {
  type: "SystemAssigned" | "UserAssigned" | "SystemAssigned, UserAssigned" | "None";
  userAssignedIdentities?: string[];
}

/** `identity` of a VM or scale set as the compute API returns it (userAssignedIdentities keyed by resource id). */
export function armIdentity(identity: MachineIdentity): Record<string, unknown> {
  const assigned = identity.userAssignedIdentities ?? [];
  return {
    type: identity.type,
    ...(assigned.length > 0
      ? { userAssignedIdentities: Object.fromEntries(assigned.map((u, i) => [u, { principalId: guid(1000 + i), clientId: guid(2000 + i) }])) }
      : {}),
  };
}

export interface DataSource {
  name: string;
  kind: string;
  properties: Record<string, unknown>;
}

export interface FakeMonitorOptions {
  /** Time from AMA (and an association) being in place to its first heartbeat. Default 0. */
  heartbeatDelayMs?: number;
}

export interface FakeMonitorStats {
  /** Log Analytics queries answered, and how many times each machine (lower-cased id) was asked about. */
  queries: number;
  queriedIds: Map<string, number>;
  /** DCR association PUTs per machine (lower-cased id). */
  associationPuts: Map<string, number>;
  dcrPuts: number;
  dataSourceLists: number;
}

interface Workspace {
  id: string;
  name: string;
  location: string;
  customerId: string;
  dataSources: DataSource[];
}

interface Rule {
  id: string;
  location: string;
  body: Record<string, unknown>;
  immutableId: string;
}

interface Association {
  id: string;
  name: string;
  dataCollectionRuleId: string;
}

/** What the monitor routes need from the ARM server around them. */
export interface MonitorHost {
  machine(id: string): Machine | undefined;
  send(res: ServerResponse, status: number, body?: unknown, headers?: Record<string, string>): number;
  error(res: ServerResponse, status: number, code: string, message: string): number;
}

export interface FakeMonitor {
  stats: FakeMonitorStats;
  /** A Log Analytics workspace with the given legacy data sources; returns its resource id and customerId. */
  addWorkspace(
    name: string,
    dataSources?: DataSource[],
    where?: { subscriptionId?: string; resourceGroup?: string; location?: string; customerId?: string },
  ): { id: string; customerId: string };
  /** A DCR as stored (for assertions). */
  rule(id: string): Record<string, unknown> | undefined;
  associations(machineId: string): Association[];
  /** Serves the request when it is one of the migration's routes; undefined otherwise. */
  route(req: IncomingMessage, url: URL, raw: string, res: ServerResponse): number | undefined;
  isAma(properties: Record<string, unknown>): boolean;
  /** The AMA operation on `m` ends: apply its outcome (fake-arm.ts's finish() for AMA extensions). */
  finishAma(m: Machine, ext: Extension, op: Operation): void;
}

const SUBSCRIPTION = "00000000-0000-0000-0000-00000000abcd";

function guid(n: number): string {
  const hex = n.toString(16).padStart(12, "0");
  return `6f1c2d3e-4a5b-4c6d-8e9f-${hex}`;
}

export function createFakeMonitor(host: MonitorHost, options: FakeMonitorOptions = {}): FakeMonitor {
  const workspaces = new Map<string, Workspace>();
  const rules = new Map<string, Rule>();
  const associations = new Map<string, Map<string, Association>>();
  /** Machine (lower-cased id) → when its AMA extension last succeeded, per scale-set instance for scale sets. */
  const amaSince = new Map<string, number>();
  const associatedSince = new Map<string, number>();
  const stats: FakeMonitorStats = { queries: 0, queriedIds: new Map(), associationPuts: new Map(), dcrPuts: 0, dataSourceLists: 0 };
  let nextWorkspace = 1;

  const isAma = (p: Record<string, unknown>): boolean => p.publisher === AMA_PUBLISHER && p.type === AMA_TYPE;

  function apiVersion(url: URL, allowed: readonly string[], res: ServerResponse): number | undefined {
    const v = url.searchParams.get("api-version");
    if (v && allowed.includes(v)) return undefined;
    return host.error(
      res,
      400,
      v ? "InvalidApiVersionParameter" : "MissingApiVersionParameter",
      v
        ? `The api-version '${v}' is invalid. The supported versions are '${allowed.join(",")}'.`
        : "The api-version query parameter (?api-version=) is required for all requests.",
    );
  }

  /** The identity AMA would use on this machine, or why it has none (null: Arc, which needs none). */
  function identityProblem(m: Machine, ext: Extension): string | null {
    if (m.kind === "arc") return null;
    const identity = m.config.identity;
    const settings = (ext.properties.settings ?? {}) as { authentication?: { managedIdentity?: Record<string, string> } };
    const wanted = settings.authentication?.managedIdentity;
    if (wanted) {
      if (wanted["identifier-name"] !== "mi_res_id") return null; // object_id / client_id: not modelled, trusted
      const id = (wanted["identifier-value"] ?? "").toLowerCase();
      return identity?.userAssignedIdentities?.some((u) => u.toLowerCase() === id) ? null : `user-assigned identity ${id} is not assigned`;
    }
    return identity && identity.type.includes("SystemAssigned") ? null : "no system-assigned identity";
  }

  function finishAma(m: Machine, ext: Extension, op: Operation): void {
    const failure = m.config.ama?.failure;
    const key = m.id.toLowerCase();
    if (failure) {
      const message = `${failure.operation ?? "Enable"} failed (${failure.code} ${failure.reason}): ${failure.text}`;
      ext.provisioningState = "Failed";
      ext.instanceView = { state: "failed", code: failure.code, message };
      if (m.kind === "vmss") for (const views of m.instanceViews.values()) views.set(ext.name.toLowerCase(), { state: "failed", code: failure.code, message });
      op.status = "Failed";
      op.error = {
        code: "VMExtensionProvisioningError",
        message: `VM has reported a failure when processing extension '${ext.name}' (publisher '${AMA_PUBLISHER}' and type '${AMA_TYPE}'). Error message: '${message}'.`,
      };
      amaSince.delete(key);
      return;
    }
    // The extension itself installs without an identity; the agent then cannot get a token and stays silent.
    const message = "Enable succeeded";
    ext.provisioningState = "Succeeded";
    ext.instanceView = { state: "succeeded", code: 0, message };
    // As for any extension (fake-arm.ts finish()): with a Manual upgrade policy only the model changes, and the
    // instances run the agent once they are upgraded.
    if (m.kind === "vmss" && (m.config.upgradeMode ?? "Automatic") !== "Manual")
      for (const views of m.instanceViews.values()) views.set(ext.name.toLowerCase(), { state: "succeeded", code: 0, message });
    op.status = "Succeeded";
    amaSince.set(key, Date.now());
  }

  /** Heartbeat summary for one machine and workspace, as the CLI's query asks for it; undefined: no rows. */
  function heartbeat(resourceId: string, category: string, workspace: Workspace, from: number, to: number): { last: number; computers: number } | undefined {
    const m = host.machine(resourceId);
    if (!m) return undefined;
    const computers = m.kind === "vmss" ? m.instanceViews.size : 1;
    // Scale sets: only instances running AMA send its heartbeat.
    const amaComputers = m.kind === "vmss" ? [...m.instanceViews.values()].filter((v) => v.get(AMA_TYPE.toLowerCase())?.state === "succeeded").length : 1;
    if (category === "Direct Agent") {
      // The legacy agent reports to the workspace in its settings for as long as it is installed and succeeded.
      const oms = [...m.extensions.values()].find((x) => x.properties.type === "OmsAgentForLinux" && x.provisioningState === "Succeeded");
      const ws = (oms?.properties.settings as { workspaceId?: string } | undefined)?.workspaceId;
      return oms && ws?.toLowerCase() === workspace.customerId.toLowerCase() ? { last: to, computers } : undefined;
    }
    if (category !== "Azure Monitor Agent" || m.config.ama?.heartbeat === "never") return undefined;
    const ama = [...m.extensions.values()].find((x) => isAma(x.properties) && x.provisioningState === "Succeeded");
    const installed = amaSince.get(m.id.toLowerCase());
    if (!ama || installed === undefined || identityProblem(m, ama) !== null) return undefined;
    const linked = [...(associations.get(m.id.toLowerCase())?.values() ?? [])].some((a) => {
      const rule = rules.get(a.dataCollectionRuleId.toLowerCase());
      const dest = (rule?.body.properties as { destinations?: { logAnalytics?: { workspaceResourceId?: string }[] } } | undefined)?.destinations;
      return dest?.logAnalytics?.some((d) => d.workspaceResourceId?.toLowerCase() === workspace.id.toLowerCase()) ?? false;
    });
    const since = Math.max(installed, associatedSince.get(m.id.toLowerCase()) ?? Number.POSITIVE_INFINITY);
    if (!linked || !Number.isFinite(since)) return undefined;
    const first = since + (m.config.ama?.heartbeatDelayMs ?? options.heartbeatDelayMs ?? 0);
    // Heartbeats come every minute from then on; the newest one inside the query's timespan is reported.
    const newest = Math.min(Date.now(), to);
    if (newest < first || newest < from) return undefined;
    return amaComputers > 0 ? { last: newest, computers: amaComputers } : undefined;
  }

  /**
   * The query API, for the KQL the CLI writes (src/cli/migrate/heartbeat.ts) and nothing else: anything else is
   * refused with the real service's 400 BadArgumentError, so a change to the query cannot pass unnoticed.
   */
  function query(workspaceId: string, raw: string, res: ServerResponse): number {
    stats.queries++;
    const workspace = [...workspaces.values()].find((w) => w.customerId.toLowerCase() === workspaceId.toLowerCase());
    if (!workspace) return host.error(res, 404, "WorkspaceNotFoundError", `The workspace could not be found: '${workspaceId}' (not a workspace customerId).`);
    let body: { query?: string; timespan?: string };
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      return host.error(res, 400, "BadArgumentError", "The request had some invalid properties");
    }
    const text = (body.query ?? "").replace(/\r\n/g, "\n").trim();
    const shape =
      /^Heartbeat\n\| where Category == "([^"]+)"\n\| where _ResourceId in~ \(((?:"[^"\\]*"(?:, )?)+)\)\n\| summarize LastHeartbeat = max\(TimeGenerated\), Computers = dcount\(Computer\) by ResourceId = tolower\(_ResourceId\)$/.exec(
        text,
      );
    if (!shape) return host.error(res, 400, "BadArgumentError", "The request had some invalid properties (the fake parses only the CLI's heartbeat query).");
    // timespan: ISO 8601 interval start/end, as @azure/monitor-query-logs serialises {startTime, endTime}.
    const [from, to] = (body.timespan ?? "").split("/").map((t) => Date.parse(t));
    if (from === undefined || to === undefined || Number.isNaN(from) || Number.isNaN(to))
      return host.error(res, 400, "BadArgumentError", `timespan '${body.timespan}' is not an ISO 8601 interval start/end`);
    const ids = [...(shape[2] ?? "").matchAll(/"([^"\\]*)"/g)].map((x) => (x[1] ?? "").toLowerCase());
    const rows: unknown[][] = [];
    for (const id of ids) {
      stats.queriedIds.set(id, (stats.queriedIds.get(id) ?? 0) + 1);
      const beat = heartbeat(id, shape[1] ?? "", workspace, from, to);
      if (beat) rows.push([id, new Date(beat.last).toISOString(), beat.computers]);
    }
    return host.send(res, 200, {
      tables: [
        {
          name: "PrimaryResult",
          columns: [
            { name: "ResourceId", type: "string" },
            { name: "LastHeartbeat", type: "datetime" },
            { name: "Computers", type: "long" },
          ],
          rows,
        },
      ],
    });
  }

  function dataSourceBody(w: Workspace, d: DataSource): Record<string, unknown> {
    return {
      id: `${w.id}/datasources/${d.name}`,
      name: d.name,
      type: "Microsoft.OperationalInsights/workspaces/datasources",
      kind: d.kind,
      etag: 'W/"1"',
      properties: d.properties,
    };
  }

  function workspaceRoute(method: string, url: URL, rest: string, w: Workspace, res: ServerResponse): number {
    if (rest === "") {
      const refused = apiVersion(url, MONITOR_API_VERSIONS.workspaces, res);
      if (refused !== undefined) return refused;
      if (method !== "GET") return host.error(res, 405, "MethodNotAllowed", `${method} on a workspace is not faked.`);
      return host.send(res, 200, {
        id: w.id,
        name: w.name,
        type: "Microsoft.OperationalInsights/workspaces",
        location: w.location,
        properties: { provisioningState: "Succeeded", customerId: w.customerId, sku: { name: "PerGB2018" }, retentionInDays: 30 },
      });
    }
    if (rest.toLowerCase() !== "/datasources" || method !== "GET") return host.error(res, 404, "NotFound", `The fake does not serve ${rest} on a workspace.`);
    const refused = apiVersion(url, MONITOR_API_VERSIONS.dataSources, res);
    if (refused !== undefined) return refused;
    const filter = url.searchParams.get("$filter");
    if (!filter) return host.error(res, 400, "BadRequest", "The $filter query parameter is required: kind eq '<kind>'.");
    const kinds = [...filter.matchAll(/kind eq '([^']+)'/gi)].map((x) => (x[1] ?? "").toLowerCase());
    if (kinds.length === 0) return host.error(res, 400, "BadRequest", `Unsupported $filter '${filter}'; expected kind eq '<kind>' [or kind eq '<kind>' …].`);
    stats.dataSourceLists++;
    // Two items a page, so the client must follow nextLink as it would for a large workspace.
    const matching = w.dataSources.filter((d) => kinds.includes(d.kind.toLowerCase()));
    const skip = Number(url.searchParams.get("$skiptoken") ?? "0");
    const page = matching.slice(skip, skip + 2);
    const next = new URL(url.href);
    next.searchParams.set("$skiptoken", String(skip + 2));
    return host.send(res, 200, { value: page.map((d) => dataSourceBody(w, d)), ...(skip + 2 < matching.length ? { nextLink: next.href } : {}) });
  }

  function ruleRoute(method: string, url: URL, id: string, raw: string, res: ServerResponse): number {
    const refused = apiVersion(url, MONITOR_API_VERSIONS.insights, res);
    if (refused !== undefined) return refused;
    const key = id.toLowerCase();
    const existing = rules.get(key);
    const view = (r: Rule): Record<string, unknown> => {
      const properties = structuredClone((r.body.properties ?? {}) as Record<string, unknown>);
      const la = (properties.destinations as { logAnalytics?: Record<string, unknown>[] } | undefined)?.logAnalytics ?? [];
      for (const d of la) {
        const w = workspaces.get(String(d.workspaceResourceId ?? "").toLowerCase());
        if (w) d.workspaceId = w.customerId;
      }
      return {
        id: r.id,
        name: r.id.split("/").at(-1),
        type: "Microsoft.Insights/dataCollectionRules",
        location: r.location,
        kind: r.body.kind,
        properties: { ...properties, immutableId: r.immutableId, provisioningState: "Succeeded" },
      };
    };
    if (method === "GET")
      return existing
        ? host.send(res, 200, view(existing))
        : host.error(res, 404, "ResourceNotFound", `The Resource 'Microsoft.Insights/dataCollectionRules/${id.split("/").at(-1)}' was not found.`);
    if (method !== "PUT") return host.error(res, 405, "MethodNotAllowed", `${method} on a data collection rule is not faked.`);
    const body = JSON.parse(raw || "{}") as Record<string, unknown>;
    if (typeof body.location !== "string") return host.error(res, 400, "LocationRequired", "The location property is required for this definition.");
    const problem = checkRule(body, workspaces);
    if (problem) return host.error(res, 400, "InvalidPayload", problem);
    stats.dcrPuts++;
    const rule: Rule = { id, location: body.location, body, immutableId: existing?.immutableId ?? `dcr-${(rules.size + 1).toString(16).padStart(32, "0")}` };
    rules.set(key, rule);
    return host.send(res, existing ? 200 : 201, view(rule));
  }

  function associationRoute(method: string, url: URL, m: Machine, name: string | undefined, raw: string, res: ServerResponse): number {
    const refused = apiVersion(url, MONITOR_API_VERSIONS.insights, res);
    if (refused !== undefined) return refused;
    const key = m.id.toLowerCase();
    const mine = associations.get(key) ?? new Map<string, Association>();
    const view = (a: Association): Record<string, unknown> => ({
      id: a.id,
      name: a.name,
      type: "Microsoft.Insights/dataCollectionRuleAssociations",
      properties: { dataCollectionRuleId: a.dataCollectionRuleId, provisioningState: "Succeeded" },
    });
    if (name === undefined) {
      if (method !== "GET") return host.error(res, 405, "MethodNotAllowed", `${method} on the associations list is not faked.`);
      return host.send(res, 200, { value: [...mine.values()].map(view) });
    }
    const existing = mine.get(name.toLowerCase());
    if (method === "GET") return existing ? host.send(res, 200, view(existing)) : host.error(res, 404, "ResourceNotFound", `No association '${name}'.`);
    if (method === "DELETE") {
      mine.delete(name.toLowerCase());
      return host.send(res, existing ? 200 : 204);
    }
    if (method !== "PUT") return host.error(res, 405, "MethodNotAllowed", `${method} on an association is not faked.`);
    stats.associationPuts.set(key, (stats.associationPuts.get(key) ?? 0) + 1);
    const body = JSON.parse(raw || "{}") as { properties?: { dataCollectionRuleId?: string; dataCollectionEndpointId?: string } };
    const ruleId = body.properties?.dataCollectionRuleId;
    if (!ruleId && !body.properties?.dataCollectionEndpointId)
      return host.error(res, 400, "InvalidPayload", "Either dataCollectionRuleId or dataCollectionEndpointId must be set.");
    if (ruleId && !rules.has(ruleId.toLowerCase())) return host.error(res, 400, "InvalidPayload", `Data collection rule '${ruleId}' does not exist.`);
    const a: Association = { id: `${m.id}/providers/Microsoft.Insights/dataCollectionRuleAssociations/${name}`, name, dataCollectionRuleId: ruleId ?? "" };
    mine.set(name.toLowerCase(), a);
    associations.set(key, mine);
    associatedSince.set(key, Date.now());
    return host.send(res, existing ? 200 : 201, view(a));
  }

  function route(req: IncomingMessage, url: URL, raw: string, res: ServerResponse): number | undefined {
    const method = req.method ?? "GET";
    const path = decodeURIComponent(url.pathname).replace(/\/+$/, "");
    const queryMatch = /^\/v1\/workspaces\/([^/]+)\/query$/i.exec(path);
    if (queryMatch) return method === "POST" ? query(queryMatch[1] ?? "", raw, res) : host.error(res, 405, "MethodNotAllowed", "The query API takes POST.");
    const ws = /^(\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.operationalinsights\/workspaces\/[^/]+)(\/.*)?$/i.exec(path);
    if (ws) {
      const w = workspaces.get((ws[1] ?? "").toLowerCase());
      if (!w) return host.error(res, 404, "ResourceNotFound", `The Resource '${path.split("/providers/")[1] ?? path}' under resource group was not found.`);
      return workspaceRoute(method, url, ws[2] ?? "", w, res);
    }
    if (/^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.insights\/datacollectionrules\/[^/]+$/i.test(path))
      return ruleRoute(method, url, path, raw, res);
    const dcra = /^(.*)\/providers\/microsoft\.insights\/datacollectionruleassociations(?:\/([^/]+))?$/i.exec(path);
    if (dcra) {
      const m = host.machine(dcra[1] ?? "");
      if (!m) return host.error(res, 404, "ResourceNotFound", `The resource '${dcra[1]}' was not found.`);
      return associationRoute(method, url, m, dcra[2], raw, res);
    }
    return undefined;
  }

  return {
    stats,
    addWorkspace(name, dataSources = [], where = {}) {
      const id = `/subscriptions/${where.subscriptionId ?? SUBSCRIPTION}/resourceGroups/${where.resourceGroup ?? "rg-monitor"}/providers/Microsoft.OperationalInsights/workspaces/${name}`;
      const customerId = where.customerId ?? guid(nextWorkspace++);
      workspaces.set(id.toLowerCase(), { id, name, location: where.location ?? "westeurope", customerId, dataSources });
      return { id, customerId };
    },
    rule: (id) => rules.get(id.toLowerCase())?.body,
    associations: (machineId) => [...(associations.get(machineId.toLowerCase())?.values() ?? [])],
    route,
    isAma,
    finishAma,
  };
}

/** What the DCR service validates that the CLI could get wrong (2021-04-01 swagger: required fields, known streams). */
function checkRule(body: Record<string, unknown>, workspaces: Map<string, Workspace>): string | undefined {
  const p = body.properties as
    | {
        dataSources?: {
          syslog?: { name?: string; streams?: string[]; facilityNames?: string[]; logLevels?: string[] }[];
          performanceCounters?: { name?: string; streams?: string[]; samplingFrequencyInSeconds?: number; counterSpecifiers?: string[] }[];
        };
        destinations?: { logAnalytics?: { name?: string; workspaceResourceId?: string }[] };
        dataFlows?: { streams?: string[]; destinations?: string[] }[];
      }
    | undefined;
  if (!p) return "properties is required";
  const FACILITIES = new Set([
    "*",
    "auth",
    "authpriv",
    "cron",
    "daemon",
    "mark",
    "kern",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
    "lpr",
    "mail",
    "news",
    "syslog",
    "user",
    "uucp",
  ]);
  const LEVELS = new Set(["*", "Debug", "Info", "Notice", "Warning", "Error", "Critical", "Alert", "Emergency"]);
  for (const s of p.dataSources?.syslog ?? []) {
    if (!s.name || !s.streams?.every((x) => x === "Microsoft-Syslog")) return `syslog data source ${s.name ?? "?"}: streams must be Microsoft-Syslog`;
    const bad = (s.facilityNames ?? []).find((f) => !FACILITIES.has(f)) ?? (s.logLevels ?? []).find((l) => !LEVELS.has(l));
    if (bad) return `syslog data source ${s.name}: '${bad}' is not a known facility or log level`;
  }
  for (const c of p.dataSources?.performanceCounters ?? []) {
    if (!c.name || !c.streams?.every((x) => x === "Microsoft-Perf")) return `performance counter data source ${c.name ?? "?"}: streams must be Microsoft-Perf`;
    if (!Number.isInteger(c.samplingFrequencyInSeconds) || (c.samplingFrequencyInSeconds ?? 0) < 1)
      return `performance counter data source ${c.name}: samplingFrequencyInSeconds must be a whole number ≥ 1`;
    if (!c.counterSpecifiers?.length) return `performance counter data source ${c.name}: counterSpecifiers is empty`;
  }
  const names = new Set<string>();
  for (const d of p.destinations?.logAnalytics ?? []) {
    if (!d.name || !d.workspaceResourceId) return "a logAnalytics destination needs name and workspaceResourceId";
    if (!workspaces.has(d.workspaceResourceId.toLowerCase())) return `workspace '${d.workspaceResourceId}' does not exist`;
    names.add(d.name);
  }
  for (const f of p.dataFlows ?? []) {
    const unknown = (f.destinations ?? []).find((d) => !names.has(d));
    if (unknown) return `data flow destination '${unknown}' is not defined in destinations`;
  }
  return undefined;
}

/**
 * Puts OmsAgentForLinux on a machine as if an earlier deploy had installed it (succeeded, reporting to
 * `workspaceId`), without going through PUT, so the migration's tests start from a fleet that runs it.
 */
export function installLegacyAgent(m: Machine, workspaceId: string, name = "OmsAgentForLinux"): void {
  const message = `Enable succeeded: onboarded to workspace ${workspaceId}`;
  m.extensions.set(name.toLowerCase(), {
    name,
    provisioningState: "Succeeded",
    properties: {
      publisher: "Microsoft.EnterpriseCloud.Monitoring",
      type: "OmsAgentForLinux",
      typeHandlerVersion: "1.19",
      autoUpgradeMinorVersion: true,
      settings: { workspaceId },
    },
    instanceView: { state: "succeeded", code: 0, message },
  });
  for (const views of m.instanceViews.values()) views.set(name.toLowerCase(), { state: "succeeded", code: 0, message });
}
