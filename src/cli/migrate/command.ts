// `omsagent-fleet migrate`: from OmsAgentForLinux to the Azure Monitor Agent. Three commands on the rollout
// engine the rest of the CLI uses (targets, Resource Graph selection, waves, failure budget, journal, pacing):
//   migrate dcr    the workspace's legacy Linux collection as a data collection rule (printed, or --create)
//   migrate plan   per machine: legacy agent, AMA, DCR associations, identity, and what migrate would do
//   migrate        per machine: AMA → association → heartbeat verified → legacy agent removed
import { parseArgs } from "node:util";
import { OPTIONS, parseDuration } from "../args.ts";
import { MachineOps } from "../arm.ts";
import { createArmClients, type ArmClients } from "../clients.ts";
import {
  checkToken,
  countKinds,
  describeSelection,
  EXIT_FAILED,
  EXIT_INTERRUPTED,
  EXIT_OK,
  EXIT_STOPPED,
  EXIT_USAGE,
  fleetOptions,
  graphSelection,
  readCaCert,
  usage,
  UsageError,
  waveOptions,
  type FleetOptions,
  type RunDeps,
} from "../commands.ts";
import { explainError } from "../errors.ts";
import { notLinuxReason, queryMachines } from "../graph.ts";
import {
  defaultJournalPath,
  Journal,
  JOURNAL_VERSION,
  resumeJournal,
  settingsHash,
  type JournalContents,
  type JournalHeader,
  type MachineState,
} from "../journal.ts";
import { jsonReport, Output, progressLine, summaryLine, table, writeJsonDocument } from "../report.ts";
import { presetRow, runFleet, type Row } from "../rollout.ts";
import { buildTargetList, loadTargetSources, type Target } from "../targets.ts";
import { Redactor } from "../../shared/redact.ts";
import { createMonitorClients, LOGS_ENDPOINTS, type MonitorClients } from "./clients.ts";
import { readLegacyDataSources, translate } from "./dcr.ts";
import { migrateMachine, type MigrateContext } from "./deploy.ts";
import { HeartbeatWatcher } from "./heartbeat.ts";
import { AMA_NAME, inspect, planFor, type MachineView, type MigrationPlan, type MigrationTarget } from "./machine.ts";

const MIGRATE_OPTIONS = {
  ...OPTIONS,
  workspace: { type: "string" },
  dcr: { type: "string" },
  create: { type: "boolean" },
  "keep-legacy": { type: "boolean" },
  "heartbeat-timeout": { type: "string" },
  "heartbeat-interval": { type: "string" },
  "user-assigned-identity": { type: "string" },
  "ama-version": { type: "string" },
  "logs-endpoint": { type: "string" },
  "logs-scope": { type: "string" },
} as const;

type Values = {
  [K in keyof typeof MIGRATE_OPTIONS]?: (typeof MIGRATE_OPTIONS)[K] extends { multiple: true }
    ? string[]
    : (typeof MIGRATE_OPTIONS)[K] extends { type: "boolean" }
      ? boolean
      : string;
};

const CONNECTION = ["help", "json", "cloud", "endpoint", "scope", "ca-cert", "retries", "timeout", "poll-interval"] as const;
const FLEET = [
  ...CONNECTION,
  "targets-file",
  "name",
  "concurrency",
  "dry-run",
  "subscription",
  "resource-group",
  "tag",
  "machine-types",
  "workspace",
  "dcr",
  "user-assigned-identity",
  "logs-endpoint",
  "logs-scope",
] as const;
const ALLOWED: Record<"dcr" | "plan" | "migrate", readonly string[]> = {
  dcr: [...CONNECTION, "workspace", "dcr", "location", "create"],
  // plan takes migrate's options too, so the same command line can be planned and then run.
  plan: [...FLEET, "keep-legacy", "heartbeat-timeout", "heartbeat-interval", "ama-version"],
  migrate: [...FLEET, "batch", "max-failures", "journal", "resume", "keep-legacy", "heartbeat-timeout", "heartbeat-interval", "ama-version", "location"],
};

