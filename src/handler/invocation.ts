// One run of the handler for one guest-agent command: environment → sequence → lock → operation →
// status, extension.log, telemetry and the exit code. The only place errors become a status and a code.
import { join } from "node:path";
import { AGENT_TIMEOUT_SECONDS, Deadline, monotonicNow, operationBudgetMs, type OperationName } from "./deadline.ts";
import { formatFailure } from "../shared/status-message.ts";
import { loadEnvironment, packageFullName, type HandlerEnvironment } from "./environment.ts";
import { ExtensionError, isExtensionCode, toExtensionError } from "./errors.ts";
import { acquireLock, type Release } from "./lock.ts";
import { hasNothingToDo, nothingToDoOutcome } from "./fast-path.ts";
import { createLineLogger, LOG_FILE, type Logger } from "./log-line.ts";
import { loadOperation, parseOperation } from "./operations/index.ts";
import type { OperationContext, OperationOutcome } from "./operations/context.ts";
import { systemPaths, type SystemPaths } from "./paths.ts";
import { parseProcessEnvironment, type ProcessEnvironment, type Tuning } from "./process-env.ts";
import { redact } from "./secrets.ts";
import { currentSequence } from "./sequence.ts";
import type { Settings } from "./settings.ts";
import { StateStore } from "./state.ts";
import { writeStatus, type StatusReport, type SubStatus } from "./status.ts";
import { writeTelemetryEvent } from "./telemetry.ts";

export interface Output {
  stdout(line: string): void;
  stderr(line: string): void;
}

const capitalized = (operation: string) => operation.charAt(0).toUpperCase() + operation.slice(1);

export function failureMessage(operation: string, error: ExtensionError): string {
  return formatFailure(operation, error.code, error.reason, error.problem, error.action);
}

/** Exit codes outside 0 and 9–63 must never leave the process. */
export function safeExitCode(code: number): number {
  return code === 0 || isExtensionCode(code) ? code : 30;
}

/** Without HandlerEnvironment.json we still leave a status where the agent looks by default. */
function fallbackStatus(extensionDir: string, processEnv: ProcessEnvironment, operation: string, error: ExtensionError): void {
  try {
    writeStatus(join(extensionDir, "status"), processEnv.configSequenceNumber ?? 0, packageFullName(extensionDir), {
      operation: capitalized(operation),
      status: "error",
      code: error.code,
      message: failureMessage(operation, error),
    });
  } catch {
    // Nothing more we can do; stderr still says why.
  }
}

/**
 * The last resort for an exception nothing caught (main.ts): a status with code 30 where the guest agent reads
 * it, so that the portal does not go on showing the previous operation's status as if nothing happened.
 */
export function lastResortStatus(argument: string | undefined, extensionDir: string, rawEnv: NodeJS.ProcessEnv, error: unknown): void {
  const operation = parseOperation(argument);
  if (!operation) return;
  const processEnv = parseProcessEnvironment(rawEnv);
  const failure = toExtensionError(error);
  try {
    const env = loadEnvironment(extensionDir, processEnv);
    writeStatus(env.statusFolder, currentSequence(env.configFolder, processEnv), env.name, {
      operation: capitalized(operation),
      status: "error",
      code: failure.code,
      message: failureMessage(operation, failure),
    });
  } catch {
    fallbackStatus(extensionDir, processEnv, operation, failure);
  }
}

export async function invoke(argument: string | undefined, extensionDir: string, rawEnv: NodeJS.ProcessEnv, output: Output): Promise<number> {
  const processEnv = parseProcessEnvironment(rawEnv);
  const operation = parseOperation(argument);
  if (!operation) {
    output.stderr(`OmsAgentForLinux: unknown operation '${argument ?? ""}' (expected install, enable, disable, update or uninstall)`);
    return 30;
  }
  let env: HandlerEnvironment;
  try {
    env = loadEnvironment(extensionDir, processEnv);
  } catch (error) {
    const failure = toExtensionError(error);
    fallbackStatus(extensionDir, processEnv, operation, failure);
    output.stderr(failureMessage(operation, failure));
    return safeExitCode(failure.code);
  }
  const seq = currentSequence(env.configFolder, processEnv);
  const { tuning } = processEnv;
  const paths = systemPaths(tuning.systemRoot);
  const state = new StateStore(env.stateDir);
  const logContext = { logFolder: env.logFolder, operation, seq };
  let log: Logger;
  try {
    log = hasNothingToDo(operation, { env, seq, paths, state }) ? createLineLogger(logContext) : (await import("./log.ts")).createLogger(logContext);
  } catch (error) {
    // Without pino the run can still log, and must still leave a status.
    log = createLineLogger(logContext);
    log.warn({ err: error }, "the pino logger could not be loaded; logging without it");
  }
  return runOperation(operation, { env, seq, tuning, paths, state, log }, processEnv, output);
}

