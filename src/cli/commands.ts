// The four commands. `run` is the whole CLI as a function (argv in, exit code out) so tests and the benchmark
// drive exactly what operators run, with only the credential, streams and backoff timings injected.
import { readFile } from "node:fs/promises";
import type { TokenCredential } from "@azure/identity";
import { parseCommandLine, parseCountOrPercent, parseDuration, parseInteger, USAGE, type Command, type Values } from "./args.ts";
import { EXTENSION_TYPE, PUBLISHER } from "../shared/identity.ts";
import { MachineOps, NOT_LINUX, notLinuxOutcome, type DeployHooks, type ExtensionSpec, type Outcome, type PlanItem } from "./arm.ts";
import { CLOUDS, createArmClients, defaultScope, type ArmClients, type ArmConnection } from "./clients.ts";
import { diagnose, failingChecks, type DoctorVerdict } from "./diagnose.ts";
import { explainError } from "./errors.ts";
import { parseKinds, parseTag, notLinuxReason, queryMachines, type GraphSelection } from "./graph.ts";
import {
  defaultJournalPath,
  Journal,
  JOURNAL_VERSION,
  resumeJournal,
  settingsHash,
  type JournalContents,
  type JournalHeader,
  type MachineState,
} from "./journal.ts";
import { Redactor } from "../shared/redact.ts";
import { jsonReport, Output, planReport, planTable, progressLine, summaryLine, table, writeJsonDocument, type Sink } from "./report.ts";
import { DEFAULT_RETRY, type RetryOptions } from "./retry.ts";
import { CLI_VERSION, commandHelp } from "./help.ts";
import { checkEndpoint, tlsTrustError } from "./preflight.ts";
import { presetRow, runFleet, type FleetRun, type Row } from "./rollout.ts";
import { runMigrate } from "./migrate/command.ts";
import { checkSettings, fleetSettingsProblems, readJsonInput } from "./settings-input.ts";
import { buildTargetList, loadTargetSources, type Target } from "./targets.ts";
import type { PacingOptions } from "./throttle.ts";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** The failure budget (--max-failures) stopped the run before every machine was started. */
export const EXIT_STOPPED = 3;
export const EXIT_INTERRUPTED = 130;

export const DEFAULT_TYPE_HANDLER_VERSION = "1.19";
const DEFAULT_CONCURRENCY = 16;
const DEFAULT_TIMEOUT_MS = 45 * 60_000; // above the guest agent's worst case (install 900 s + enable 300 s) plus ARM's own time
const DEFAULT_POLL_MS = 10_000;

export interface RunDeps {
  stdout: Sink;
  stderr: Sink;
  env?: NodeJS.ProcessEnv;
  /** Replaces DefaultAzureCredential. */
  credential?: TokenCredential;
  readStdin?: () => Promise<string>;
  /** Ctrl-C. */
  signal?: AbortSignal;
  /** Backoff timings (tests use milliseconds); --retries still sets the count. */
  retry?: Partial<RetryOptions>;
  /** Told about the secrets as soon as they are read, so a process-wide output guard can redact too. */
  onRedactor?: (redactor: Redactor) => void;
  /** Write pacing (tests use a small reserve and short spans). */
  pacing?: Partial<PacingOptions>;
  /** Resource Graph page size (tests force several pages). */
  graphPageSize?: number;
}

export class UsageError extends Error {}

export function usage(message: string): never {
  throw new UsageError(message);
}

async function readStdinDefault(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function run(argv: string[], deps: RunDeps): Promise<number> {
  if (argv[0] === "migrate") return runMigrate(argv.slice(1), deps);
  const out = new Output(deps.stdout, deps.stderr, Redactor.none());
  if (argv.length === 0) {
    // Nothing asked: the usage goes to stderr and the exit says it was not a successful run.
    out.err(USAGE.trimEnd());
    return EXIT_USAGE;
  }
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
    out.out(`omsagent-fleet ${CLI_VERSION}`);
    return EXIT_OK;
  }
  const parsed = parseCommandLine(argv);
  if (!parsed.ok) {
    out.err(`error: ${parsed.message}`);
    return EXIT_USAGE;
  }
  if (parsed.command === "help") {
    out.out(USAGE.trimEnd());
    return EXIT_OK;
  }
  if (parsed.values.help) {
    out.out(commandHelp(parsed.command));
    return EXIT_OK;
  }
  try {
    return await dispatch(parsed.command, parsed.values, parsed.positionals, deps, out);
  } catch (e) {
    if (e instanceof UsageError) {
      for (const line of e.message.split("\n")) out.err(`error: ${line}`);
      return EXIT_USAGE;
    }
    // Never print the error object: SDK errors carry the request, and with it the protected settings.
    out.err(`error: unexpected failure: ${(e as Error)?.message ?? String(e)}`);
    return EXIT_FAILED;
  }
}

