// `migrate dcr`: the workspace's legacy agent configuration for Linux (workspaces/dataSources) translated into
// the equivalent data collection rule, and what has no equivalent said out loud.
//
// Legacy agents took their Linux collection from the workspace: syslog facilities with the severities to keep
// (kind LinuxSyslog), performance objects with their counters, instance and interval (LinuxPerformanceObject),
// switched on or off as a whole (LinuxSyslogCollection, LinuxPerformanceCollection), plus custom text logs
// (CustomLog). AMA takes its collection from DCRs associated with the machine: `syslog` data sources
// (facilityNames + logLevels, stream Microsoft-Syslog, table Syslog) and `performanceCounters` data sources
// (counterSpecifiers `\Object(instance)\Counter`, samplingFrequencyInSeconds, stream Microsoft-Perf, table
// Perf), sent to a Log Analytics destination by a data flow. The mapping of severities to log levels is the one
// Microsoft's DCR Config Generator uses (microsoft/AzureMonitorCommunity, Agents/Migration Tools).
import type { OperationalInsightsManagementClient } from "@azure/arm-operationalinsights";

export interface LegacyDataSource {
  name: string;
  kind: string;
  properties: Record<string, unknown>;
}

/** The legacy kinds read from the workspace: the Linux ones and custom logs (which have no DCR equivalent here). */
const KINDS = ["LinuxSyslog", "LinuxSyslogCollection", "LinuxPerformanceObject", "LinuxPerformanceCollection", "CustomLog"];

const LEVELS: Record<string, string> = {
  emerg: "Emergency",
  alert: "Alert",
  crit: "Critical",
  err: "Error",
  warning: "Warning",
  notice: "Notice",
  info: "Info",
  debug: "Debug",
};
/** Most to least severe: the order the DCR's logLevels are written in. */
const LEVEL_ORDER = ["Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Info", "Debug"];

const FACILITIES = new Set([
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
  "*",
]);

interface LeftOut {
  kind: string;
  name: string;
  why: string;
}

export interface Translation {
  /** The DCR's PUT body (location, kind, properties). */
  rule: {
    location: string;
    kind: "Linux";
    properties: {
      description: string;
      dataSources: {
        syslog?: { name: string; streams: ["Microsoft-Syslog"]; facilityNames: string[]; logLevels: string[] }[];
        performanceCounters?: { name: string; streams: ["Microsoft-Perf"]; samplingFrequencyInSeconds: number; counterSpecifiers: string[] }[];
      };
      destinations: { logAnalytics: { name: string; workspaceResourceId: string }[] };
      dataFlows: { streams: string[]; destinations: string[] }[];
    };
  };
  /** What was read and has no equivalent in the rule. */
  leftOut: LeftOut[];
  /** How many legacy sources became part of the rule. */
  translated: number;
}

const DESTINATION = "legacyWorkspace";

/** Reads every legacy Linux data source of the workspace (all pages). */
export async function readLegacyDataSources(
  client: OperationalInsightsManagementClient,
  resourceGroup: string,
  workspace: string,
  signal?: AbortSignal,
): Promise<LegacyDataSource[]> {
  const filter = KINDS.map((k) => `kind eq '${k}'`).join(" or ");
  const found: LegacyDataSource[] = [];
  for await (const d of client.dataSources.listByWorkspace(resourceGroup, workspace, filter, signal ? { abortSignal: signal } : {})) {
    found.push({ name: d.name ?? "?", kind: String(d.kind ?? "?"), properties: (d.properties ?? {}) as Record<string, unknown> });
  }
  return found;
}

function enabled(sources: LegacyDataSource[], kind: string): boolean {
  const switches = sources.filter((s) => s.kind.toLowerCase() === kind.toLowerCase());
  // Absent means on: the portal writes the switch only when it is turned off (or back on).
  return switches.every((s) => String(s.properties.state ?? "Enabled").toLowerCase() !== "disabled");
}

/** Name-safe piece of a data source name (DCR data source names: letters, digits, '-', '_'). */
function slug(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "") || "x";
}