interface Run {
  env: HandlerEnvironment;
  seq: number;
  tuning: Tuning;
  paths: SystemPaths;
  state: StateStore;
  log: Logger;
}

async function runOperation(operation: OperationName, run: Run, processEnv: ProcessEnvironment, output: Output): Promise<number> {
  const { env, seq, tuning, paths, state, log } = run;
  const started = monotonicNow();
  const deadline = new Deadline(operationBudgetMs(operation, tuning.deadlineSeconds));
  const Operation = capitalized(operation);
  const report = (status: StatusReport) => writeStatus(env.statusFolder, seq, env.name, status);
  log.info(
    {
      handlerVersion: env.version,
      runtime: process.versions.bun ? `bun ${process.versions.bun}` : `node ${process.version}`,
      extensionDir: env.extensionDir,
      budgetSeconds: Math.round(deadline.budgetMs / 1000),
      agentTimeoutSeconds: AGENT_TIMEOUT_SECONDS[operation],
    },
    `${operation} started`,
  );

  // Loaded once per invocation; settings with the protected part also serve a public-only request. The module
  // (and ajv with it) only when an operation asks.
  const load = async (needProtected: boolean) =>
    (await import("./settings.ts")).loadSettings(
      env.configFolder,
      seq,
      { needProtected },
      { libDir: env.libDir, waagentLib: paths.waagentLib, childEnv: processEnv.childEnv, deadline, log },
    );
  let withProtected: Promise<Settings | null> | undefined;
  let publicOnly: Promise<Settings | null> | undefined;
  const context: OperationContext = {
    operation,
    env,
    seq,
    paths,
    state,
    log,
    deadline,
    tuning,
    processEnv,
    childEnv: processEnv.childEnv,
    settings: ({ needProtected }) => (needProtected ? (withProtected ??= load(true)) : (withProtected ?? (publicOnly ??= load(false)))),
    reportTransitioning: (message) => report({ operation: Operation, status: "transitioning", code: 0, message }),
  };

  let release: Release | undefined;
  let outcome: OperationOutcome | undefined;
  let exitCode: number;
  let message: string;
  try {
    release = await acquireLock(env.stateDir, deadline.remainingMs(), deadline, log, (error) => {
      log.error({ err: error }, "the handler lock was taken over by another process: aborting");
      deadline.abort(
        new ExtensionError(
          "LockLost",
          "another OmsAgentForLinux operation took over the handler lock while this one ran",
          "retry; the guest agent does so on the next goal state",
        ),
      );
    });
    outcome = nothingToDoOutcome(operation, context, log) ?? (await (await loadOperation(operation))(context));
    if (deadline.signal.aborted) throw deadline.signal.reason;
    message = outcome.message;
    exitCode = 0;
    if (outcome.unchanged) {
      log.info(`${operation} made no change; status left as it was`);
    } else {
      report({ operation: Operation, status: "success", code: 0, message, substatus: outcome.substatus });
    }
  } catch (error) {
    const failure = toExtensionError(deadline.signal.aborted ? deadline.signal.reason : error);
    message = failureMessage(operation, failure);
    exitCode = safeExitCode(failure.code);
    log.error({ code: failure.code, reason: failure.reason, details: failure.details, err: failure.cause ?? undefined }, message);
    const substatus: SubStatus[] = failure.details ? [{ name: "Details", status: "error", code: failure.code, message: failure.details }] : [];
    try {
      report({ operation: Operation, status: "error", code: exitCode, message, substatus });
    } catch (statusError) {
      log.error({ err: statusError }, "could not write the status file");
    }
  } finally {
    try {
      await release?.();
    } catch (error) {
      log.warn(`releasing the handler lock failed: ${(error as Error).message}`);
    }
  }
  if (exitCode === 0 && outcome?.purgeState) state.removeAll();

  const durationMs = Math.round(monotonicNow() - started);
  if (env.eventsFolder) {
    try {
      writeTelemetryEvent({
        eventsFolder: env.eventsFolder,
        name: env.name,
        version: env.version,
        operation,
        success: exitCode === 0,
        durationMs,
        message,
        operationId: crypto.randomUUID(),
      });
    } catch (error) {
      log.warn(`could not write the telemetry event: ${(error as Error).message}`);
    }
  }
  log.info({ exitCode, durationMs }, `${operation} finished`);
  output.stdout(
    redact(
      `[${env.name} ${env.version}] ${operation} seq ${seq}: ${exitCode === 0 ? "success" : `error ${exitCode}`} in ${(durationMs / 1000).toFixed(1)} s — ${message} (log: ${join(env.logFolder, LOG_FILE)})`,
    ),
  );
  if (exitCode !== 0) output.stderr(redact(message));
  return exitCode;
}