/** What a run holds until it ends, whatever way it ends (the journal's lock). */
type Held = { release?: () => Promise<void> };

async function dispatch(command: Command, values: Values, positionals: string[], deps: RunDeps, out: Output): Promise<number> {
  const held: Held = {};
  try {
    return await dispatchHeld(command, values, positionals, deps, out, held);
  } finally {
    await held.release?.().catch(() => undefined);
  }
}

async function dispatchHeld(command: Command, values: Values, positionals: string[], deps: RunDeps, out: Output, held: Held): Promise<number> {
  const settings = await readSettings(values, command, deps, out);
  if (command === "validate") return validate(settings, values, out);

  const fleet = fleetOptions(values, deps);
  if (values["ca-cert"] !== undefined) fleet.connection.caCertPem = await readCaCert(values["ca-cert"]);
  const selection = graphSelection(values);

  // --resume: the targets and the extension come from the journal; only the settings are given again.
  let resumed: JournalContents | undefined;
  if (values.resume !== undefined) {
    if (positionals.length > 0 || values["targets-file"] || selection)
      usage("--resume takes its targets from the journal; give no ids, -f or Resource Graph options with it");
    if (values.journal !== undefined) usage("--resume appends to the journal it resumes; --journal does not apply");
    const read = await resumeJournal(values.resume);
    if (!read.ok) usage(read.message);
    held.release = read.release;
    resumed = read.contents;
  }
  const hand = resumed
    ? { sources: resumed.header.targets.map((value, i) => ({ value, where: `${values.resume} target ${i + 1}` })), problems: [] }
    : await loadTargetSources(positionals, values["targets-file"] ?? []);
  if (hand.problems.length > 0) usage(hand.problems.join("\n"));
  if (hand.sources.length === 0 && !selection)
    usage(
      `no targets: give resource ids as arguments, in a file with -f, or select them from Resource Graph with --subscription/--resource-group/--tag (see: omsagent-fleet ${command} --help)`,
    );

  let spec: ExtensionSpec | undefined;
  if (command === "deploy" || command === "plan") {
    const version = typeHandlerVersion(values);
    const check = checkSettings(settings.public, settings.protected);
    for (const w of check.warnings) out.err(`warning: ${w}`);
    if (check.problems.length > 0) {
      usage(`settings are invalid; nothing was sent to Azure:\n${check.problems.map((p) => `  ${p.field} ${p.message}`).join("\n")}`);
    }
    spec = {
      name: fleet.name,
      typeHandlerVersion: version,
      autoUpgradeMinorVersion: !values["no-auto-upgrade-minor-version"],
      enableAutomaticUpgrade: values["enable-automatic-upgrade"] === true,
      ...(values["force-update-tag"] !== undefined ? { forceUpdateTag: values["force-update-tag"] } : {}),
      settings: settings.public as Record<string, unknown>,
      protectedSettings: (settings.protected ?? {}) as Record<string, unknown>,
    };
    if (resumed) checkResumable(resumed.header, spec, values.resume!);
  }

  // Resource Graph is read-only, so even --dry-run runs the query (it is how the target list is known).
  let clients: ArmClients | undefined;
  const connect = async (): Promise<ArmClients | undefined> => {
    clients = await createArmClients(fleet.connection);
    const tokenProblem = await checkToken(clients.credential, fleet.connection.scope, deps.signal);
    if (tokenProblem) {
      out.err(`error: ${tokenProblem}`);
      return undefined;
    }
    return clients;
  };
  const sources = [...hand.sources];
  const notLinux = new Map<string, string>();
  if (selection) {
    if (!(await connect())) return EXIT_FAILED;
    let found: Awaited<ReturnType<typeof queryMachines>>;
    try {
      found = await queryMachines(clients!.graph(), selection, deps.signal, fleet.graphPageSize);
    } catch (e) {
      const tls = tlsTrustError(e);
      out.err(
        `error: ${tls ? `the TLS certificate of ${fleet.connection.endpoint} is not trusted (${tls}); nothing was sent — if the endpoint uses its own CA, pass it with --ca-cert <pem>` : explainError(e, "Resource Graph query", 0).message}`,
      );
      return EXIT_FAILED;
    }
    for (const m of found.machines) {
      sources.push({ value: m.id, where: "Resource Graph" });
      const reason = notLinuxReason(m);
      if (reason) notLinux.set(m.id.toLowerCase(), reason);
    }
    out.err(
      `Resource Graph: ${found.machines.length} ${found.machines.length === 1 ? "machine" : "machines"} in ${found.pages} ${found.pages === 1 ? "page" : "pages"} (${describeSelection(selection)})`,
    );
  }
  const list = buildTargetList(sources);
  if (list.problems.length > 0) usage(list.problems.join("\n"));
  let graphDuplicates = 0;
  for (const d of list.duplicates) {
    if (d.where === "Resource Graph") graphDuplicates++;
    else out.err(`warning: ${d.where}: duplicate of a target already listed (ids compare case-insensitively); ignored`);
  }
  if (graphDuplicates > 0)
    out.err(`${graphDuplicates} ${graphDuplicates === 1 ? "machine" : "machines"} from Resource Graph already listed by id; each is handled once`);

  // Machines that are not Linux are not targets: listed as skipped with the reason, never sent anything.
  const preset = new Map<string, Row>();
  for (const t of list.targets) {
    const reason = notLinux.get(t.key);
    if (reason) preset.set(t.key, presetRow(t, { result: "skipped", code: null, errorCode: NOT_LINUX, message: reason }));
  }
  if (resumed) {
    for (const t of list.targets) {
      if (resumed.last.get(t.key)?.state === "succeeded") {
        preset.set(t.key, presetRow(t, { result: "ok", code: 0, message: `succeeded in an earlier run (journal ${values.resume})` }));
      }
    }
  }
  const actionable = list.targets.filter((t) => !preset.has(t.key));
  if (command === "deploy") {
    const problems = fleetSettingsProblems(settings.protected, list.targets.length);
    if (problems.length > 0) usage(`settings are invalid; nothing was sent to Azure:\n${problems.map((p) => `  ${p.field} ${p.message}`).join("\n")}`);
  }
  const waves = waveOptions(values, actionable.length);

  const kinds = countKinds(list.targets);
  out.err(
    `${command} ${fleet.name}${spec ? ` ${spec.typeHandlerVersion}` : ""}: ${list.targets.length} ${list.targets.length === 1 ? "target" : "targets"} (${kinds})${preset.size > 0 ? `, ${actionable.length} to do` : ""}, concurrency ${fleet.concurrency}${waves.batch !== undefined ? `, waves of ${waves.batch}` : ""}${waves.maxFailures !== undefined ? `, at most ${waves.maxFailures} failures` : ""}, timeout ${values.timeout ?? "45m"} per machine`,
  );
  if (values["dry-run"]) {
    for (const t of list.targets)
      out.out(`${t.kind.padEnd(4)}  ${t.label}  ${t.id}${preset.has(t.key) ? `  (${preset.get(t.key)!.result}: ${preset.get(t.key)!.message})` : ""}`);
    out.err(`dry run: nothing was sent to Azure (endpoint ${fleet.connection.endpoint})`);
    return EXIT_OK;
  }
  if (list.targets.length === 0) {
    out.err("no machines matched; nothing to do");
    return EXIT_OK;
  }

  if (!clients && !(await connect())) return EXIT_FAILED;
  // Trust and api-versions once, before any machine: otherwise every machine fails the same way.
  const endpointCheck = await checkEndpoint(clients!, fleet.connection.endpoint, actionable, command === "diagnose", deps.signal);
  for (const w of endpointCheck.warnings) out.err(`warning: ${w}`);
  if (endpointCheck.problem) {
    out.err(`error: ${endpointCheck.problem}`);
    return EXIT_FAILED;
  }
  const ops = new MachineOps(clients!, { pollIntervalMs: fleet.pollIntervalMs });

  let journal: Journal | undefined;
  if (command === "deploy") {
    try {
      journal = resumed
        ? await Journal.reopen(values.resume!, (text) => out.redactor.redact(text))
        : await newJournal(values, deps, fleet, spec!, actionable, out);
    } catch (e) {
      usage(
        `cannot write the journal: ${(e as NodeJS.ErrnoException).code === "EEXIST" ? `${(e as NodeJS.ErrnoException).path ?? "the file"} already exists (resume it with --resume, or choose another --journal)` : (e as Error).message}`,
      );
    }
    out.err(`journal: ${journal.path}`);
  }

  const plans = new Map<string, PlanItem>();
  const verdicts = new Map<string, DoctorVerdict>();
  const location = values.location;
  const work = async (t: Target, signal: AbortSignal): Promise<Outcome> => {
    if (command === "plan") {
      const item = await ops.plan(t, spec!, signal);
      plans.set(t.key, item);
      return { result: "ok", code: null, message: item.message };
    }
    if (command === "status") return ops.status(t, fleet.name, signal);
    if (command === "diagnose") {
      // A Linux script is never sent to a machine that does not run Linux.
      const parent = await ops.parent(t, signal);
      const skip = notLinuxOutcome(t, parent);
      if (skip) return skip;
      const done = await diagnose(clients!, t, values.offline === true, signal, async () => parent.location ?? ops.location(t, signal), fleet.pollIntervalMs);
      if (done.verdict) verdicts.set(t.label, done.verdict);
      return done.outcome;
    }
    if (command === "remove") return ops.remove(t, fleet.name, signal);
    const hooks: DeployHooks = journal
      ? { beforePut: () => journal.record(t.id, "sending"), onAccepted: () => void journal.record(t.id, "accepted").catch(() => undefined) }
      : {};
    const last = resumed?.last.get(t.key)?.state;
    return last === "sending" || last === "accepted"
      ? ops.resumeDeploy(t, spec!, location, signal, hooks, last)
      : ops.deploy(t, spec!, location, signal, hooks);
  };

  const started = performance.now();
  const run = await runFleet(actionable, work, {
    concurrency: fleet.concurrency,
    timeoutMs: fleet.timeoutMs,
    what: command,
    ...waves,
    ...(deps.signal ? { signal: deps.signal } : {}),
    onWave: (wave, total, size) => {
      if (total > 1) out.err(`wave ${wave}/${total}: ${size} ${size === 1 ? "machine" : "machines"}`);
    },
    onRow: (row, done, total) => {
      out.err(progressLine(row, done, total));
      const final = FINAL_STATE[row.result];
      if (journal && final) {
        void journal.record(row.id, final, { result: row.result, code: row.code, message: row.message }).catch(() => undefined);
      }
    },
  });
  const seconds = (performance.now() - started) / 1000;
  const byKey = new Map(actionable.map((t, i) => [t.key, run.rows[i]!]));
  const rows = list.targets.map((t) => preset.get(t.key) ?? byKey.get(t.key)!);
  if (journal) await journal.close();

  if (command === "plan") {
    reportPlan(rows, list.targets, plans, seconds, values, out);
  } else if (command === "diagnose") {
    reportDiagnose(
      rows,
      verdicts,
      seconds,
      list.duplicates.map((d) => d.value),
      values,
      out,
    );
  } else {
    report(
      command,
      rows,
      seconds,
      list.duplicates.map((d) => d.value),
      spec,
      values,
      out,
      run.stopped,
      journal?.path,
    );
  }
  if (clients!.pacer.paced > 0)
    out.err(
      `paced ${clients!.pacer.paced} writes (${(clients!.pacer.waitedMs / 1000).toFixed(1)} s of waiting in all) to stay under ARM's remaining-request counts`,
    );
  if (journal?.error) out.err(`warning: the journal could not be written (${journal.error.message}); a resume may repeat work`);
  if (journal && (deps.signal?.aborted || run.stopped || rows.some((r) => r.result !== "ok" && r.errorCode !== NOT_LINUX))) {
    out.err(
      `resume with: omsagent-fleet deploy --resume ${journal.path} --settings <…> --protected-settings <…> (succeeded machines are skipped, operations in flight are polled, the rest retried)`,
    );
  }
  if (deps.signal?.aborted) return EXIT_INTERRUPTED;
  if (run.stopped) return EXIT_STOPPED;
  return rows.every((r) => r.result === "ok" || r.errorCode === NOT_LINUX) ? EXIT_OK : EXIT_FAILED;
}

