// One command, as launch_command runs it: the environment and the `/bin/sh -c` line built from the manifest
// (launchSpec), then the shell in its own session, output to unlinked temp files in the base dir, the process group
// killed at the timeout, and the exit, output and agent error collected (runLaunchSpec). The benchmark runs the
// same spec under its rusage wrapper, so what it measures is what the agent would start.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, unlinkSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { join } from "node:path";
import {
  AGENT_CODES,
  MANIFEST_COMMAND_KEY,
  NOT_RUN,
  OPERATION_ERROR_CODE,
  OUTPUT_MAX_LEN,
  type AgentError,
  type CommandResult,
  type LaunchSpec,
  type Operation,
  type RunOptions,
} from "./contract.ts";
import { decodeBackslashReplace, formatStdoutStderr, readHead } from "./output.ts";
import { pyJsonDumps } from "./python-json.ts";

/** What of the agent's own state a command's launch depends on. */
export interface LaunchContext {
  wireServerAddress: string;
  baseEnv: Record<string, string | undefined>;
  goalStateSeq: string | undefined;
  /** The agent's timeout for this operation (seconds). */
  timeout: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function launchSpec(
  base: string,
  manifest: { handlerManifest: Record<string, unknown> },
  version: string,
  op: Operation,
  options: RunOptions,
  agent: LaunchContext,
): LaunchSpec {
  const cmd = manifest.handlerManifest[MANIFEST_COMMAND_KEY[op]];
  if (typeof cmd !== "string") {
    // data['handlerManifest']["…"] raises KeyError → an error with code -1
    throw Object.assign(new Error(`KeyError: '${MANIFEST_COMMAND_KEY[op]}'`), { code: AGENT_CODES.unknown });
  }
  const timeout = options.timeoutSeconds ?? agent.timeout;
  const seq = String(options.seq ?? agent.goalStateSeq ?? "0");

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
    AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS: agent.wireServerAddress,
    ConfigSequenceNumber: seq,
  });
  agentEnv.AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES = pyJsonDumps([{ Key: "ExtensionTelemetryPipeline", Value: "1.0" }]);

  const env: Record<string, string> = { ...agentEnv };
  for (const [k, val] of Object.entries({ ...agent.baseEnv, ...options.extraEnv })) {
    if (val !== undefined) env[k] = val;
  }

  // os.path.join(base_dir, cmd.lstrip(os.path.sep)): plain concatenation, no normalisation
  const relative = cmd.replace(/^\/+/, "");
  const command = base.endsWith("/") ? base + relative : `${base}/${relative}`;
  return { command, manifestCommand: cmd, cwd: base, env, agentEnv, seq, timeout };
}

export async function runLaunchSpec(spec: LaunchSpec, op: Operation, version: string, timing: "fast" | "agent"): Promise<CommandResult> {
  const { command, cwd: base, env, agentEnv, seq, timeout } = spec;

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

  if (timing === "agent") {
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
  return { operation: op, version, command, seq, env, agentEnv, pid, exitCode, timedOut, durationMs, output, stdout, stderr, error };
}