export function translate(sources: LegacyDataSource[], workspaceResourceId: string, location: string): Translation {
  const leftOut: LeftOut[] = [];
  let translated = 0;

  // Syslog: facilities with identical level sets share one data source, as the portal builds them.
  const syslogOn = enabled(sources, "LinuxSyslogCollection");
  const byLevels = new Map<string, { facilities: string[]; levels: string[] }>();
  for (const s of sources.filter((x) => x.kind === "LinuxSyslog")) {
    if (!syslogOn) {
      leftOut.push({
        kind: s.kind,
        name: s.name,
        why: "syslog collection is turned off in the workspace (LinuxSyslogCollection Disabled), so legacy agents did not collect it",
      });
      continue;
    }
    const facility = String(s.properties.syslogName ?? "").toLowerCase();
    const severities = ((s.properties.syslogSeverities ?? []) as { severity?: string }[]).map((x) => String(x.severity ?? "").toLowerCase());
    const unknown = severities.filter((x) => !LEVELS[x]);
    if (!FACILITIES.has(facility)) {
      leftOut.push({ kind: s.kind, name: s.name, why: `facility "${facility}" is not one AMA collects (${[...FACILITIES].join(", ")})` });
      continue;
    }
    if (unknown.length > 0 || severities.length === 0) {
      leftOut.push({ kind: s.kind, name: s.name, why: severities.length === 0 ? "no severities selected" : `unknown severities ${unknown.join(", ")}` });
      continue;
    }
    const levels = LEVEL_ORDER.filter((l) => severities.some((x) => LEVELS[x] === l));
    const key = levels.join(",");
    const group = byLevels.get(key) ?? { facilities: [], levels };
    if (!group.facilities.includes(facility)) group.facilities.push(facility);
    byLevels.set(key, group);
    translated++;
  }
  const syslog = [...byLevels.values()].map((g, i) => ({
    name: `syslog-${i + 1}-${slug(g.levels.at(-1)!.toLowerCase())}`,
    streams: ["Microsoft-Syslog"] as ["Microsoft-Syslog"],
    facilityNames: g.facilities.sort(),
    logLevels: g.levels,
  }));

  // Performance: one data source per sampling interval, counters as \Object(instance)\Counter.
  const perfOn = enabled(sources, "LinuxPerformanceCollection");
  const byInterval = new Map<number, string[]>();
  for (const s of sources.filter((x) => x.kind === "LinuxPerformanceObject")) {
    if (!perfOn) {
      leftOut.push({
        kind: s.kind,
        name: s.name,
        why: "performance collection is turned off in the workspace (LinuxPerformanceCollection Disabled), so legacy agents did not collect it",
      });
      continue;
    }
    const object = String(s.properties.objectName ?? "");
    const instance = String(s.properties.instanceName ?? "*");
    const interval = Number(s.properties.intervalSeconds ?? 0);
    const counters = ((s.properties.performanceCounters ?? []) as { counterName?: string }[]).map((c) => String(c.counterName ?? "")).filter(Boolean);
    if (!object || counters.length === 0 || !Number.isInteger(interval) || interval < 1) {
      leftOut.push({
        kind: s.kind,
        name: s.name,
        why: `incomplete performance object (object "${object}", ${counters.length} counters, interval ${interval} s)`,
      });
      continue;
    }
    const list = byInterval.get(interval) ?? [];
    for (const c of counters) {
      const spec = `\\${object}(${instance})\\${c}`;
      if (!list.includes(spec)) list.push(spec);
    }
    byInterval.set(interval, list);
    translated++;
  }
  const performanceCounters = [...byInterval.entries()]
    .sort(([a], [b]) => a - b)
    .map(([interval, counterSpecifiers]) => ({
      name: `perf-${interval}s`,
      streams: ["Microsoft-Perf"] as ["Microsoft-Perf"],
      samplingFrequencyInSeconds: interval,
      counterSpecifiers,
    }));

  for (const s of sources.filter((x) => x.kind === "CustomLog")) {
    leftOut.push({
      kind: s.kind,
      name: s.name,
      why: "custom text logs need a custom table (…_CL with a TimeGenerated/RawData schema), a data collection endpoint and a logFiles data source of their own; create them with Microsoft's guidance for text logs and AMA, then associate that rule as well",
    });
  }

  const streams = [...(syslog.length > 0 ? ["Microsoft-Syslog"] : []), ...(performanceCounters.length > 0 ? ["Microsoft-Perf"] : [])];
  return {
    rule: {
      location,
      kind: "Linux",
      properties: {
        description: "Linux syslog and performance collection translated from the workspace's legacy agent configuration by omsagent-fleet migrate dcr",
        dataSources: {
          ...(syslog.length > 0 ? { syslog } : {}),
          ...(performanceCounters.length > 0 ? { performanceCounters } : {}),
        },
        destinations: { logAnalytics: [{ name: DESTINATION, workspaceResourceId }] },
        dataFlows: streams.length > 0 ? [{ streams, destinations: [DESTINATION] }] : [],
      },
    },
    leftOut,
    translated,
  };
}