/** Rows whose outcome is final for the journal; timeouts and interrupts keep their last state (in flight). */
const FINAL_STATE: Partial<Record<Row["result"], MachineState>> = { ok: "succeeded", failed: "failed", transitioning: "failed", "not-installed": "failed" };

function checkResumable(header: JournalHeader, spec: ExtensionSpec, path: string): void {
  const problems: string[] = [];
  if (header.command !== "deploy") problems.push(`it is a ${header.command} journal`);
  const e = header.extension;
  const now = {
    name: spec.name,
    typeHandlerVersion: spec.typeHandlerVersion,
    autoUpgradeMinorVersion: spec.autoUpgradeMinorVersion,
    enableAutomaticUpgrade: spec.enableAutomaticUpgrade,
    forceUpdateTag: spec.forceUpdateTag,
  };
  for (const key of Object.keys(now) as (keyof typeof now)[]) {
    if ((e[key] ?? undefined) !== (now[key] ?? undefined))
      problems.push(`${key} was ${JSON.stringify(e[key] ?? null)}, now ${JSON.stringify(now[key] ?? null)}`);
  }
  if (header.settingsSha256 !== settingsHash(spec.settings)) problems.push("the public settings differ");
  if (problems.length > 0) usage(`cannot resume ${path}: ${problems.join("; ")} — resume with the same settings and options, or start a new run`);
}

