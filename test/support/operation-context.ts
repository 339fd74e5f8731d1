// An OperationContext for calling one operation in-process against a temp system root (no guest agent,
// no handler process): for decisions that need no tool, or only the simulated ones.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Deadline } from "../../src/handler/deadline.ts";
import type { HandlerEnvironment } from "../../src/handler/environment.ts";
import { silentLogger } from "../../src/handler/log.ts";
import type { OperationContext } from "../../src/handler/operations/context.ts";
import { systemPaths } from "../../src/handler/paths.ts";
import { parseProcessEnvironment } from "../../src/handler/process-env.ts";
import { StateStore } from "../../src/handler/state.ts";
import { makeTempDir } from "../../simulator/system-root.ts";

export function operationContext(
  options: { version?: string; processEnv?: NodeJS.ProcessEnv; root?: string; operation?: OperationContext["operation"] } = {},
): OperationContext {
  const base = makeTempDir("omsop-");
  const root = options.root ?? join(base, "root");
  mkdirSync(root, { recursive: true });
  const version = options.version ?? "1.19.0";
  const env: HandlerEnvironment = {
    extensionDir: join(base, `ext-${version}`),
    name: "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux",
    version,
    logFolder: join(base, "log"),
    configFolder: join(base, "config"),
    statusFolder: join(base, "status"),
    stateDir: join(base, "state"),
    libDir: base,
  };
  const processEnv = parseProcessEnvironment({ OMS_HANDLER_ROOT: root, ...options.processEnv });
  return {
    operation: options.operation ?? "enable",
    env,
    seq: 0,
    paths: systemPaths(root),
    state: new StateStore(env.stateDir),
    log: silentLogger(),
    deadline: new Deadline(60_000),
    tuning: processEnv.tuning,
    processEnv,
    childEnv: processEnv.childEnv,
    settings: async () => null,
    reportTransitioning: () => {},
  };
}