const MIGRATE_USAGE = `omsagent-fleet migrate — move machines from OmsAgentForLinux to the Azure Monitor Agent (AMA)

Usage:
  omsagent-fleet migrate dcr  --workspace <workspace id> [--dcr <rule id> --create] [--location <region>]
  omsagent-fleet migrate plan --workspace <workspace id> --dcr <rule id> [targets...] [-f file] [selection] [--json]
  omsagent-fleet migrate      --workspace <workspace id> --dcr <rule id> [targets...] [-f file] [selection] [options]
  omsagent-fleet migrate      --resume <journal> [options]

  --workspace <id>              the Log Analytics workspace's resource id (/subscriptions/…/workspaces/<name>)
  --dcr <id>                    the data collection rule's resource id (/subscriptions/…/dataCollectionRules/<name>)
  --create                      dcr: create (or update) the rule instead of printing it
  --user-assigned-identity <id> AMA on VMs and scale sets authenticates with this identity (default: the
                                system-assigned one, or the only user-assigned one)
  --keep-legacy                 leave OmsAgentForLinux installed after AMA is verified (default: remove it)
  --heartbeat-timeout <d>       how long to wait for AMA's first heartbeat in the workspace (default 20m)
  --heartbeat-interval <d>      how often the shared heartbeat query runs (default 60s)
  --ama-version <major.minor>   AzureMonitorLinuxAgent typeHandlerVersion (default 1.0; minor upgrades automatic)
  --logs-endpoint <url>         Log Analytics query endpoint (default from the cloud, e.g. https://api.loganalytics.io)
  --batch, --max-failures, --journal, --resume, --concurrency, --timeout, --name, --dry-run and the Resource
  Graph selection work as for deploy (omsagent-fleet --help). A machine whose heartbeat never comes keeps
  OmsAgentForLinux and counts against --max-failures; so do blocked machines (run migrate plan first).

Exit status: 0 every machine migrated (or already was), 1 at least one failed or was blocked, 2 usage error,
3 stopped by --max-failures, 130 interrupted (resume with --resume).
`;

const DEFAULT_HEARTBEAT_TIMEOUT_MS = 20 * 60_000;
const DEFAULT_HEARTBEAT_INTERVAL_MS = 60_000;
/** 1.0 with automatic minor upgrades gets the newest 1.x, as the portal and the built-in policies do. */
const DEFAULT_AMA_VERSION = "1.0";

interface Parsed {
  sub: "dcr" | "plan" | "migrate";
  values: Values;
  positionals: string[];
}

function parse(argv: string[]): Parsed {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: MIGRATE_OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    usage(`${(e as Error).message.replace(/\. To specify a positional argument.*$/s, "")} (see: omsagent-fleet migrate --help)`);
  }
  const first = parsed.positionals[0];
  const sub = first === "dcr" || first === "plan" ? first : "migrate";
  const positionals = sub === "migrate" ? parsed.positionals : parsed.positionals.slice(1);
  const misplaced = Object.keys(parsed.values).filter((k) => !ALLOWED[sub].includes(k));
  if (misplaced.length > 0)
    usage(
      `${misplaced.map((k) => `--${k}`).join(", ")} ${misplaced.length === 1 ? "does" : "do"} not apply to "migrate${sub === "migrate" ? "" : ` ${sub}`}" (see: omsagent-fleet migrate --help)`,
    );
  if (sub === "dcr" && positionals.length > 0) usage(`migrate dcr takes no targets (got "${positionals[0]}")`);
  return { sub, values: parsed.values as Values, positionals };
}

/** `/subscriptions/<s>/resourceGroups/<rg>/providers/<provider>/<type>/<name>` split, or a usage error. */
function resourceId(text: string | undefined, flag: string, type: string): { id: string; subscriptionId: string; resourceGroup: string; name: string } {
  if (!text) usage(`${flag} is required: the ${type} resource id, e.g. /subscriptions/<guid>/resourceGroups/<rg>/providers/${type}/<name>`);
  const m = /^\/subscriptions\/([0-9a-f-]{36})\/resourceGroups\/([^/]+)\/providers\/([^/]+\/[^/]+)\/([^/]+)$/i.exec(text.trim().replace(/\/+$/, ""));
  if (!m || m[3]!.toLowerCase() !== type.toLowerCase())
    usage(`${flag} "${text}" is not a ${type} resource id; expected /subscriptions/<guid>/resourceGroups/<rg>/providers/${type}/<name>`);
  return { id: text.trim().replace(/\/+$/, ""), subscriptionId: m[1]!, resourceGroup: m[2]!, name: m[4]! };
}