async function newJournal(values: Values, deps: RunDeps, fleet: FleetOptions, spec: ExtensionSpec, targets: Target[], out: Output): Promise<Journal> {
  const env = deps.env ?? process.env;
  const path = values.journal ?? (await defaultJournalPath(env, "deploy"));
  const header: JournalHeader = {
    type: "run",
    version: JOURNAL_VERSION,
    command: "deploy",
    started: new Date().toISOString(),
    endpoint: fleet.connection.endpoint,
    extension: {
      name: spec.name,
      typeHandlerVersion: spec.typeHandlerVersion,
      autoUpgradeMinorVersion: spec.autoUpgradeMinorVersion,
      enableAutomaticUpgrade: spec.enableAutomaticUpgrade,
      ...(spec.forceUpdateTag !== undefined ? { forceUpdateTag: spec.forceUpdateTag } : {}),
    },
    settingsSha256: settingsHash(spec.settings),
    targets: targets.map((t) => t.id),
  };
  return Journal.create(path, header, (text) => out.redactor.redact(text));
}

export function graphSelection(values: Values): GraphSelection | undefined {
  if (!values.subscription && !values["resource-group"] && !values.tag && values["machine-types"] === undefined) return undefined;
  const problems: string[] = [];
  const subscriptions = (values.subscription ?? [])
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of subscriptions)
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s)) problems.push(`--subscription "${s}" is not a subscription id (GUID)`);
  const tags = (values.tag ?? []).map((t) => {
    const parsed = parseTag(t);
    if (!parsed.ok) problems.push(parsed.message);
    return parsed.ok ? parsed.tag : { key: "" };
  });
  const kinds = parseKinds(values["machine-types"] ?? "vm,vmss,arc");
  if (!kinds.ok) problems.push(kinds.message);
  if (problems.length > 0) usage(problems.join("\n"));
  return { subscriptions, resourceGroups: (values["resource-group"] ?? []).map((r) => r.trim()).filter(Boolean), tags, kinds: kinds.ok ? kinds.kinds : [] };
}

