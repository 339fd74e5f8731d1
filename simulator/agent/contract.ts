// What the fake guest agent and the handler agree on: the handler's name, the operations and their timeouts, the
// agent's error codes, and the shapes of what the agent is given and reports. The behaviour lives beside it:
// layout and sequences (agent.ts), running one command (launch.ts), reading the status file (status.ts).

export const OMS_HANDLER_NAME = "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux";
export const WIRE_SERVER_ADDRESS = "168.63.129.16";
export const NOT_RUN = "NOT_RUN";
/** ga/extensionprocessutil.py TELEMETRY_MESSAGE_MAX_LEN */
export const OUTPUT_MAX_LEN = 3200;

export type Operation = "install" | "enable" | "disable" | "update" | "uninstall";
export type HandlerState = "NotInstalled" | "Installed" | "Enabled" | "FailedUpgrade";

/** Timeouts in seconds, as launch_command is called for each operation (ga/exthandlers.py). */
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

export const OPERATION_ERROR_CODE: Record<Operation, number> = {
  install: AGENT_CODES.install,
  update: AGENT_CODES.update,
  enable: AGENT_CODES.enable,
  disable: AGENT_CODES.disable,
  uninstall: AGENT_CODES.processing, // launch_command's default extension_error_code
};

export const MANIFEST_COMMAND_KEY: Record<Operation, string> = {
  install: "installCommand",
  enable: "enableCommand",
  disable: "disableCommand",
  update: "updateCommand",
  uninstall: "uninstallCommand",
};

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