export async function runMigrate(argv: string[], deps: RunDeps): Promise<number> {
  const out = new Output(deps.stdout, deps.stderr, Redactor.none());
  try {
    if (argv.includes("--help") || argv.includes("-h") || argv.length === 0) {
      out.out(MIGRATE_USAGE.trimEnd());
      return EXIT_OK;
    }
    const parsed = parse(argv);
    const fleet = fleetOptions(parsed.values as Parameters<typeof fleetOptions>[0], deps);
    if (parsed.values["ca-cert"] !== undefined) fleet.connection.caCertPem = await readCaCert(parsed.values["ca-cert"]);
    if (parsed.sub === "dcr") return await dcrCommand(parsed.values, fleet, deps, out);
    return await fleetCommand(parsed, fleet, deps, out);
  } catch (e) {
    if (e instanceof UsageError) {
      for (const line of e.message.split("\n")) out.err(`error: ${line}`);
      return EXIT_USAGE;
    }
    out.err(`error: unexpected failure: ${(e as Error)?.message ?? String(e)}`);
    return EXIT_FAILED;
  }
}

async function connect(
  fleet: FleetOptions,
  values: Values,
  deps: RunDeps,
  out: Output,
  needLogs: boolean,
): Promise<{ arm: ArmClients; monitor: MonitorClients } | undefined> {
  const arm = await createArmClients(fleet.connection);
  const problem = await checkToken(arm.credential, fleet.connection.scope, deps.signal);
  if (problem) {
    out.err(`error: ${problem}`);
    return undefined;
  }
  const endpoint = (values["logs-endpoint"] ?? LOGS_ENDPOINTS[fleet.connection.endpoint] ?? "").replace(/\/+$/, "");
  if (!endpoint && needLogs) usage(`no Log Analytics query endpoint is known for ${fleet.connection.endpoint}; give --logs-endpoint`);
  const monitor = await createMonitorClients(fleet.connection, arm.credential, {
    logsEndpoint: endpoint,
    logsScope: values["logs-scope"] ?? `${endpoint}/.default`,
  });
  return { arm, monitor };
}

async function dcrCommand(values: Values, fleet: FleetOptions, deps: RunDeps, out: Output): Promise<number> {
  const ws = resourceId(values.workspace, "--workspace", "Microsoft.OperationalInsights/workspaces");
  const rule = values.dcr !== undefined || values.create ? resourceId(values.dcr, "--dcr", "Microsoft.Insights/dataCollectionRules") : undefined;
  const clients = await connect(fleet, values, deps, out, false);
  if (!clients) return EXIT_FAILED;
  const signal = deps.signal ?? new AbortController().signal;
  let translation: ReturnType<typeof translate>;
  try {
    const workspace = await clients.monitor.workspaces(ws.subscriptionId).workspaces.get(ws.resourceGroup, ws.name, { abortSignal: signal });
    const sources = await readLegacyDataSources(clients.monitor.workspaces(ws.subscriptionId), ws.resourceGroup, ws.name, signal);
    translation = translate(sources, workspace.id ?? ws.id, values.location ?? workspace.location ?? "");
    out.err(
      `workspace ${ws.name} (${workspace.customerId ?? "?"}): ${sources.length} legacy data sources read, ${translation.translated} translated, ${translation.leftOut.length} left out`,
    );
  } catch (e) {
    out.err(`error: ${explainError(e, "reading the workspace's data sources", 0).message}`);
    return EXIT_FAILED;
  }
  for (const l of translation.leftOut) out.err(`left out: ${l.kind} ${l.name}: ${l.why}`);
  if (translation.translated === 0) {
    out.err("error: the workspace has no Linux syslog or performance collection to translate; nothing to put in a rule (a rule with no data flow is refused)");
    return EXIT_FAILED;
  }
  if (!values.create) {
    out.out(JSON.stringify(values.json ? { rule: translation.rule, leftOut: translation.leftOut } : translation.rule, null, 2));
    out.err(`not created: pass --dcr <rule id> --create to create it, or create it from this JSON (az monitor data-collection rule create --rule-file)`);
    return EXIT_OK;
  }
  try {
    const created = await clients.monitor.insights(rule!.subscriptionId).dataCollectionRules.create(rule!.resourceGroup, rule!.name, {
      // The SDK flattens the rule's `properties` (x-ms-client-flatten): given nested, they would be dropped.
      body: { location: translation.rule.location, kind: translation.rule.kind, ...translation.rule.properties },
      abortSignal: signal,
    });
    out.out(
      JSON.stringify(
        values.json ? { id: created.id, immutableId: created.immutableId, leftOut: translation.leftOut } : { id: created.id, immutableId: created.immutableId },
        null,
        2,
      ),
    );
    out.err(`created ${rule!.id}; next: omsagent-fleet migrate plan --workspace ${ws.id} --dcr ${rule!.id} <targets>`);
    return EXIT_OK;
  } catch (e) {
    out.err(`error: ${explainError(e, "PUT data collection rule", 0).message}`);
    return EXIT_FAILED;
  }
}