export function describeSelection(s: GraphSelection): string {
  const parts = [s.kinds.join(", ")];
  parts.push(s.subscriptions.length > 0 ? `subscriptions ${s.subscriptions.join(", ")}` : "every subscription you can read");
  if (s.resourceGroups.length > 0) parts.push(`resource groups ${s.resourceGroups.join(", ")}`);
  for (const t of s.tags) parts.push(t.value === undefined ? `tag ${t.key}` : `tag ${t.key}=${t.value}`);
  return parts.join("; ");
}

export function waveOptions(values: Values, total: number): { batch?: number; maxFailures?: number } {
  const problems: string[] = [];
  const result: { batch?: number; maxFailures?: number } = {};
  if (values.batch !== undefined) {
    const parsed = parseCountOrPercent(values.batch, "--batch", total, "up", 1);
    if (parsed.ok) result.batch = parsed.value;
    else problems.push(parsed.message);
  }
  if (values["max-failures"] !== undefined) {
    const parsed = parseCountOrPercent(values["max-failures"], "--max-failures", total, "down", 0);
    if (parsed.ok) result.maxFailures = parsed.value;
    else problems.push(parsed.message);
  }
  if (problems.length > 0) usage(problems.join("\n"));
  return result;
}

interface SettingsValues {
  public?: unknown;
  protected?: unknown;
  sources: string[];
}

