// Command-line grammar: node:util parseArgs, one option table, per-command allow-lists so a misplaced flag
// (`status --settings x`) is an error instead of being silently ignored.
import { parseArgs } from "node:util";

const COMMANDS = ["validate", "plan", "deploy", "status", "remove", "diagnose"] as const;
export type Command = (typeof COMMANDS)[number];

export const OPTIONS = {
  help: { type: "boolean", short: "h" },
  settings: { type: "string" },
  "protected-settings": { type: "string" },
  "targets-file": { type: "string", short: "f", multiple: true },
  name: { type: "string" },
  version: { type: "string" },
  "type-handler-version": { type: "string" },
  "no-auto-upgrade-minor-version": { type: "boolean" },
  "enable-automatic-upgrade": { type: "boolean" },
  "force-update-tag": { type: "string" },
  location: { type: "string" },
  concurrency: { type: "string" },
  timeout: { type: "string" },
  retries: { type: "string" },
  "poll-interval": { type: "string" },
  json: { type: "boolean" },
  "dry-run": { type: "boolean" },
  cloud: { type: "string" },
  endpoint: { type: "string" },
  scope: { type: "string" },
  "ca-cert": { type: "string" },
  subscription: { type: "string", multiple: true },
  "resource-group": { type: "string", multiple: true },
  tag: { type: "string", multiple: true },
  "machine-types": { type: "string" },
  batch: { type: "string" },
  "max-failures": { type: "string" },
  journal: { type: "string" },
  resume: { type: "string" },
  offline: { type: "boolean" },
} as const;

type OptionName = keyof typeof OPTIONS;

const FLEET_OPTIONS: OptionName[] = [
  "targets-file",
  "name",
  "concurrency",
  "timeout",
  "retries",
  "poll-interval",
  "json",
  "dry-run",
  "cloud",
  "endpoint",
  "scope",
  "ca-cert",
  "subscription",
  "resource-group",
  "tag",
  "machine-types",
];

const EXTENSION_OPTIONS: OptionName[] = ["version", "type-handler-version", "no-auto-upgrade-minor-version", "enable-automatic-upgrade", "force-update-tag"];

const ALLOWED: Record<Command, Set<OptionName>> = {
  validate: new Set(["help", "settings", "protected-settings", "json"]),
  plan: new Set(["help", "settings", "protected-settings", ...FLEET_OPTIONS, ...EXTENSION_OPTIONS]),
  deploy: new Set(["help", "settings", "protected-settings", ...FLEET_OPTIONS, ...EXTENSION_OPTIONS, "location", "batch", "max-failures", "journal", "resume"]),
  status: new Set(["help", ...FLEET_OPTIONS]),
  remove: new Set(["help", ...FLEET_OPTIONS]),
  diagnose: new Set(["help", ...FLEET_OPTIONS, "offline"]),
};

export interface Values {
  help?: boolean;
  settings?: string;
  "protected-settings"?: string;
  "targets-file"?: string[];
  name?: string;
  version?: string;
  "type-handler-version"?: string;
  "no-auto-upgrade-minor-version"?: boolean;
  "enable-automatic-upgrade"?: boolean;
  "force-update-tag"?: string;
  location?: string;
  concurrency?: string;
  timeout?: string;
  retries?: string;
  "poll-interval"?: string;
  json?: boolean;
  "dry-run"?: boolean;
  cloud?: string;
  endpoint?: string;
  scope?: string;
  "ca-cert"?: string;
  subscription?: string[];
  "resource-group"?: string[];
  tag?: string[];
  "machine-types"?: string;
  batch?: string;
  "max-failures"?: string;
  journal?: string;
  resume?: string;
  offline?: boolean;
}

export type ParsedArgs = { ok: true; command: Command | "help"; values: Values; positionals: string[] } | { ok: false; message: string };