function migrationHeader(goal: MigrationTarget): Record<string, string | boolean> {
  return {
    workspace: goal.workspaceResourceId,
    dcr: goal.dcrId,
    legacyName: goal.legacyName,
    amaVersion: goal.amaVersion,
    keepLegacy: goal.keepLegacy,
    ...(goal.userAssignedIdentity ? { userAssignedIdentity: goal.userAssignedIdentity } : {}),
  };
}

async function fleetCommand(parsed: Parsed, fleet: FleetOptions, deps: RunDeps, out: Output): Promise<number> {
  const { values } = parsed;
  const selection = graphSelection(values as Parameters<typeof graphSelection>[0]);
  if (values.resume === undefined) return fleetRun(parsed, selection, undefined, fleet, deps, out);
  if (parsed.positionals.length > 0 || values["targets-file"] || selection)
    usage("--resume takes its targets from the journal; give no ids, -f or Resource Graph options with it");
  if (values.journal !== undefined) usage("--resume appends to the journal it resumes; --journal does not apply");
  const read = await resumeJournal(values.resume);
  if (!read.ok) usage(read.message);
  // The journal's lock is this run's until it ends, whatever way it ends.
  try {
    if (read.contents.header.command !== "migrate" || !read.contents.header.migration)
      usage(`${values.resume} is a ${read.contents.header.command} journal; resume it with omsagent-fleet ${read.contents.header.command} --resume`);
    return await fleetRun(parsed, selection, read.contents, fleet, deps, out);
  } finally {
    await read.release().catch(() => undefined);
  }
}

