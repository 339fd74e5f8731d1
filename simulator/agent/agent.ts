// A fake Azure Linux guest agent (WALinuxAgent 2.15.0.1) that drives an extension handler the way
// /work/shared/reference/guest-agent-contract.md §1–§6 describes (ga/exthandlers.py, ga/extensionprocessutil.py):
//
//  - layout: <lib>/<Name>__<ver>.zip → <lib>/<Name>-<ver>/ (zipfile.extractall: modes lost, then u+x on every
//    file), config/ and status/ (0700), <logRoot>/<Name>/ (0755) with events/ (0700), HandlerEnvironment.json
//    as a single-line json.dumps with version 1.0;
//  - settings: config/<seq>.settings as json.dumps of one runtimeSettings element with all three keys;
//  - commands: the manifest's command run as `/bin/sh -c "<base>/<cmd>"`, cwd = base dir, in a new session
//    (setsid), stdout/stderr to unlinked temp files in the base dir, killed with killpg(SIGKILL) at the
//    operation's timeout; env = agent variables, then the agent's own environment on top (env.update(os.environ));
//    only the first 3200 bytes of each stream are read and formatted by format_stdout_stderr;
//  - status: status/<seq>.status parsed like parse_ext_status/collect_ext_status;
//  - sequences: first install, enable, disable, update A→B (with continueOnUpdateFailure and 1008 rules), uninstall,
//    with config/HandlerState and config/HandlerStatus kept like the agent.
//
// Differences from the real agent, on purpose: no cgroups/systemd-run; the status file is read once (the agent
// retries a missing/bad file 5 times 2 s apart); in the default "fast" timing the command's exit is noticed at once
// (timing: "agent" restores the 1 s poll and the 1 s grace after exit); SAS-token redaction of output is not done.
import { spawn, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { constants as osConstants, tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { encryptProtectedSettings, makeCertificate, type TestCertificate } from "./certificates.ts";

export const OMS_HANDLER_NAME = "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux";
export const WIRE_SERVER_ADDRESS = "168.63.129.16";
export const NOT_RUN = "NOT_RUN";
/** ga/extensionprocessutil.py TELEMETRY_MESSAGE_MAX_LEN */
export const OUTPUT_MAX_LEN = 3200;

export type Operation = "install" | "enable" | "disable" | "update" | "uninstall";
export type HandlerState = "NotInstalled" | "Installed" | "Enabled" | "FailedUpgrade";

/** Timeouts in seconds, as launch_command is called for each operation (contract §6.3). */
export const AGENT_TIMEOUTS: Readonly<Record<Operation, number>> = {
  install: 900,
  enable: 300,
  disable: 900,
  update: 900,
  uninstall: 300,
};

/** ExtensionErrorCodes used by the agent. */
export const AGENT_CODES = {
  unknown: -1,
  processing: 1000,
  manifestNotFound: 1002,
  manifestDeserialization: 1003,
  install: 1007,
  update: 1008,
  enable: 1009,
  disable: 1010,
  timeout: 1011,
  statusInvalid: 1012,
} as const;

const OPERATION_ERROR_CODE: Record<Operation, number> = {
  install: AGENT_CODES.install,
  update: AGENT_CODES.update,
  enable: AGENT_CODES.enable,
  disable: AGENT_CODES.disable,
  uninstall: AGENT_CODES.processing, // launch_command's default extension_error_code
};

const MANIFEST_COMMAND_KEY: Record<Operation, string> = {
  install: "installCommand",
  enable: "enableCommand",
  disable: "disableCommand",
  update: "updateCommand",
  uninstall: "uninstallCommand",
};

const STATUS_VALUES = ["transitioning", "warning", "error", "success"];
const MAX_STATUS_FILE_SIZE = 128 * 1024;
const MAX_STATUS_MESSAGE_LENGTH = 1024;
const MAX_SUBSTATUS_FIELD_LENGTH = 10 * 1024;
const TRUNCATED_SUFFIX = " ... [TRUNCATED]";
/** Files the agent creates are plain open()/makedirs() under root's usual umask. */
const UMASK = 0o022;

// ---------------------------------------------------------------------------------------------------------------
// Python json.dumps (default separators ", " / ": ", ensure_ascii=True), so agent-written files match byte for byte.

/** A number that Python holds as a float (HandlerEnvironment's `"version": 1.0`). */
export class PyFloat {
  constructor(readonly value: number) {}
}

function pyString(s: string): string {
  return JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export function pyJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (value instanceof PyFloat) {
    return Number.isInteger(value.value) ? value.value.toFixed(1) : String(value.value);
  }
  switch (typeof value) {
    case "string":
      return pyString(value);
    case "number":
      return Number.isFinite(value) ? String(value) : value > 0 ? "Infinity" : value < 0 ? "-Infinity" : "NaN";
    case "boolean":
      return value ? "true" : "false";
    default:
      break;
  }
  if (Array.isArray(value)) return `[${value.map(pyJsonDumps).join(", ")}]`;
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  return `{${entries.map(([k, v]) => `${pyString(k)}: ${pyJsonDumps(v)}`).join(", ")}}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Output capture (read_output, format_stdout_stderr)

/** bytes.decode("utf-8", errors="backslashreplace"). */
export function decodeBackslashReplace(buf: Buffer): string {
  const strict = new TextDecoder("utf-8", { fatal: true });
  try {
    return strict.decode(buf);
  } catch {
    // fall through to the byte-wise path
  }
  let out = "";
  let i = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    const n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (n > 0 && i + n <= buf.length) {
      try {
        out += strict.decode(buf.subarray(i, i + n));
        i += n;
        continue;
      } catch {
        // invalid sequence: escape the lead byte, resync on the next one
      }
    }
    out += `\\x${b.toString(16).padStart(2, "0")}`;
    i++;
  }
  return out;
}

/** format_stdout_stderr: "[stdout]\n…\n\n[stderr]\n…", at most 3200 code points, keeping the tails. */
export function formatStdoutStderr(stdout: string, stderr: string): string {
  const template = (o: string, e: string) => `[stdout]\n${o}\n\n[stderr]\n${e}`;
  const templateLength = "[stdout]\n{0}\n\n[stderr]\n{1}".length;
  const maxLen = OUTPUT_MAX_LEN;
  const maxLenEach = Math.trunc((maxLen - templateLength + 6) / 2);
  // Python counts code points, not UTF-16 units.
  const out = Array.from(stdout);
  const err = Array.from(stderr);
  const tail = (chars: string[], offset: number) => chars.slice(offset).join(""); // offset <= 0, as in s[-n:]
  if (out.length + err.length < maxLen) return template(stdout, stderr);
  if (out.length < maxLenEach) {
    const bonus = maxLenEach - out.length;
    const errLen = Math.min(maxLenEach + bonus, err.length);
    return template(stdout, tail(err, -errLen));
  }
  if (err.length < maxLenEach) {
    const bonus = maxLenEach - err.length;
    const outLen = Math.min(maxLenEach + bonus, out.length);
    return template(tail(out, -outLen), stderr);
  }
  return template(tail(out, -maxLenEach), tail(err, -maxLenEach));
}

function readHead(fd: number, max: number): Buffer {
  const buf = Buffer.alloc(max);
  let total = 0;
  while (total < max) {
    const n = readSync(fd, buf, total, max - total, total);
    if (n === 0) break;
    total += n;
  }
  return buf.subarray(0, total);
}

// ---------------------------------------------------------------------------------------------------------------
// Status file parsing (parse_ext_status, collect_ext_status)

export interface AgentSubstatus {
  name: unknown;
  status: string;
  code: unknown;
  /** formattedMessage.message as text ("" when absent). */
  message: string;
  /** formattedMessage.message as passed through (null when absent). */
  rawMessage: unknown;
}

/** What the agent reports as the extension-level status (runtimeSettingsStatus.settingsStatus). */
export interface AgentExtensionStatus {
  /** "transitioning" | "success" | "error" | "warning", or null for an empty array / JSON null */
  status: string | null;
  /** Passed through from the file (should be a number; defaults to 0). */
  code: unknown;
  /** formattedMessage.message as text: "" when the file has none (the agent reports null then). */
  message: string;
  /** formattedMessage.message exactly as the agent passes it through (null when absent). */
  rawMessage: unknown;
  operation: unknown;
  configurationAppliedTime: unknown;
  substatus: AgentSubstatus[];
  /** The file's text, when it could be read. */
  raw?: string;
  file: string;
  sequenceNumber: number;
}

class StatusError extends Error {
  constructor(message: string) {
    super(`[ExtensionStatusError] ${message}`);
  }
}

/** str(value) of the json.loads result, as the agent's messages format it. */
function pyRepr(value: unknown, nested = false): string {
  if (value === null || value === undefined) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") {
    if (!nested) return value;
    const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
    return quote + value.replace(/\\/g, "\\\\").replace(new RegExp(quote, "g"), `\\${quote}`).replace(/\n/g, "\\n") + quote;
  }
  if (Array.isArray(value)) return `[${value.map((v) => pyRepr(v, true)).join(", ")}]`;
  return `{${Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => `${pyRepr(k, true)}: ${pyRepr(v, true)}`)
    .join(", ")}}`;
}

function hasKey(obj: unknown, key: string): boolean {
  return typeof obj === "object" && obj !== null && !Array.isArray(obj) && key in obj;
}

function validateHasKey(obj: unknown, key: string, fullKeyPath: string): void {
  if (!hasKey(obj, key)) throw new StatusError(`Invalid status format by extension: Missing ${fullKeyPath} key`);
}

function validateInRange(value: unknown, name: string): void {
  if (typeof value !== "string" || !STATUS_VALUES.includes(value)) {
    throw new StatusError(`Invalid value ${pyRepr(value)} in range ['transitioning', 'warning', 'error', 'success'] at the node ${name}`);
  }
}

function parseFormattedMessage(fm: unknown): unknown {
  if (fm === null || fm === undefined) return null;
  validateHasKey(fm, "lang", "formattedMessage/lang");
  validateHasKey(fm, "message", "formattedMessage/message");
  return (fm as Record<string, unknown>).message;
}

/** Mirrors parse_ext_status, mutating `into` as it goes (so a late failure keeps what was parsed before it). */
function parseExtStatus(into: AgentExtensionStatus, data: unknown): void {
  if (data === null) return;
  if (!Array.isArray(data)) {
    throw new StatusError(`The extension status must be an array: ${pyRepr(data).slice(0, 4096)}`);
  }
  if (data.length === 0) return;
  const first = data[0] as unknown;
  validateHasKey(first, "status", "status");
  const statusData = (first as Record<string, unknown>).status;
  validateHasKey(statusData, "status", "status/status");
  const s = statusData as Record<string, unknown>;
  let status = s.status;
  if (typeof status !== "string" || !STATUS_VALUES.includes(status)) status = "error"; // case-sensitive
  into.configurationAppliedTime = s.configurationAppliedTime ?? null;
  into.operation = s.operation ?? null;
  into.status = status as string;
  into.code = "code" in s ? s.code : 0;
  into.rawMessage = parseFormattedMessage(s.formattedMessage);
  into.message = messageText(into.rawMessage);
  const list = "substatus" in s ? s.substatus : [];
  if (list === null) return;
  if (!Array.isArray(list)) throw new StatusError(`substatus must be a list: ${pyRepr(list)}`);
  for (const item of list as unknown[]) {
    if (item === null) continue;
    validateHasKey(item, "status", "substatus/status");
    const sub = item as Record<string, unknown>;
    validateInRange(sub.status, "substatus/status");
    const rawMessage = parseFormattedMessage(sub.formattedMessage);
    into.substatus.push({
      name: sub.name ?? null,
      status: sub.status as string,
      code: "code" in sub ? sub.code : 0,
      message: messageText(rawMessage),
      rawMessage,
    });
  }
}

function messageText(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : pyRepr(value);
}

function truncateField(field: unknown, size: number): [unknown, number] {
  if (typeof field !== "string") return [field, 0];
  const chars = Array.from(field);
  const truncated = chars.length < size ? field : chars.slice(0, size).join("") + TRUNCATED_SUFFIX;
  return [truncated, Array.from(truncated).length];
}

// ---------------------------------------------------------------------------------------------------------------

export interface AgentHandlerStatus {
  name: string;
  version: string;
  status: "Ready" | "NotReady";
  code: number;
  message: string;
}

export interface AgentError {
  code: number;
  message: string;
}

export interface SettingsInput {
  publicSettings?: unknown;
  /** Encrypted to the agent's certificate, as CRP does. */
  protectedSettings?: unknown;
  /** Send this base64 blob verbatim as protectedSettings (e.g. to test undecryptable settings). */
  protectedSettingsBlob?: string;
  /** Thumbprint to send with protectedSettingsBlob (default: the agent's certificate). */
  thumbprint?: string;
}

export interface RunOptions {
  /** ConfigSequenceNumber; default the current goal state's seq (last writeSettings), else "0". */
  seq?: number | string;
  /** Added to the agent's own environment for this command (so it wins over agent variables, like os.environ). */
  extraEnv?: Record<string, string | undefined>;
  /** Default AGENT_TIMEOUTS[op] unless the agent was given other timeouts. */
  timeoutSeconds?: number;
  /** install/enable: AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE (default NOT_RUN). */
  uninstallExitCode?: string;
  /** update: AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE (default NOT_RUN). */
  disableExitCode?: string;
  /** update: AZURE_GUEST_AGENT_UPDATING_FROM_VERSION (default the version being run). */
  updatingFromVersion?: string;
  /** update: VERSION, the version being updated to (default the version being run). */
  updateToVersion?: string;
}

export interface LaunchSpec {
  /** `<base>/<cmd>` as passed to /bin/sh -c */
  command: string;
  /** `<cmd>`: the command as HandlerManifest.json names it. */
  manifestCommand: string;
  cwd: string;
  /** The complete environment the command gets. */
  env: Record<string, string>;
  /** The variables the agent itself sets. */
  agentEnv: Record<string, string>;
  seq: string;
  /** Seconds before the agent kills the process group. */
  timeout: number;
}

export interface CommandResult {
  operation: Operation;
  version: string;
  /** `<base>/<cmd>` as passed to /bin/sh -c */
  command: string;
  seq: string;
  /** The complete environment the command got. */
  env: Record<string, string>;
  /** The variables the agent itself set (what it logs in CommandExecution.log). */
  agentEnv: Record<string, string>;
  /** pid of the /bin/sh process, which is also its process group and session id. */
  pid: number;
  /** Exit status; null when killed at the timeout. A shell killed by a signal gives -signo, as Popen does. */
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  /** format_stdout_stderr of the two captures. */
  output: string;
  /** First 3200 bytes of stdout, decoded as the agent does. */
  stdout: string;
  stderr: string;
  /** The ExtensionError the agent raises for this command (none when it exited 0). */
  error?: AgentError;
}

export interface SequenceResult {
  /** The handler version whose handler status the agent reports after the sequence. */
  version: string;
  commands: CommandResult[];
  ok: boolean;
  handlerState: HandlerState | null;
  handlerStatus: AgentHandlerStatus | null;
  error?: AgentError;
}

export interface SequenceOptions {
  seq?: number | string;
  extraEnv?: Record<string, string | undefined>;
}

export interface FakeGuestAgentOptions {
  /** Root temp dir; default a new mkdtemp. lib = <root>/waagent, logs = <root>/log/azure unless given. */
  root?: string;
  libDir?: string;
  logRoot?: string;
  handlerName?: string;
  /**
   * The agent's own process environment (os.environ). It is applied after the agent's variables, so it wins on a
   * clash, as env.update(os.environ) does. Default: only PATH (a systemd service has no HOME or TERM).
   */
  baseEnv?: Record<string, string | undefined>;
  wireServerAddress?: string;
  /** Override per-operation timeouts (seconds). */
  timeouts?: Partial<Record<Operation, number>>;
  /** "fast" (default): notice the exit at once. "agent": poll once a second and wait 1 s after exit, as the agent. */
  timing?: "fast" | "agent";
}

export interface InstalledPackage {
  version: string;
  baseDir: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function parseBoolean(value: unknown, defaultValue: boolean): boolean {
  if (typeof value === "boolean") return value;
  return typeof value === "string" && value.toLowerCase() === "true" ? true : defaultValue;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function walkFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) walkFiles(p, out);
    else out.push(p);
  }
  return out;
}

function walkDirs(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      const p = join(dir, entry.name);
      out.push(p);
      walkDirs(p, out);
    }
  }
  return out;
}

function utcStamp(): string {
  return new Date().toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class FakeGuestAgent {
  readonly root: string;
  readonly libDir: string;
  readonly logRoot: string;
  readonly handlerName: string;
  readonly wireServerAddress: string;
  readonly baseEnv: Record<string, string | undefined>;
  readonly timing: "fast" | "agent";
  private readonly timeouts: Record<Operation, number>;
  private cert: TestCertificate | undefined;
  /** The sequence number of the current goal state (last writeSettings). */
  goalStateSeq: string | undefined;
  /** Most recently downloaded version: default for methods whose version is optional. */
  currentVersion: string | undefined;

  constructor(options: FakeGuestAgentOptions = {}) {
    this.root = resolve(options.root ?? mkdtempSync(join(tmpdir(), "fake-waagent-")));
    this.libDir = resolve(options.libDir ?? join(this.root, "waagent"));
    this.logRoot = resolve(options.logRoot ?? join(this.root, "log", "azure"));
    this.handlerName = options.handlerName ?? OMS_HANDLER_NAME;
    if (this.handlerName.includes("-")) throw new Error("handler name cannot contain '-' (agent: ^([^-]+))");
    this.wireServerAddress = options.wireServerAddress ?? WIRE_SERVER_ADDRESS;
    this.baseEnv = options.baseEnv ?? { PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
    this.timing = options.timing ?? "fast";
    this.timeouts = { ...AGENT_TIMEOUTS, ...options.timeouts };
    mkdirSync(this.libDir, { recursive: true });
  }

  // ----- paths ------------------------------------------------------------------------------------------------

  baseDir(version: string): string {
    return join(this.libDir, `${this.handlerName}-${version}`);
  }
  configDir(version: string): string {
    return join(this.baseDir(version), "config");
  }
  statusDir(version: string): string {
    return join(this.baseDir(version), "status");
  }
  logDir(): string {
    return join(this.logRoot, this.handlerName);
  }
  eventsDir(): string {
    return join(this.logDir(), "events");
  }
  statusFile(version: string, seq: number | string): string {
    return join(this.statusDir(version), `${seq}.status`);
  }
  private zipPathFor(version: string): string {
    return join(this.libDir, `${this.handlerName}__${version}.zip`);
  }
  private resolveVersion(version: string | undefined): string {
    const v = version ?? this.currentVersion;
    if (!v) throw new Error("no version given and nothing downloaded yet");
    return v;
  }

  /** The tenant certificate in the lib dir (<THUMBPRINT>.crt/.prv), created on first use. */
  certificate(): TestCertificate {
    this.cert ??= makeCertificate(this.libDir);
    return this.cert;
  }

  // ----- agent-owned state ------------------------------------------------------------------------------------

  handlerState(version: string): HandlerState | null {
    const file = join(this.configDir(version), "HandlerState");
    return existsSync(file) ? (readFileSync(file, "utf8") as HandlerState) : null;
  }

  /** get_handler_state: a missing file counts as NotInstalled. */
  private effectiveState(version: string): HandlerState {
    return this.handlerState(version) ?? "NotInstalled";
  }

  setHandlerState(version: string, state: HandlerState): void {
    const dir = this.configDir(version);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, "HandlerState"), state);
  }

  handlerStatus(version: string): AgentHandlerStatus | null {
    const file = join(this.configDir(version), "HandlerStatus");
    if (!existsSync(file)) return null;
    const data = JSON.parse(readFileSync(file, "utf8")) as AgentHandlerStatus;
    return { name: data.name, version: data.version, status: data.status, code: data.code, message: data.message };
  }

  private setHandlerStatus(version: string, status: "Ready" | "NotReady", message: string, code = 0): void {
    const dir = this.configDir(version);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const body = {
      name: this.handlerName,
      version,
      status,
      code,
      message,
      supports_multi_config: false,
      extension_status: null,
    };
    writeFileSync(join(dir, "HandlerStatus"), pyJsonDumps(body));
  }

  /** Versions whose directory exists, with the installed one as get_installed_version picks it. */
  installedVersion(): string | null {
    let latest: string | null = null;
    const prefix = `${this.handlerName}-`;
    for (const name of existsSync(this.libDir) ? readdirSync(this.libDir) : []) {
      if (!name.startsWith(prefix)) continue;
      const path = join(this.libDir, name);
      if (!statSync(path).isDirectory()) continue;
      const version = name.slice(name.lastIndexOf("-") + 1);
      const state = this.handlerState(version);
      if (state === null || state === "NotInstalled" || state === "FailedUpgrade") continue;
      if (latest === null || compareVersions(latest, version) < 0) latest = version;
    }
    return latest;
  }

  private log(version: string | null, message: string): void {
    const dir = this.logDir();
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const prefix = version ? `[${this.handlerName}-${version}] ` : "";
    appendFileSync(join(dir, "CommandExecution.log"), `${utcStamp()} INFO ExtHandler ${prefix}${message}\n`);
  }

  // ----- download + initialize (__setup_new_handler) ----------------------------------------------------------

  /**
   * "Downloads" a package zip: copies it to <lib>/<Name>__<ver>.zip, unpacks it into the base dir with Python's
   * zipfile.ZipFile.extractall (which drops modes and symlinks), then deletes the zip. Sets HandlerState=NotInstalled
   * first, as __setup_new_handler does. The version defaults to the one in the zip's file name.
   */
  installZip(zipPath: string, version?: string): InstalledPackage {
    const v = version ?? /-(\d+(?:\.\d+)*)(?:-simulated)?\.zip$/.exec(basename(zipPath))?.[1];
    if (!v) throw new Error(`cannot tell the version of ${zipPath}; pass it`);
    this.setHandlerState(v, "NotInstalled");
    const pkg = this.zipPathFor(v);
    copyFileSync(zipPath, pkg);
    execFileSync("python3", ["-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])", pkg, this.baseDir(v)], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    rmSync(pkg, { force: true }); // wire.py deletes the package once it is expanded
    this.currentVersion = v;
    return { version: v, baseDir: this.baseDir(v) };
  }

  /**
   * Fast alternative to installZip for tests: copies an already-staged extension directory into the base dir and
   * normalises it to what extractall would leave (files 0644, dirs 0755; symlinks, e.g. a linked runtime/bun,
   * are kept because a zip could not carry them anyway). The version defaults to the one in its HandlerManifest.json.
   */
  installDir(stagedDir: string, version?: string): InstalledPackage {
    let v = version;
    if (!v) {
      const manifest = JSON.parse(readFileSync(join(stagedDir, "HandlerManifest.json"), "utf8")) as Array<{ version?: unknown }>;
      v = String(manifest[0]?.version ?? "");
    }
    if (!/^\d+(?:\.\d+)*$/.test(v)) throw new Error(`invalid version ${v}`);
    this.setHandlerState(v, "NotInstalled");
    const base = this.baseDir(v);
    cpSync(stagedDir, base, { recursive: true, verbatimSymlinks: true });
    for (const file of walkFiles(base)) {
      if (lstatSync(file).isSymbolicLink()) continue;
      if (file.startsWith(this.configDir(v) + "/")) continue;
      chmodSync(file, 0o666 & ~UMASK);
    }
    for (const dir of walkDirs(base)) {
      if (dir !== this.configDir(v)) chmodSync(dir, 0o777 & ~UMASK);
    }
    this.currentVersion = v;
    return { version: v, baseDir: base };
  }

  /**
   * initialize(): u+x on every file, HandlerManifest.json copied to the base dir (found anywhere in the package,
   * BOM stripped), status/ and config/ (0700), <log>/events (0700), HandlerEnvironment.json.
   */
  initialize(version?: string): void {
    const v = this.resolveVersion(version);
    const base = this.baseDir(v);
    mkdirSync(this.logDir(), { recursive: true, mode: 0o755 }); // set_logger, when the instance is created
    for (const file of walkFiles(base)) {
      const st = lstatSync(file);
      if (st.isSymbolicLink()) continue; // cannot come from a zip; never chmod a link's target
      chmodSync(file, st.mode | 0o100);
    }
    const found = this.searchFile(base, "HandlerManifest.json");
    if (!found) throw new Error("[ExtensionDownloadError] HandlerManifest.json not found");
    let text = readFileSync(found, "utf8");
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    writeFileSync(join(base, "HandlerManifest.json"), text);
    this.validateSigningInfo(this.loadManifest(v), v);

    for (const dir of [this.statusDir(v), this.configDir(v), this.eventsDir()]) {
      mkdirSync(dir, { recursive: true });
      chmodSync(dir, 0o700);
    }
    const env = [
      {
        name: this.handlerName,
        version: new PyFloat(1.0),
        handlerEnvironment: {
          logFolder: this.logDir(),
          configFolder: this.configDir(v),
          statusFolder: this.statusDir(v),
          heartbeatFile: join(base, "heartbeat.log"),
          eventsFolder: this.eventsDir(),
          eventsFolder_preview: this.eventsDir(),
        },
      },
    ];
    writeFileSync(join(base, "HandlerEnvironment.json"), pyJsonDumps(env));
  }

  /**
   * signature_validation_util.validate_handler_manifest_signing_info: a package's signingInfo must name the
   * extension the agent downloaded (type, publisher, version; case-insensitive). Checked when present.
   */
  private validateSigningInfo(manifest: Record<string, unknown>, version: string): void {
    const info = manifest.signingInfo as Record<string, unknown> | undefined;
    if (info === undefined) return;
    const dot = this.handlerName.lastIndexOf(".");
    const expected = { type: this.handlerName.slice(dot + 1), publisher: this.handlerName.slice(0, dot), version };
    for (const [attribute, value] of Object.entries(expected)) {
      const declared = info[attribute];
      if (typeof declared !== "string") throw new Error(`[ManifestValidationError] HandlerManifest.json does not contain attribute 'signingInfo.${attribute}'`);
      if (declared.toLowerCase() !== value.toLowerCase()) {
        throw new Error(`[ManifestValidationError] expected extension ${attribute} '${value}' does not match downloaded package ${attribute} '${declared}'`);
      }
    }
  }

  private searchFile(dir: string, name: string): string | null {
    // fileutil.search_file: os.walk, first hit (top-down: the root's own files first)
    const entries = readdirSync(dir, { withFileTypes: true });
    for (const e of entries) if (!e.isDirectory() && e.name === name) return join(dir, e.name);
    for (const e of entries) {
      if (e.isDirectory()) {
        const hit = this.searchFile(join(dir, e.name), name);
        if (hit) return hit;
      }
    }
    return null;
  }

  /** json.loads(HandlerManifest.json)[0], with the agent's error codes for unreadable/malformed files. */
  loadManifest(version: string): { handlerManifest: Record<string, unknown> } & Record<string, unknown> {
    const file = join(this.baseDir(version), "HandlerManifest.json");
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      throw Object.assign(new Error(`[ExtensionError] Failed to load manifest file (${file}): ${(error as Error).message}`), {
        code: AGENT_CODES.manifestNotFound,
      });
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw Object.assign(new Error(`[ExtensionError] Malformed manifest file (${file}).`), { code: AGENT_CODES.manifestDeserialization });
    }
    const first = Array.isArray(data) ? (data[0] as Record<string, unknown> | undefined) : undefined;
    if (!first || typeof first.handlerManifest !== "object" || first.handlerManifest === null) {
      throw new Error("[ExtensionError] Malformed manifest file.");
    }
    return first as { handlerManifest: Record<string, unknown> };
  }

  // ----- settings (update_settings) ---------------------------------------------------------------------------

  /**
   * Writes config/<seq>.settings as the agent does and makes seq the current goal state's sequence number.
   * `null` settings write the empty file the agent writes for an extension without settings.
   */
  writeSettings(seq: number, settings: SettingsInput | null, version?: string): string {
    const v = this.resolveVersion(version);
    const dir = this.configDir(v);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, `${seq}.settings`);
    if (settings === null) {
      writeFileSync(file, "");
    } else {
      let blob: string | null = null;
      let thumbprint: string | null = null;
      if (settings.protectedSettingsBlob !== undefined) {
        blob = settings.protectedSettingsBlob;
        thumbprint = settings.thumbprint ?? this.certificate().thumbprint;
      } else if (settings.protectedSettings !== undefined && settings.protectedSettings !== null) {
        const cert = this.certificate();
        blob = encryptProtectedSettings(settings.protectedSettings, cert.crtPath);
        thumbprint = settings.thumbprint ?? cert.thumbprint;
      }
      const handlerSettings = {
        publicSettings: settings.publicSettings ?? null,
        protectedSettings: blob,
        protectedSettingsCertThumbprint: thumbprint,
      };
      writeFileSync(file, pyJsonDumps({ runtimeSettings: [{ handlerSettings }] }));
    }
    this.goalStateSeq = String(seq);
    return file;
  }

  /** __setup_new_handler: HandlerState=NotInstalled → download (zip or staged dir) → initialize → settings. */
  setup(
    source: { zip: string } | { dir: string },
    options: { version?: string; seq?: number; settings?: SettingsInput | null } = {},
  ): InstalledPackage {
    const pkg = "zip" in source ? this.installZip(source.zip, options.version) : this.installDir(source.dir, options.version);
    this.initialize(pkg.version);
    if (options.settings !== undefined || options.seq !== undefined) {
      this.writeSettings(options.seq ?? 0, options.settings ?? null, pkg.version);
    }
    return pkg;
  }

  // ----- one command (launch_command) --------------------------------------------------------------------------

  /**
   * What launch_command runs for one operation: `/bin/sh -c <command>` in the base dir with this environment
   * (the agent's own variables, then os.environ on top) and this timeout. run() executes it; the benchmark
   * executes the same spec under its rusage wrapper.
   */
  launchSpec(version: string, op: Operation, options: RunOptions = {}): LaunchSpec {
    const base = this.baseDir(version);
    const manifest = this.loadManifest(version);
    const cmd = manifest.handlerManifest[MANIFEST_COMMAND_KEY[op]];
    if (typeof cmd !== "string") {
      // data['handlerManifest']["…"] raises KeyError → an error with code -1
      throw Object.assign(new Error(`KeyError: '${MANIFEST_COMMAND_KEY[op]}'`), { code: AGENT_CODES.unknown });
    }
    const timeout = options.timeoutSeconds ?? this.timeouts[op];
    const seq = String(options.seq ?? this.goalStateSeq ?? "0");

    const agentEnv: Record<string, string> = {};
    if (op === "install" || op === "enable") {
      agentEnv.AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE = options.uninstallExitCode ?? NOT_RUN;
    }
    if (op === "update") {
      agentEnv.VERSION = options.updateToVersion ?? version;
      agentEnv.AZURE_GUEST_AGENT_UPDATING_FROM_VERSION = options.updatingFromVersion ?? version;
      agentEnv.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE = options.disableExitCode ?? NOT_RUN;
    }
    Object.assign(agentEnv, {
      AZURE_GUEST_AGENT_EXTENSION_PATH: base,
      AZURE_GUEST_AGENT_EXTENSION_VERSION: version,
      AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS: this.wireServerAddress,
      ConfigSequenceNumber: seq,
    });
    agentEnv.AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES = pyJsonDumps([{ Key: "ExtensionTelemetryPipeline", Value: "1.0" }]);

    const env: Record<string, string> = { ...agentEnv };
    for (const [k, val] of Object.entries({ ...this.baseEnv, ...options.extraEnv })) {
      if (val !== undefined) env[k] = val;
    }

    // os.path.join(base_dir, cmd.lstrip(os.path.sep)): plain concatenation, no normalisation
    const relative = cmd.replace(/^\/+/, "");
    const command = base.endsWith("/") ? base + relative : `${base}/${relative}`;
    return { command, manifestCommand: cmd, cwd: base, env, agentEnv, seq, timeout };
  }

  async run(version: string, op: Operation, options: RunOptions = {}): Promise<CommandResult> {
    const { command, manifestCommand: cmd, cwd: base, env, agentEnv, seq, timeout } = this.launchSpec(version, op, options);
    this.log(version, `Executing command: ${command} with environment variables: ${pyJsonDumps(agentEnv)}`);

    // tempfile.TemporaryFile(dir=base_dir): created in the base dir, already unlinked while the command runs.
    const tmpName = (stream: string) => join(base, `.tmp${stream}${randomBytes(6).toString("hex")}`);
    const outPath = tmpName("out");
    const errPath = tmpName("err");
    const outFd = openSync(outPath, "w+", 0o600);
    const errFd = openSync(errPath, "w+", 0o600);
    unlinkSync(outPath);
    unlinkSync(errPath);

    const started = Date.now();
    let exitCode: number | null = null;
    let timedOut = false;
    let pid = -1;
    let child;
    try {
      child = spawn("/bin/sh", ["-c", command], {
        cwd: base,
        env,
        detached: true, // preexec_fn=os.setsid: own session and process group
        stdio: ["ignore", outFd, errFd],
      });
    } catch (error) {
      closeSync(outFd);
      closeSync(errFd);
      throw error;
    }
    let done = false;
    const exited = new Promise<number | null>((resolveExit, rejectExit) => {
      child.once("error", (error) => {
        done = true;
        rejectExit(error);
      });
      child.once("exit", (code, signal) => {
        done = true;
        // Popen.returncode: -N when the shell died of signal N
        resolveExit(code ?? (signal ? -(osConstants.signals[signal] ?? 0) : null));
      });
    });
    exited.catch(() => {}); // observed below
    pid = child.pid ?? -1;
    if (pid < 0) {
      closeSync(outFd);
      closeSync(errFd);
      await exited; // rethrows the spawn error (ENOENT, EACCES on the cwd, …)
    }
    const killGroup = () => {
      timedOut = true;
      try {
        process.kill(-pid, "SIGKILL"); // os.killpg(os.getpgid(pid), SIGKILL)
      } catch {
        // the group is already gone
      }
    };

    if (this.timing === "agent") {
      // wait_for_process_completion_or_timeout: poll once a second; after exit, 1 s grace before reading output
      let remaining = timeout;
      while (remaining > 0 && !done) {
        await sleep(1000);
        remaining -= 1;
      }
      if (remaining <= 0) killGroup();
      else {
        await sleep(1000);
        exitCode = await exited;
      }
    } else {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), timeout * 1000);
      });
      const first = await Promise.race([exited.then(() => "exit" as const), deadline]);
      clearTimeout(timer);
      if (first === "timeout") killGroup();
      else exitCode = await exited;
    }
    if (timedOut) {
      // the agent does not wait for the killed shell; we only give the kernel a moment so nothing lingers
      await Promise.race([exited.catch(() => null), sleep(2000)]);
    }
    const durationMs = Date.now() - started;

    let stdout: string;
    let stderr: string;
    try {
      stdout = decodeBackslashReplace(readHead(outFd, OUTPUT_MAX_LEN));
      stderr = decodeBackslashReplace(readHead(errFd, OUTPUT_MAX_LEN));
    } finally {
      closeSync(outFd);
      closeSync(errFd);
    }
    const output = formatStdoutStderr(stdout, stderr);

    let error: AgentError | undefined;
    if (timedOut) {
      error = { code: AGENT_CODES.timeout, message: `[ExtensionError] Timeout(${timeout}): ${command}\n${output}` };
    } else if (exitCode !== 0) {
      error = {
        code: OPERATION_ERROR_CODE[op],
        message: `[ExtensionOperationError] Non-zero exit code: ${exitCode}, ${command}\n${output}`,
      };
    }
    this.log(version, `Command: ${cmd}\n${output.split("\n").filter((l) => l !== "").join("\n")}`);
    return { operation: op, version, command, seq, env, agentEnv, pid, exitCode, timedOut, durationMs, output, stdout, stderr, error };
  }

  // ----- status (collect_ext_status) -------------------------------------------------------------------------

  /** Parses status/<seq>.status and returns what the agent would report at the extension level. */
  readStatus(version: string, seq?: number | string): AgentExtensionStatus {
    const seqText = String(seq ?? this.goalStateSeq ?? "0");
    const seqNo = Number.parseInt(seqText, 10);
    const file = this.statusFile(version, seqText);
    const result: AgentExtensionStatus = {
      status: null,
      code: null,
      message: "",
      rawMessage: null,
      operation: null,
      configurationAppliedTime: null,
      substatus: [],
      file,
      sequenceNumber: seqNo,
    };
    const fullName = `${this.handlerName}-${version}`;
    if (!existsSync(file)) {
      result.status = "transitioning";
      result.code = 0;
      result.rawMessage = result.message =
        `This status is being reported by the Guest Agent since no status file was reported by extension ${this.handlerName}: ` +
        `[ExtensionStatusError] Status file ${file} does not exist`;
      return result;
    }
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      result.status = "error";
      result.code = AGENT_CODES.unknown;
      result.rawMessage = result.message = `We couldn't read any status for ${fullName} extension, for the sequence number ${seqNo}. It failed due to [ExtensionStatusError] ${(e as Error).message}`;
      return result;
    }
    result.raw = text;
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      result.status = "error";
      result.code = AGENT_CODES.statusInvalid;
      result.rawMessage = result.message =
        `The status reported by the extension ${fullName}(Sequence number ${seqNo}), was in an incorrect format and the agent could not parse it correctly. ` +
        `Failed due to [ExtensionStatusError] ${(e as Error).message} \n First 2000 Bytes of status file:\n ${Array.from(text).slice(0, 2000).join("")}`;
      return result;
    }
    try {
      parseExtStatus(result, data);
      if (Array.from(text).length > MAX_STATUS_FILE_SIZE) {
        // MaxSizeExceeded: still reported, with the message and substatus cut down
        let size: number;
        [result.rawMessage, size] = truncateField(result.rawMessage, MAX_STATUS_MESSAGE_LENGTH);
        result.message = messageText(result.rawMessage);
        const kept: AgentSubstatus[] = [];
        for (const sub of result.substatus) {
          let n: number;
          [sub.name, n] = truncateField(sub.name, MAX_SUBSTATUS_FIELD_LENGTH);
          size += n;
          [sub.rawMessage, n] = truncateField(sub.rawMessage, MAX_SUBSTATUS_FIELD_LENGTH);
          sub.message = messageText(sub.rawMessage);
          size += n;
          if (size <= MAX_STATUS_FILE_SIZE) kept.push(sub);
          else break;
        }
        result.substatus = kept;
      }
    } catch (e) {
      if (!(e instanceof StatusError)) throw e;
      result.rawMessage = result.message = `Could not get a valid status from the extension ${fullName}. Encountered the following error: ${e.message}`;
      result.code = AGENT_CODES.statusInvalid;
      result.status = "error";
    }
    return result;
  }

  /**
   * What the agent would upload for this handler: the handler-level status from config/HandlerStatus and, unless the
   * handler is NotInstalled, the extension-level status from the status file.
   */
  report(version: string, seq?: number | string): { handler: AgentHandlerStatus | null; extension: AgentExtensionStatus | null } {
    const handler = this.handlerStatus(version);
    const state = this.effectiveState(version);
    const extension = state === "NotInstalled" ? null : this.readStatus(version, seq);
    return { handler, extension };
  }

  // ----- sequences (contract §5) --------------------------------------------------------------------------------

  private finish(version: string, commands: CommandResult[], error?: AgentError): SequenceResult {
    return {
      version,
      commands,
      ok: error === undefined,
      handlerState: this.handlerState(version),
      handlerStatus: this.handlerStatus(version),
      ...(error ? { error } : {}),
    };
  }

  /** Records a failed operation the way __handle_and_report_ext_handler_errors does. */
  private fail(version: string, commands: CommandResult[], error: AgentError): SequenceResult {
    this.setHandlerStatus(version, "NotReady", error.message, error.code);
    return this.finish(version, commands, error);
  }

  /**
   * The part of the first-install row that follows download/initialize/settings (use setup() for those):
   * install (900 s) → HandlerState=Installed → enable (300 s) → HandlerState=Enabled, "Plugin enabled".
   * A failed install leaves NotInstalled (1007) and does not run enable.
   */
  async firstInstall(version?: string, options: SequenceOptions = {}): Promise<SequenceResult> {
    const v = this.resolveVersion(version);
    const commands: CommandResult[] = [];
    const install = await this.run(v, "install", { ...options, uninstallExitCode: NOT_RUN });
    commands.push(install);
    if (install.error) return this.fail(v, commands, install.error);
    this.setHandlerState(v, "Installed");
    this.setHandlerStatus(v, "NotReady", "Plugin installed but not enabled");
    return this.enableStep(v, commands, NOT_RUN, options);
  }

  private async enableStep(v: string, commands: CommandResult[], uninstallExitCode: string, options: SequenceOptions): Promise<SequenceResult> {
    const enable = await this.run(v, "enable", { ...options, uninstallExitCode });
    commands.push(enable);
    if (enable.error) return this.fail(v, commands, enable.error); // HandlerState stays as it was
    this.setHandlerState(v, "Enabled");
    this.setHandlerStatus(v, "Ready", "Plugin enabled");
    return this.finish(v, commands);
  }

  /**
   * A new goal state for an installed handler (or an agent restart/reboot): enable only. Write the new settings with
   * writeSettings() first. Like the agent, refuses a version that is not Installed/Enabled (that would be a setup).
   */
  async enable(version?: string, options: SequenceOptions = {}): Promise<SequenceResult> {
    const v = this.resolveVersion(version);
    const state = this.effectiveState(v);
    if (state === "NotInstalled" || state === "FailedUpgrade") {
      throw new Error(`${v} is ${state}: the agent would set it up again (setup() + firstInstall()/update()), not just enable it`);
    }
    return this.enableStep(v, [], NOT_RUN, options);
  }

  /** Legacy state="disabled": if Enabled, disable → HandlerState=Installed, "Plugin disabled". */
  async disable(version?: string, options: SequenceOptions = {}): Promise<SequenceResult> {
    const v = this.resolveVersion(version);
    const commands: CommandResult[] = [];
    if (this.effectiveState(v) === "Enabled") {
      const disable = await this.run(v, "disable", options);
      commands.push(disable);
      if (disable.error) return this.fail(v, commands, disable.error);
      this.setHandlerState(v, "Installed");
      this.setHandlerStatus(v, "NotReady", "Plugin disabled");
    }
    return this.finish(v, commands);
  }

  /**
   * Update from `from` to `to` (to must already be set up: setup() with its settings). Follows
   * _update_extension_handler_and_return_if_failed: from.disable (if Enabled) → copy mrseq and status/* → update
   * (in `to`, or in `from` on a downgrade) → from.uninstall → delete from's dir → to.install (UpdateWithInstall) →
   * HandlerState=Installed → to.enable. A failing old disable/uninstall is fatal (1008) unless `to`'s manifest has
   * continueOnUpdateFailure; a failing update marks the instance that ran it FailedUpgrade.
   */
  async update(from: string, to: string, options: SequenceOptions = {}): Promise<SequenceResult> {
    if (!existsSync(this.baseDir(to))) throw new Error(`${to} is not set up; call setup() for it first`);
    const commands: CommandResult[] = [];
    const newManifest = this.loadManifest(to).handlerManifest;
    const continueOnUpdateFailure = parseBoolean(newManifest.continueOnUpdateFailure, false);
    const updateWithInstall =
      newManifest.updateMode === undefined || newManifest.updateMode === null || String(newManifest.updateMode).toLowerCase() === "updatewithinstall";

    // execute_old_handler_command_and_return_if_succeeds
    const oldCommand = async (op: "disable" | "uninstall"): Promise<{ code: string } | { fatal: AgentError }> => {
      const result = await this.run(from, op, options);
      commands.push(result);
      if (!result.error) {
        if (op === "disable") {
          this.setHandlerState(from, "Installed");
          this.setHandlerStatus(from, "NotReady", "Plugin disabled");
        }
        return { code: "0" };
      }
      const message = `${result.error.message}; ContinueOnUpdate: ${continueOnUpdateFailure ? "True" : "False"}`;
      if (!continueOnUpdateFailure) return { fatal: { code: AGENT_CODES.update, message: `[ExtensionUpdateError] ${message}` } };
      return { code: String(result.timedOut ? AGENT_CODES.timeout : result.exitCode) };
    };

    let disableExitCode = NOT_RUN;
    if (this.effectiveState(from) === "Enabled") {
      const r = await oldCommand("disable");
      if ("fatal" in r) return this.fail(to, commands, r.fatal);
      disableExitCode = r.code;
    }

    // copy_status_files
    const mrseq = join(this.baseDir(from), "mrseq");
    if (existsSync(mrseq) && statSync(mrseq).isFile()) this.copy2(mrseq, join(this.baseDir(to), "mrseq"));
    const oldStatus = this.statusDir(from);
    if (existsSync(oldStatus)) {
      for (const name of readdirSync(oldStatus)) {
        const p = join(oldStatus, name);
        if (statSync(p).isFile()) this.copy2(p, join(this.statusDir(to), name));
      }
    }

    const upgrading = compareVersions(to, from) > 0;
    const updateIn = upgrading ? to : from;
    const update = await this.run(updateIn, "update", {
      ...options,
      updateToVersion: to,
      updatingFromVersion: upgrading ? from : to, // on a downgrade the agent passes the target version (sic)
      disableExitCode,
    });
    commands.push(update);
    if (update.error) {
      this.setHandlerState(updateIn, "FailedUpgrade");
      return this.fail(to, commands, update.error);
    }

    const u = await oldCommand("uninstall");
    if ("fatal" in u) return this.fail(to, commands, u.fatal);
    const uninstallExitCode = u.code;
    this.removeHandler(from);

    if (updateWithInstall) {
      const install = await this.run(to, "install", { ...options, uninstallExitCode });
      commands.push(install);
      if (install.error) return this.fail(to, commands, install.error);
      this.setHandlerState(to, "Installed");
      this.setHandlerStatus(to, "NotReady", "Plugin installed but not enabled");
    }
    this.setHandlerState(to, "Installed");
    return this.enableStep(to, commands, uninstallExitCode, options);
  }

  /**
   * state="uninstall": if Enabled, disable (a failure → 1010, uninstall not run, dir kept); then uninstall (errors
   * swallowed) and the base dir and zip deleted.
   */
  async uninstall(version?: string, options: SequenceOptions = {}): Promise<SequenceResult> {
    const v = this.resolveVersion(version);
    const commands: CommandResult[] = [];
    const state = this.effectiveState(v);
    let swallowed: AgentError | undefined;
    if (state !== "NotInstalled") {
      if (state === "Enabled") {
        const disable = await this.run(v, "disable", options);
        commands.push(disable);
        if (disable.error) return this.fail(v, commands, disable.error);
        this.setHandlerState(v, "Installed");
        this.setHandlerStatus(v, "NotReady", "Plugin disabled");
      }
      const uninstall = await this.run(v, "uninstall", options);
      commands.push(uninstall);
      swallowed = uninstall.error; // reported as telemetry only
    }
    this.removeHandler(v);
    return { version: v, commands, ok: true, handlerState: null, handlerStatus: null, ...(swallowed ? { error: swallowed } : {}) };
  }

  /** remove_ext_handler: delete the package zip and the base dir. */
  removeHandler(version: string): void {
    rmSync(this.zipPathFor(version), { force: true });
    rmSync(this.baseDir(version), { recursive: true, force: true });
  }

  /** shutil.copy2: contents, mode and timestamps. */
  private copy2(src: string, dest: string): void {
    copyFileSync(src, dest);
    const st = statSync(src);
    chmodSync(dest, st.mode & 0o7777);
    utimesSync(dest, st.atime, st.mtime);
  }

  /** Deletes the whole fake agent root (only when this agent created or was given it). */
  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