export function parseCommandLine(argv: string[]): ParsedArgs {
  const [first, ...rest] = argv;
  if (first === undefined || first === "help" || first === "--help" || first === "-h") {
    return { ok: true, command: "help", values: {}, positionals: rest };
  }
  if (!(COMMANDS as readonly string[]).includes(first)) {
    return { ok: false, message: `unknown command "${first}"; expected one of: ${COMMANDS.join(", ")}` };
  }
  const command = first as Command;
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    // parseArgs names the offending flag but not what to do about it.
    return { ok: false, message: `${(e as Error).message.replace(/\. To specify a positional argument.*$/s, "")} (see: omsagent-fleet ${command} --help)` };
  }
  const misplaced = Object.keys(parsed.values).filter((k) => !ALLOWED[command].has(k as OptionName));
  if (misplaced.length > 0) {
    return {
      ok: false,
      message: `${misplaced.map((k) => `--${k}`).join(", ")} ${misplaced.length === 1 ? "does" : "do"} not apply to "${command}" (see: omsagent-fleet ${command} --help)`,
    };
  }
  if (command === "validate" && parsed.positionals.length > 0) {
    return { ok: false, message: `validate takes no positional arguments (got "${parsed.positionals[0]}"); use --settings and --protected-settings` };
  }
  return { ok: true, command, values: parsed.values as Values, positionals: parsed.positionals };
}

/** `90s`, `45m`, `1h`, `500ms`, or a bare number of seconds. */
export function parseDuration(text: string, flag: string): { ok: true; ms: number } | { ok: false; message: string } {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!match) return { ok: false, message: `${flag} "${text}" is not a duration; use e.g. 90s, 45m, 1h, 500ms` };
  const unit = (match[2] ?? "s").toLowerCase();
  const factor = unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : 3_600_000;
  const ms = Math.round(Number(match[1]) * factor);
  if (ms <= 0) return { ok: false, message: `${flag} must be greater than zero` };
  return { ok: true, ms };
}

export function parseInteger(text: string, flag: string, min: number, max: number): { ok: true; value: number } | { ok: false; message: string } {
  if (!/^\s*\d+\s*$/.test(text)) return { ok: false, message: `${flag} "${text}" is not a whole number` };
  const value = Number(text);
  if (value < min || value > max) return { ok: false, message: `${flag} must be between ${min} and ${max} (got ${value})` };
  return { ok: true, value };
}

/**
 * `N` or `N%` of `total`. A percentage of a batch rounds up (a wave is never empty); of a failure budget it
 * rounds down (never more failures than asked for).
 */
export function parseCountOrPercent(
  text: string,
  flag: string,
  total: number,
  round: "up" | "down",
  min: number,
): { ok: true; value: number } | { ok: false; message: string } {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(text);
  if (!match) return { ok: false, message: `${flag} "${text}" must be a number of machines or a percentage, e.g. 50 or 10%` };
  const number = Number(match[1]);
  if (match[2] === "%") {
    if (number > 100) return { ok: false, message: `${flag} ${text} is more than 100%` };
    const exact = (total * number) / 100;
    return { ok: true, value: Math.max(min, round === "up" ? Math.ceil(exact) : Math.floor(exact)) };
  }
  if (!Number.isInteger(number) || number < min) return { ok: false, message: `${flag} must be a whole number of at least ${min} (got ${text})` };
  return { ok: true, value: number };
}

