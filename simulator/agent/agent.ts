// A fake Azure Linux guest agent (WALinuxAgent 2.15.0.1) that drives an extension handler the way
// the real agent's ga/exthandlers.py and ga/extensionprocessutil.py do it:
//
//  - layout: <lib>/<Name>__<ver>.zip → <lib>/<Name>-<ver>/ (zipfile.extractall: modes lost, then u+x on every
//    file), config/ and status/ (0700), <logRoot>/<Name>/ (0755) with events/ (0700), HandlerEnvironment.json
//    as a single-line json.dumps with version 1.0;
//  - settings: config/<seq>.settings as json.dumps of one runtimeSettings element with all three keys;
//  - commands (launch.ts): the manifest's command run as `/bin/sh -c "<base>/<cmd>"`, cwd = base dir, in a new session
//    (setsid), stdout/stderr to unlinked temp files in the base dir, killed with killpg(SIGKILL) at the
//    operation's timeout; env = agent variables, then the agent's own environment on top (env.update(os.environ));
//    only the first 3200 bytes of each stream are read and formatted by format_stdout_stderr;
//  - status (status.ts): status/<seq>.status parsed like parse_ext_status/collect_ext_status;
//  - sequences: first install, enable, disable, update A→B (with continueOnUpdateFailure and 1008 rules), uninstall,
//    with config/HandlerState and config/HandlerStatus kept like the agent.
//
// Differences from the real agent, on purpose: no cgroups/systemd-run; the status file is read once (the agent
// retries a missing/bad file 5 times 2 s apart); in the default "fast" timing the command's exit is noticed at once
// (timing: "agent" restores the 1 s poll and the 1 s grace after exit); SAS-token redaction of output is not done.
import { execFileSync } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { encryptProtectedSettings, makeCertificate, type TestCertificate } from "./certificates.ts";
import {
  AGENT_CODES,
  AGENT_TIMEOUTS,
  NOT_RUN,
  OMS_HANDLER_NAME,
  WIRE_SERVER_ADDRESS,
  type AgentError,
  type AgentHandlerStatus,
  type CommandResult,
  type FakeGuestAgentOptions,
  type HandlerState,
  type InstalledPackage,
  type LaunchSpec,
  type Operation,
  type RunOptions,
  type SequenceOptions,
  type SequenceResult,
  type SettingsInput,
} from "./contract.ts";
import { launchSpec, runLaunchSpec } from "./launch.ts";
import { PyFloat, pyJsonDumps } from "./python-json.ts";
import { readStatusFile, type AgentExtensionStatus } from "./status.ts";
import { compareVersions } from "../../src/shared/versions.ts";

/** Files the agent creates are plain open()/makedirs() under root's usual umask. */
const UMASK = 0o022;

function parseBoolean(value: unknown, defaultValue: boolean): boolean {
  if (typeof value === "boolean") return value;
  return typeof value === "string" && value.toLowerCase() === "true" ? true : defaultValue;
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
   * normalises it to what extractall would leave (files 0644, dirs 0755; symlinks, e.g. a linked bin/handler,
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
  setup(source: { zip: string } | { dir: string }, options: { version?: string; seq?: number; settings?: SettingsInput | null } = {}): InstalledPackage {
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
    return launchSpec(this.baseDir(version), this.loadManifest(version), version, op, options, {
      wireServerAddress: this.wireServerAddress,
      baseEnv: this.baseEnv,
      goalStateSeq: this.goalStateSeq,
      timeout: this.timeouts[op],
    });
  }

  async run(version: string, op: Operation, options: RunOptions = {}): Promise<CommandResult> {
    const spec = this.launchSpec(version, op, options);
    this.log(version, `Executing command: ${spec.command} with environment variables: ${pyJsonDumps(spec.agentEnv)}`);
    const result = await runLaunchSpec(spec, op, version, this.timing);
    this.log(
      version,
      `Command: ${spec.manifestCommand}\n${result.output
        .split("\n")
        .filter((l) => l !== "")
        .join("\n")}`,
    );
    return result;
  }

  // ----- status (collect_ext_status) -------------------------------------------------------------------------

  /** Parses status/<seq>.status and returns what the agent would report at the extension level. */
  readStatus(version: string, seq?: number | string): AgentExtensionStatus {
    const seqText = String(seq ?? this.goalStateSeq ?? "0");
    return readStatusFile(this.statusFile(version, seqText), this.handlerName, version, seqText);
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

  // ----- sequences --------------------------------------------------------------------------------

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