async function fleetRun(
  parsed: Parsed,
  selection: ReturnType<typeof graphSelection>,
  resumed: JournalContents | undefined,
  fleet: FleetOptions,
  deps: RunDeps,
  out: Output,
): Promise<number> {
  const { values } = parsed;
  const m = resumed?.header.migration;
  const ws = resourceId(values.workspace ?? (m?.workspace as string | undefined), "--workspace", "Microsoft.OperationalInsights/workspaces");
  const dcr = resourceId(values.dcr ?? (m?.dcr as string | undefined), "--dcr", "Microsoft.Insights/dataCollectionRules");
  const duration = (text: string | undefined, flag: string, fallback: number): number => {
    if (text === undefined) return fallback;
    const d = parseDuration(text, flag);
    if (!d.ok) usage(d.message);
    return d.ms;
  };
  const amaVersion = values["ama-version"] ?? (m?.amaVersion as string | undefined) ?? DEFAULT_AMA_VERSION;
  if (!/^\d+\.\d+$/.test(amaVersion)) usage(`--ama-version "${amaVersion}" must be major.minor, e.g. 1.0`);
  const goalWithoutWorkspace = {
    workspaceResourceId: ws.id,
    dcrId: dcr.id,
    legacyName: fleet.name,
    amaVersion,
    keepLegacy: values["keep-legacy"] === true || m?.keepLegacy === true,
    ...((values["user-assigned-identity"] ?? m?.userAssignedIdentity)
      ? { userAssignedIdentity: String(values["user-assigned-identity"] ?? m?.userAssignedIdentity) }
      : {}),
  };
  if (m) {
    const now = migrationHeader({ ...goalWithoutWorkspace, workspaceCustomerId: "" });
    const differ = Object.keys({ ...m, ...now }).filter((k) => String(m[k] ?? "") !== String(now[k] ?? ""));
    if (differ.length > 0)
      usage(
        `cannot resume ${values.resume}: ${differ.map((k) => `${k} was ${JSON.stringify(m[k] ?? null)}, now ${JSON.stringify(now[k] ?? null)}`).join("; ")}`,
      );
  }
  const heartbeatTimeoutMs = duration(values["heartbeat-timeout"], "--heartbeat-timeout", DEFAULT_HEARTBEAT_TIMEOUT_MS);
  const heartbeatIntervalMs = duration(values["heartbeat-interval"], "--heartbeat-interval", DEFAULT_HEARTBEAT_INTERVAL_MS);

  const hand = resumed
    ? { sources: resumed.header.targets.map((value, i) => ({ value, where: `${values.resume} target ${i + 1}` })), problems: [] }
    : await loadTargetSources(parsed.positionals, values["targets-file"] ?? []);
  if (hand.problems.length > 0) usage(hand.problems.join("\n"));
  if (hand.sources.length === 0 && !selection)
    usage(
      "no targets: give resource ids as arguments, in a file with -f, or select them with --subscription/--resource-group/--tag (see: omsagent-fleet migrate --help)",
    );

  const clients = await connect(fleet, values, deps, out, parsed.sub === "migrate");
  if (!clients) return EXIT_FAILED;
  const sources = [...hand.sources];
  if (selection) {
    try {
      const found = await queryMachines(clients.arm.graph(), selection, deps.signal, fleet.graphPageSize);
      // Windows machines run the Windows agents; a selection across a subscription finds them too. They are left
      // out here rather than blocked one by one, which would spend the failure budget on them.
      const linux = found.machines.filter((machine) => !notLinuxReason(machine));
      for (const machine of linux) sources.push({ value: machine.id, where: "Resource Graph" });
      const others = found.machines.length - linux.length;
      out.err(
        `Resource Graph: ${found.machines.length} machines (${describeSelection(selection)})${others > 0 ? `; ${others} not Linux, left out (Windows machines move to AzureMonitorWindowsAgent)` : ""}`,
      );
    } catch (e) {
      out.err(`error: ${explainError(e, "Resource Graph query", 0).message}`);
      return EXIT_FAILED;
    }
  }
  const list = buildTargetList(sources);
  if (list.problems.length > 0) usage(list.problems.join("\n"));

  const signal = deps.signal ?? new AbortController().signal;
  let customerId: string;
  try {
    const workspace = await clients.monitor.workspaces(ws.subscriptionId).workspaces.get(ws.resourceGroup, ws.name, { abortSignal: signal });
    customerId = workspace.customerId ?? "";
    await clients.monitor.insights(dcr.subscriptionId).dataCollectionRules.get(dcr.resourceGroup, dcr.name, { abortSignal: signal });
  } catch (e) {
    out.err(
      `error: ${explainError(e, "reading the workspace and the data collection rule", 0).message} (create the rule first: omsagent-fleet migrate dcr --workspace ${ws.id} --dcr ${dcr.id} --create)`,
    );
    return EXIT_FAILED;
  }
  const goal: MigrationTarget = { ...goalWithoutWorkspace, workspaceCustomerId: customerId };
  const preset = new Map<string, Row>();
  for (const t of resumed ? list.targets : []) {
    if (resumed!.last.get(t.key)?.state === "succeeded")
      preset.set(t.key, presetRow(t, { result: "ok", code: 0, message: `migrated in an earlier run (journal ${values.resume})` }));
  }
  const actionable = list.targets.filter((t) => !preset.has(t.key));
  const waves = parsed.sub === "migrate" ? waveOptions(values as Parameters<typeof waveOptions>[0], actionable.length) : {};
  out.err(
    `migrate${parsed.sub === "plan" ? " plan" : ""}: ${list.targets.length} targets (${countKinds(list.targets)})${preset.size > 0 ? `, ${actionable.length} to do` : ""} to AMA → workspace ${ws.name} (${customerId}) via ${dcr.name}, concurrency ${fleet.concurrency}${waves.batch !== undefined ? `, waves of ${waves.batch}` : ""}${waves.maxFailures !== undefined ? `, at most ${waves.maxFailures} failures` : ""}`,
  );
  if (values["dry-run"]) {
    for (const t of list.targets) out.out(`${t.kind.padEnd(4)}  ${t.label}  ${t.id}`);
    out.err(`dry run: nothing was sent to Azure (endpoint ${fleet.connection.endpoint})`);
    return EXIT_OK;
  }

  const ops = new MachineOps(clients.arm, { pollIntervalMs: fleet.pollIntervalMs });
  if (parsed.sub === "plan") return planCommand(list.targets, clients, ops, goal, fleet, values, deps, out);

  let journal: Journal;
  try {
    journal = resumed ? await Journal.reopen(values.resume!, (s) => out.redactor.redact(s)) : await newJournal(values, deps, fleet, goal, actionable);
  } catch (e) {
    usage(
      `cannot write the journal: ${(e as NodeJS.ErrnoException).code === "EEXIST" ? `${(e as NodeJS.ErrnoException).path ?? "the file"} already exists (resume it with --resume, or choose another --journal)` : (e as Error).message}`,
    );
  }
  out.err(`journal: ${journal.path}`);
  const ctx: MigrateContext = {
    arm: clients.arm,
    monitor: clients.monitor,
    ops,
    goal,
    watcher: new HeartbeatWatcher(clients.monitor.logs(), customerId, heartbeatIntervalMs),
    heartbeatTimeoutMs,
    pollIntervalMs: fleet.pollIntervalMs,
    journal,
  };
  const started = performance.now();
  const run = await runFleet(actionable, (t, s) => migrateMachine(ctx, t, resumed?.last.get(t.key)?.state, s), {
    concurrency: fleet.concurrency,
    // The per-machine deadline covers the heartbeat wait too, unless --timeout says otherwise.
    timeoutMs: values.timeout !== undefined ? fleet.timeoutMs : Math.max(fleet.timeoutMs, heartbeatTimeoutMs + 15 * 60_000),
    what: "migrate",
    ...waves,
    ...(deps.signal ? { signal: deps.signal } : {}),
    onWave: (wave, total, size) => {
      if (total > 1) out.err(`wave ${wave}/${total}: ${size} ${size === 1 ? "machine" : "machines"}`);
    },
    onRow: (row, done, total) => {
      out.err(progressLine(row, done, total));
      const final: MachineState | undefined = row.result === "ok" ? "succeeded" : row.result === "failed" ? "failed" : undefined;
      if (final) void journal.record(row.id, final, { result: row.result, code: row.code, message: row.message }).catch(() => undefined);
    },
  });
  const seconds = (performance.now() - started) / 1000;
  await journal.close();
  const byKey = new Map(actionable.map((t, i) => [t.key, run.rows[i]!]));
  const rows = list.targets.map((t) => preset.get(t.key) ?? byKey.get(t.key)!);
  const neverTouched = rows.filter((r) => r.result === "not-started");
  if (values.json) {
    const { results, ...head } = jsonReport(
      "migrate",
      rows,
      seconds,
      list.duplicates.map((d) => d.value),
      { workspace: ws.id, dcr: dcr.id, extension: AMA_NAME },
    );
    writeJsonDocument(
      out,
      {
        ...head,
        heartbeatQueries: ctx.watcher.queries,
        journal: journal.path,
        ...(run.stopped ? { stopped: { reason: "failure budget spent", ...run.stopped } } : {}),
      },
      results,
    );
    out.err(summaryLine(rows));
  } else {
    for (const line of table(rows)) out.out(line);
    if (run.stopped)
      out.out(`Stopped: ${run.stopped.failures} failures exceeded --max-failures ${run.stopped.maxFailures}; ${neverTouched.length} never touched`);
    out.out(summaryLine(rows));
  }
  out.err(`heartbeat queries: ${ctx.watcher.queries}`);
  if (deps.signal?.aborted || run.stopped || rows.some((r) => r.result !== "ok"))
    out.err(`resume with: omsagent-fleet migrate --resume ${journal.path} (migrated machines are skipped, finished steps are not repeated)`);
  if (deps.signal?.aborted) return EXIT_INTERRUPTED;
  if (run.stopped) return EXIT_STOPPED;
  return rows.every((r) => r.result === "ok") ? EXIT_OK : EXIT_FAILED;
}

