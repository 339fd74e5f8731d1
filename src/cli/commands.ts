// The four commands. `run` is the whole CLI as a function (argv in, exit code out) so tests and the benchmark
// drive exactly what operators run, with only the credential, streams and backoff timings injected.
import { readFile } from "node:fs/promises";
import type { TokenCredential } from "@azure/identity";
import { parseCommandLine, parseDuration, parseInteger, USAGE, type Command, type Values } from "./args.ts";
import { EXTENSION_TYPE, MachineOps, PUBLISHER, type ExtensionSpec, type Outcome } from "./arm.ts";
import { CLOUDS, createArmClients, defaultScope, type ArmConnection } from "./clients.ts";
import { explainError } from "./errors.ts";
import { Redactor } from "./redact.ts";
import { jsonReport, Output, progressLine, summaryLine, table, type Sink } from "./report.ts";
import { DEFAULT_RETRY, type RetryOptions } from "./retry.ts";
import { runFleet, type Row } from "./rollout.ts";
import { checkSettings, fleetSettingsProblems, readJsonInput } from "./settings-input.ts";
import { loadTargets, type Target } from "./targets.ts";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

export const DEFAULT_TYPE_HANDLER_VERSION = "1.19";
export const DEFAULT_CONCURRENCY = 16;
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
}

class UsageError extends Error {}

function usage(message: string): never {
  throw new UsageError(message);
}

async function readStdinDefault(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function run(argv: string[], deps: RunDeps): Promise<number> {
  const out = new Output(deps.stdout, deps.stderr, Redactor.none());
  const parsed = parseCommandLine(argv);
  if (!parsed.ok) {
    out.err(`error: ${parsed.message}`);
    return EXIT_USAGE;
  }
  if (parsed.command === "help" || parsed.values.help) {
    out.out(USAGE.trimEnd());
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

async function dispatch(command: Command, values: Values, positionals: string[], deps: RunDeps, out: Output): Promise<number> {
  const settings = await readSettings(values, command, deps, out);
  if (command === "validate") return validate(settings, values, out);

  const list = await loadTargets(positionals, values["targets-file"] ?? []);
  if (list.problems.length > 0) usage(list.problems.join("\n"));
  if (list.targets.length === 0) usage(`no targets: give resource ids as arguments or in a file with -f (see: fleet ${command} --help)`);
  for (const d of list.duplicates) out.err(`warning: ${d.where}: duplicate of a target already listed (ids compare case-insensitively); ignored`);

  const fleet = fleetOptions(values, deps);
  if (values["ca-cert"] !== undefined) fleet.connection.caCertPem = await readCaCert(values["ca-cert"]);
  let spec: ExtensionSpec | undefined;
  if (command === "deploy") {
    const version = typeHandlerVersion(values);
    const check = checkSettings(settings.public, settings.protected);
    check.problems.push(...fleetSettingsProblems(settings.protected, list.targets.length));
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
      protectedSettings: settings.protected as Record<string, unknown>,
    };
  }

  const kinds = countKinds(list.targets);
  out.err(`${command} ${fleet.name}${spec ? ` ${spec.typeHandlerVersion}` : ""}: ${list.targets.length} ${list.targets.length === 1 ? "target" : "targets"} (${kinds}), concurrency ${fleet.concurrency}, timeout ${values.timeout ?? "45m"} per machine`);
  if (values["dry-run"]) {
    for (const t of list.targets) out.out(`${t.kind.padEnd(4)}  ${t.label}  ${t.id}`);
    out.err(`dry run: nothing was sent to Azure (endpoint ${fleet.connection.endpoint})`);
    return EXIT_OK;
  }

  const clients = await createArmClients(fleet.connection);
  const tokenProblem = await checkToken(clients.credential, fleet.connection.scope, deps.signal);
  if (tokenProblem) {
    out.err(`error: ${tokenProblem}`);
    return EXIT_FAILED;
  }

  const ops = new MachineOps(clients, { pollIntervalMs: fleet.pollIntervalMs });
  const location = values.location;
  const work = (t: Target, signal: AbortSignal): Promise<Outcome> =>
    command === "deploy" ? ops.deploy(t, spec as ExtensionSpec, location, signal)
      : command === "status" ? ops.status(t, fleet.name, signal)
        : ops.remove(t, fleet.name, signal);

  const started = performance.now();
  const rows = await runFleet(list.targets, work, {
    concurrency: fleet.concurrency,
    timeoutMs: fleet.timeoutMs,
    what: command,
    ...(deps.signal ? { signal: deps.signal } : {}),
    onRow: (row, done, total) => out.err(progressLine(row, done, total)),
  });
  const seconds = (performance.now() - started) / 1000;
  report(command, rows, seconds, list.duplicates.map((d) => d.value), spec, values, out);
  if (deps.signal?.aborted) return EXIT_INTERRUPTED;
  return rows.every((r) => r.result === "ok") ? EXIT_OK : EXIT_FAILED;
}

interface SettingsValues {
  public?: unknown;
  protected?: unknown;
  sources: string[];
}

async function readSettings(values: Values, command: Command, deps: RunDeps, out: Output): Promise<SettingsValues> {
  const result: SettingsValues = { sources: [] };
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
      if (input.inline) out.err("warning: protected settings given inline end up in shell history and process listings; prefer --protected-settings @file or -");
    } else {
      errors.push(input.message);
    }
  }
  if (values.settings !== undefined) {
    const input = await readJsonInput(values.settings, "settings", readStdin);
    if (input.ok) {
      result.public = input.value;
      result.sources.push(`settings from ${input.source}`);
    } else {
      errors.push(input.message);
    }
  }
  if (errors.length > 0) usage(errors.join("\n"));
  return result;
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

interface FleetOptions {
  name: string;
  concurrency: number;
  timeoutMs: number;
  pollIntervalMs: number;
  connection: ArmConnection;
}

function fleetOptions(values: Values, deps: RunDeps): FleetOptions {
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
  if (url && url.protocol !== "https:") problems.push(`--endpoint must be https:// (the Azure SDK never sends a token over plain http); for a test server with its own certificate use --ca-cert`);
  if (problems.length > 0) usage(problems.join("\n"));
  return {
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
    },
  };
}

