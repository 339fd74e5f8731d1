// `omsagent-shim doctor [--json] [--offline]`: the machine explains itself, offline by default-safe steps and,
// unless --offline, with a short look at the network. Run by hand (or through Run Command) from the extension
// directory; it changes nothing, takes no lock and writes no status.
import { EXTENSION_FULL_NAME } from "../../shared/identity.ts";
import { Deadline } from "../deadline.ts";
import { loadEnvironment } from "../environment.ts";
import { silentLineLogger } from "../log-line.ts";
import { systemPaths } from "../paths.ts";
import { parseProcessEnvironment } from "../process-env.ts";
import { registerProxySecrets } from "../secrets.ts";
import { agentChecks, agentProxy, historyChecks, machineChecks } from "./checks.ts";
import { endpointChecks } from "./network.ts";
import { fail, renderJson, renderText, type Check, type DoctorReport } from "./report.ts";

const USAGE = "usage: omsagent-shim doctor [--json [--failed-only]] [--offline]";
const OPTIONS = ["--json", "--offline", "--failed-only"];
/** The whole doctor run stays well inside Run Command's own time limit. */
const BUDGET_MS = 120_000;

export interface DoctorOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

export async function runDoctor(args: string[], extensionDir: string, processEnv: NodeJS.ProcessEnv, output: DoctorOutput): Promise<number> {
  const unknown = args.filter((arg) => !OPTIONS.includes(arg));
  if (unknown.length > 0) {
    output.stderr(`OmsAgentForLinux doctor: unknown option ${unknown[0]}\n${USAGE}\n`);
    return 1;
  }
  const json = args.includes("--json");
  const offline = args.includes("--offline");
  const environment = parseProcessEnvironment(processEnv);
  const { tuning } = environment;
  const paths = systemPaths(tuning.systemRoot);
  const context = { paths, minFreeMb: tuning.minFreeMb, childEnv: environment.childEnv, deadline: new Deadline(BUDGET_MS), log: silentLineLogger() };
  const proxy = agentProxy(paths);
  registerProxySecrets(proxy);

  const checks: Check[] = await machineChecks(context);
  const agent = await agentChecks(context);
  checks.push(...agent.checks);

  let statusFolder: string | undefined;
  let logFolder: string | undefined;
  try {
    const env = loadEnvironment(extensionDir, environment);
    statusFolder = env.statusFolder;
    logFolder = env.logFolder;
  } catch (error) {
    checks.push(
      fail(
        "history",
        "extension",
        `${(error as Error).message}`,
        `run doctor from the extension's directory (/var/lib/waagent/${EXTENSION_FULL_NAME}-<version>)`,
      ),
    );
  }
  checks.push(...historyChecks(statusFolder, logFolder));

  if (!offline) {
    for (const workspace of agent.workspaces.filter((w) => w.domain)) {
      for (const service of ["oms", "ods"]) {
        checks.push(
          ...(await endpointChecks(`network ${workspace.id}`, service, `${workspace.id}.${service}.${workspace.domain}`, {
            proxy,
            serviceAddress: tuning.serviceAddress,
            caFile: tuning.serviceCa,
          })),
        );
      }
    }
  }

  const report: DoctorReport = { healthy: checks.every((check) => check.ok), checks };
  // --failed-only: what the fleet CLI asks for through Run Command, which keeps only 4 KB of output.
  output.stdout(json ? renderJson(report, args.includes("--failed-only")) : renderText(report));
  return report.healthy ? 0 : 1;
}