async function readSettings(values: Values, command: Command, deps: RunDeps, out: Output): Promise<SettingsValues> {
  const result: SettingsValues = { sources: [] };
  if (command === "plan" && values.settings === undefined) usage("plan needs --settings (the public settings deploy would send)");
  if (command === "deploy" || command === "validate") {
    const needsBoth = command === "deploy";
    if (values.settings === undefined && (needsBoth || values["protected-settings"] === undefined)) {
      usage(needsBoth ? "deploy needs --settings (public settings with workspaceId)" : "give --settings and/or --protected-settings to validate");
    }
    if (needsBoth && values["protected-settings"] === undefined) {
      usage("deploy needs --protected-settings (with workspaceKey); prefer @file or - so the key stays out of shell history");
    }
  }
  const readStdin = deps.readStdin ?? readStdinDefault;
  if (values.settings === "-" && values["protected-settings"] === "-") usage("only one of --settings and --protected-settings can read stdin");
  const errors: string[] = [];
  // Protected first: once they are read every later message, even about the public ones, is redacted.
  if (values["protected-settings"] !== undefined) {
    const input = await readJsonInput(values["protected-settings"], "protected settings", readStdin);
    if (input.ok) {
      out.redactor = Redactor.fromProtectedSettings(input.value);
      deps.onRedactor?.(out.redactor);
      result.protected = input.value;
      result.sources.push(`protected settings from ${input.source}`);
      if (input.inline)
        out.err("warning: protected settings given inline end up in shell history and process listings; prefer --protected-settings @file or -");
    } else {
      errors.push(input.message);
    }
  }
  if (values.settings !== undefined) {
    const input = await readJsonInput(values.settings, "settings", readStdin);
    const combined = input.ok ? combinedDocument(input.value) : undefined;
    if (input.ok && combined) {
      // {settings, protectedSettings} in one document, as an ARM template's extension properties hold them.
      if (command !== "validate")
        usage(
          `--settings ${input.source} is a combined {settings, protectedSettings} document; ${command} sends the two separately: pass its "settings" with --settings and its "protectedSettings" with --protected-settings`,
        );
      if (values["protected-settings"] !== undefined)
        usage(`--settings ${input.source} already holds protectedSettings; give --protected-settings or the combined document, not both`);
      if (combined.protected !== undefined) {
        out.redactor = Redactor.fromProtectedSettings(combined.protected);
        deps.onRedactor?.(out.redactor);
        result.protected = combined.protected;
      }
      result.public = combined.public;
      result.sources.push(`a combined {settings, protectedSettings} document from ${input.source} (both parts checked)`);
    } else if (input.ok) {
      result.public = input.value;
      result.sources.push(`settings from ${input.source}`);
    } else {
      errors.push(input.message);
    }
  }
  if (errors.length > 0) usage(errors.join("\n"));
  return result;
}

/** `{settings, protectedSettings}` (and nothing that public settings have): the two parts, else undefined. */
function combinedDocument(value: unknown): { public?: unknown; protected?: unknown } | undefined {
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length === 0 || !keys.every((k) => k === "settings" || k === "protectedSettings")) return undefined;
  const doc = value as { settings?: unknown; protectedSettings?: unknown };
  return { ...("settings" in doc ? { public: doc.settings } : {}), ...("protectedSettings" in doc ? { protected: doc.protectedSettings } : {}) };
}

function validate(settings: SettingsValues, values: Values, out: Output): number {
  const check = checkSettings(settings.public, settings.protected);
  if (values.json) {
    out.out(JSON.stringify({ valid: check.problems.length === 0, problems: check.problems, warnings: check.warnings }, null, 2));
  } else {
    for (const p of check.problems) out.out(`${p.field} ${p.message}`);
    for (const w of check.warnings) out.err(`warning: ${w}`);
    const n = check.problems.length;
    out.err(n === 0 ? `valid: ${settings.sources.join(", ")}` : `${n} ${n === 1 ? "problem" : "problems"} in ${settings.sources.join(", ")}`);
  }
  return check.problems.length === 0 ? EXIT_OK : EXIT_USAGE;
}