export const USAGE = `omsagent-fleet — roll the OmsAgentForLinux VM extension (Microsoft.EnterpriseCloud.Monitoring) out to many machines

Usage:
  omsagent-fleet validate --settings <json|@file|-> [--protected-settings <json|@file|->] [--json]
  omsagent-fleet plan     --settings <..> [targets...] [-f targets.txt] [selection] [options]
  omsagent-fleet deploy   --settings <..> --protected-settings <..> [targets...] [-f targets.txt] [selection] [options]
  omsagent-fleet deploy   --resume <journal> --settings <..> --protected-settings <..> [options]
  omsagent-fleet status   [targets...] [-f targets.txt] [selection] [options]
  omsagent-fleet remove   [targets...] [-f targets.txt] [selection] [options]
  omsagent-fleet diagnose [targets...] [-f targets.txt] [selection] [--offline] [options]
  omsagent-fleet migrate dcr|plan|… --workspace <id> …   move machines to the Azure Monitor Agent (omsagent-fleet migrate --help)
  omsagent-fleet --version      this CLI's version (after a command, --version is --type-handler-version)

Targets are ARM resource ids of virtual machines, scale sets or Arc machines:
  /subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachines/<name>
  /subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachineScaleSets/<name>
  /subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.HybridCompute/machines/<name>
given as arguments and/or in files (-f, repeatable): one id per line (# comments allowed) or a JSON array of
ids or of objects with an "id" (e.g. the output of \`az vm list -o json\`). Ids are de-duplicated ignoring case.

Selection from Azure Resource Graph (added to the ids above, de-duplicated; machines that are not Linux are
listed as skipped):
  --subscription <id>           repeatable (default: every subscription you can read)
  --resource-group <rg>         repeatable
  --tag <name>=<value>|<name>   repeatable; all must match
  --machine-types <list>        vm,vmss,arc (default all three)

Deploy and plan options:
  --settings <..>               public settings (inline JSON, @file, a path, or - for stdin)
  --protected-settings <..>     protected settings (prefer @file or -: inline JSON lands in shell history)
  --version, --type-handler-version <major.minor>   default 1.19
  --no-auto-upgrade-minor-version                  send autoUpgradeMinorVersion=false (default true)
  --enable-automatic-upgrade                       send enableAutomaticUpgrade=true (default: false, always sent)
  --force-update-tag <tag>      re-run enable on machines whose settings did not change

Deploy only:
  --batch <n|n%>                machines per wave; a wave starts when the previous one has finished
  --max-failures <n|n%>         failures tolerated; one more and no new machine starts (exit 3)
  --journal <file>              where the run's journal goes (default $XDG_STATE_HOME/omsagent-fleet/…)
  --resume <journal>            finish an interrupted run: succeeded machines are skipped, operations in
                                flight are polled (never sent again), the rest retried
  --location <region>           skip the GET of each machine that otherwise supplies its location
  --dry-run                     validate everything and print the targets without changing anything

Diagnose:
  runs \`omsagent-shim doctor\` on each VM, scale-set instance or Arc machine through Run Command and reports which checks fail
  where; --offline skips doctor's network checks (DNS, TCP 443, TLS and clock against the service)

Fleet options (plan, deploy, status, remove, diagnose):
  --name <name>                 extension resource name (default OmsAgentForLinux)
  --concurrency <n>             machines in flight at once (default 16)
  --timeout <duration>          deadline per machine, e.g. 45m, 90s (default 45m)
  --retries <n>                 retries per request on 409/429/5xx (default 10; Retry-After honoured)
  --poll-interval <duration>    long-running-operation poll interval (default 10s; ARM's Retry-After wins)
  --json                        machine-readable report on stdout (progress stays on stderr)

Azure connection (DefaultAzureCredential: environment, workload/managed identity, az/azd/pwsh login):
  --cloud <public|usgov|china>  endpoint and login authority of a national cloud (env FLEET_CLOUD)
  --endpoint <url>              Resource Manager endpoint, e.g. for Azure Stack Hub (env FLEET_ARM_ENDPOINT)
  --scope <scope>               token scope (default <endpoint>/.default; env FLEET_ARM_SCOPE)
  --ca-cert <file>              CA certificate(s), PEM, that sign the endpoint (trusted instead of the system roots)

Exit status: 0 every target succeeded (machines that are not Linux are skipped), 1 at least one failed,
2 usage or validation error, 3 stopped by --max-failures, 130 interrupted (deploy: resume with --resume).
`;