/** The PEM behind --ca-cert; a clear error now beats a TLS failure on every machine later. */
async function readCaCert(path: string): Promise<string> {
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

function countKinds(targets: Target[]): string {
  const n = (kind: Target["kind"]): number => targets.filter((t) => t.kind === kind).length;
  return `${n("vm")} VM, ${n("vmss")} scale set, ${n("arc")} Arc`;
}

/** One token up front, so a login problem is one clear error instead of the same failure on every machine. */
async function checkToken(credential: TokenCredential, scope: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  try {
    const timeout = AbortSignal.timeout(120_000);
    const token = await credential.getToken(scope, { abortSignal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    if (!token) return `no Azure token for ${scope} — sign in (az login, managed identity, or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET)`;
    return undefined;
  } catch (e) {
    return explainError(e, "getting a token", 0).message;
  }
}

function report(command: Command, rows: Row[], seconds: number, duplicates: string[], spec: ExtensionSpec | undefined, values: Values, out: Output): void {
  if (values.json) {
    const extension = spec
      ? { name: spec.name, publisher: PUBLISHER, type: EXTENSION_TYPE, typeHandlerVersion: spec.typeHandlerVersion, autoUpgradeMinorVersion: spec.autoUpgradeMinorVersion, enableAutomaticUpgrade: spec.enableAutomaticUpgrade }
      : undefined;
    out.out(JSON.stringify(jsonReport(command, rows, seconds, duplicates, extension), null, 2));
    out.err(summaryLine(rows));
    return;
  }
  for (const line of table(rows)) out.out(line);
  out.out(summaryLine(rows));
}