export interface FleetOptions {
  graphPageSize?: number;
  name: string;
  concurrency: number;
  timeoutMs: number;
  pollIntervalMs: number;
  connection: ArmConnection;
}

export function fleetOptions(values: Values, deps: RunDeps): FleetOptions {
  const env = deps.env ?? process.env;
  const problems: string[] = [];
  const number = (text: string | undefined, flag: string, min: number, max: number, fallback: number): number => {
    if (text === undefined) return fallback;
    const parsed = parseInteger(text, flag, min, max);
    if (!parsed.ok) problems.push(parsed.message);
    return parsed.ok ? parsed.value : fallback;
  };
  const duration = (text: string | undefined, flag: string, fallback: number): number => {
    if (text === undefined) return fallback;
    const parsed = parseDuration(text, flag);
    if (!parsed.ok) problems.push(parsed.message);
    return parsed.ok ? parsed.ms : fallback;
  };
  const concurrency = number(values.concurrency, "--concurrency", 1, 1000, DEFAULT_CONCURRENCY);
  const maxRetries = number(values.retries, "--retries", 0, 100, DEFAULT_RETRY.maxRetries);
  const timeoutMs = duration(values.timeout, "--timeout", DEFAULT_TIMEOUT_MS);
  const pollIntervalMs = duration(values["poll-interval"], "--poll-interval", DEFAULT_POLL_MS);
  const name = values.name ?? EXTENSION_TYPE;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) problems.push(`--name "${name}" is not a valid extension name (letters, digits, . _ -; at most 64)`);

  const cloudName = (values.cloud ?? env.FLEET_CLOUD)?.toLowerCase();
  const cloud = cloudName === undefined ? CLOUDS.public : CLOUDS[cloudName];
  if (!cloud) problems.push(`--cloud "${cloudName}" is not one of: ${Object.keys(CLOUDS).join(", ")} (use --endpoint and --scope for other clouds)`);
  const endpoint = (values.endpoint ?? env.FLEET_ARM_ENDPOINT ?? cloud?.endpoint ?? CLOUDS.public!.endpoint).replace(/\/+$/, "");
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    problems.push(`--endpoint "${endpoint}" is not a URL; expected e.g. https://management.azure.com`);
  }
  // The SDK's bearer-token policy refuses plain http outright; say so before the first machine fails with it.
  if (url && url.protocol !== "https:")
    problems.push(`--endpoint must be https:// (the Azure SDK never sends a token over plain http); for a test server with its own certificate use --ca-cert`);
  if (problems.length > 0) usage(problems.join("\n"));
  return {
    ...(deps.graphPageSize !== undefined ? { graphPageSize: deps.graphPageSize } : {}),
    name,
    concurrency,
    timeoutMs,
    pollIntervalMs,
    connection: {
      endpoint,
      scope: values.scope ?? env.FLEET_ARM_SCOPE ?? defaultScope(endpoint),
      ...(cloud && values.endpoint === undefined ? { authorityHost: cloud.authorityHost } : {}),
      ...(deps.credential ? { credential: deps.credential } : {}),
      retry: { ...DEFAULT_RETRY, ...deps.retry, maxRetries },
      ...(deps.pacing ? { pacing: deps.pacing } : {}),
    },
  };
}