async function newJournal(values: Values, deps: RunDeps, fleet: FleetOptions, goal: MigrationTarget, targets: Target[]): Promise<Journal> {
  const env = deps.env ?? process.env;
  const path = values.journal ?? (await defaultJournalPath(env, "migrate"));
  const header: JournalHeader = {
    type: "run",
    version: JOURNAL_VERSION,
    command: "migrate",
    started: new Date().toISOString(),
    endpoint: fleet.connection.endpoint,
    extension: { name: AMA_NAME, typeHandlerVersion: goal.amaVersion, autoUpgradeMinorVersion: true, enableAutomaticUpgrade: true },
    settingsSha256: settingsHash(migrationHeader(goal)),
    targets: targets.map((t) => t.id),
    migration: migrationHeader(goal),
  };
  return Journal.create(path, header, (s) => s);
}

interface PlanRow {
  target: Target;
  view?: MachineView;
  plan?: MigrationPlan;
  error?: string;
}

async function planCommand(
  targets: Target[],
  clients: { arm: ArmClients; monitor: MonitorClients },
  ops: MachineOps,
  goal: MigrationTarget,
  fleet: FleetOptions,
  values: Values,
  deps: RunDeps,
  out: Output,
): Promise<number> {
  const lines = new Map<string, PlanRow>();
  const started = performance.now();
  await runFleet(
    targets,
    async (t, signal) => {
      const view = await inspect(clients.arm, clients.monitor, ops, t, goal, signal);
      const plan = planFor(view, goal);
      lines.set(t.key, { target: t, view, plan });
      return { result: "ok", code: null, message: plan.message };
    },
    {
      concurrency: fleet.concurrency,
      timeoutMs: fleet.timeoutMs,
      what: "migrate plan",
      ...(deps.signal ? { signal: deps.signal } : {}),
      onRow: (row) => {
        if (row.result !== "ok") lines.set(row.id.toLowerCase(), { target: targets.find((t) => t.id === row.id)!, error: row.message });
      },
    },
  );
  const rows = targets.map((t) => lines.get(t.key) ?? { target: t, error: "not read (interrupted)" });
  const action = (r: PlanRow): string => r.plan?.action ?? "error";
  const count = (a: string): number => rows.filter((r) => action(r) === a).length;
  const summary = `migrate plan: ${count("create")} to migrate, ${count("unchanged")} unchanged, ${count("blocked")} blocked, ${count("error")} could not be read; nothing was changed`;
  if (values.json) {
    const results = rows.map((r) => ({
      machine: r.target.label,
      id: r.target.id,
      kind: r.target.kind,
      action: action(r),
      ...(r.plan?.reason ? { reason: r.plan.reason } : {}),
      ...(r.error ? { error: r.error } : {}),
      steps: r.plan?.steps ?? [],
      legacy: r.view?.legacy
        ? { version: r.view.legacy.typeHandlerVersion ?? null, workspaceId: r.view.legacy.workspaceId ?? null, state: r.view.legacy.provisioningState ?? null }
        : null,
      ama: r.view?.ama ? { version: r.view.ama.typeHandlerVersion ?? null, state: r.view.ama.provisioningState ?? null } : null,
      associations: r.view?.associations.map((a) => a.dataCollectionRuleId) ?? [],
      identity: r.view ? ("blocked" in r.view.identity ? null : r.view.identity) : null,
    }));
    writeJsonDocument(
      out,
      {
        command: "migrate plan",
        summary: {
          total: rows.length,
          create: count("create"),
          unchanged: count("unchanged"),
          blocked: count("blocked"),
          error: count("error"),
          seconds: Math.round((performance.now() - started) / 100) / 10,
        },
      },
      results,
    );
    out.err(summary);
  } else {
    const cells = rows.map((r) => [r.target.label, action(r), r.plan?.reason ?? r.error ?? r.plan?.message ?? ""]);
    const w0 = Math.max(7, ...cells.map((c) => c[0]!.length));
    out.out(`${"MACHINE".padEnd(w0)}  ${"ACTION".padEnd(9)}  DETAIL`);
    for (const c of cells) out.out(`${c[0]!.padEnd(w0)}  ${c[1]!.padEnd(9)}  ${c[2]}`);
    out.out(summary);
  }
  return rows.every((r) => r.plan && r.plan.action !== "blocked") ? EXIT_OK : EXIT_FAILED;
}