/** The PEM behind --ca-cert; a clear error now beats a TLS failure on every machine later. */
export async function readCaCert(path: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(path, "utf8");
  } catch (e) {
    usage(`cannot read --ca-cert ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) usage(`--ca-cert ${path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
  return pem;
}

function typeHandlerVersion(values: Values): string {
  const a = values.version;
  const b = values["type-handler-version"];
  if (a !== undefined && b !== undefined && a !== b) usage(`--version ${a} and --type-handler-version ${b} disagree; give one`);
  const v = a ?? b ?? DEFAULT_TYPE_HANDLER_VERSION;
  if (!/^\d+\.\d+$/.test(v)) usage(`type handler version "${v}" must be major.minor, e.g. 1.19 (the platform picks the latest patch)`);
  return v;
}

export function countKinds(targets: Target[]): string {
  const n = (kind: Target["kind"]): number => targets.filter((t) => t.kind === kind).length;
  return `${n("vm")} VM, ${n("vmss")} scale set, ${n("arc")} Arc`;
}

/** One token up front, so a login problem is one clear error instead of the same failure on every machine. */
export async function checkToken(credential: TokenCredential, scope: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  try {
    const timeout = AbortSignal.timeout(120_000);
    const token = await credential.getToken(scope, { abortSignal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    if (!token) return `no Azure token for ${scope} — sign in (az login, managed identity, or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET)`;
    return undefined;
  } catch (e) {
    return explainError(e, "getting a token", 0).message;
  }
}

function report(
  command: Command,
  rows: Row[],
  seconds: number,
  duplicates: string[],
  spec: ExtensionSpec | undefined,
  values: Values,
  out: Output,
  stopped: FleetRun["stopped"],
  journal: string | undefined,
): void {
  const neverTouched = rows.filter((r) => r.result === "not-started");
  if (values.json) {
    const extension = spec
      ? {
          name: spec.name,
          publisher: PUBLISHER,
          type: EXTENSION_TYPE,
          typeHandlerVersion: spec.typeHandlerVersion,
          autoUpgradeMinorVersion: spec.autoUpgradeMinorVersion,
          enableAutomaticUpgrade: spec.enableAutomaticUpgrade,
        }
      : undefined;
    const { results, ...head } = jsonReport(command, rows, seconds, duplicates, extension);
    writeJsonDocument(
      out,
      {
        ...head,
        ...(stopped ? { stopped: { reason: "failure budget spent", ...stopped }, neverTouched: neverTouched.map((r) => r.id) } : {}),
        ...(journal ? { journal } : {}),
      },
      results,
    );
    out.err(summaryLine(rows));
  } else {
    for (const line of table(rows)) out.out(line);
    if (stopped) {
      out.out("");
      out.out(
        `Stopped: ${stopped.failures} failures exceeded --max-failures ${stopped.maxFailures}; machines in flight finished, ${neverTouched.length} never touched:`,
      );
      for (const r of neverTouched) out.out(`  ${r.id}`);
    }
    out.out(summaryLine(rows));
  }
}

/** The usual table (or JSON rows with each machine's failing checks), then which checks fail where. */
function reportDiagnose(rows: Row[], verdicts: Map<string, DoctorVerdict>, seconds: number, duplicates: string[], values: Values, out: Output): void {
  // In the targets' order, not the order the machines finished in: the same run prints the same report.
  const failing = failingChecks(new Map(rows.filter((r) => verdicts.has(r.machine)).map((r) => [r.machine, verdicts.get(r.machine)!])));
  if (values.json) {
    const { results, ...head } = jsonReport("diagnose", rows, seconds, duplicates);
    const withChecks = results.map((row) => ({ ...row, failedChecks: (verdicts.get(row.machine)?.checks ?? []).filter((c) => !c.ok) }));
    writeJsonDocument(out, { ...head, failingChecks: failing }, withChecks);
    out.err(summaryLine(rows));
    return;
  }
  for (const line of table(rows)) out.out(line);
  if (failing.length > 0) {
    out.out("");
    out.out("Failing checks:");
    const width = Math.max(...failing.map((f) => f.check.length));
    for (const f of failing)
      out.out(`  ${f.check.padEnd(width)}  ${f.machines.length} ${f.machines.length === 1 ? "machine" : "machines"}: ${f.machines.join(", ")}`);
  }
  out.out(summaryLine(rows));
}

function reportPlan(rows: Row[], targets: Target[], plans: Map<string, PlanItem>, seconds: number, values: Values, out: Output): void {
  const items = targets.map((t, i) => ({ target: t, row: rows[i]!, plan: plans.get(t.key) }));
  if (values.json) {
    const { results, ...head } = planReport(items, seconds);
    writeJsonDocument(out, head, results as unknown[]);
  } else {
    for (const line of planTable(items)) out.out(line);
  }
  const count = (action: string): number => items.filter((i) => (i.plan?.action ?? (i.row.errorCode === NOT_LINUX ? "skip" : "error")) === action).length;
  const line = `plan: ${count("create")} to create, ${count("update")} to update, ${count("unchanged")} unchanged, ${count("skip")} skipped, ${count("error")} could not be read; nothing was changed`;
  if (values.json) out.err(line);
  else out.out(line);
}
