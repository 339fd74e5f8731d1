// `omsagent-shim doctor [--json] [--failed-only] [--offline]`: the machine explains itself, offline by default-safe
// steps and, unless --offline, with a short look at the network. Run by hand (or through Run Command) from the
// extension directory; it changes nothing, takes no lock and writes no status. What it cannot check is a SKIP with
// the reason. The whole run is bounded: past its budget it prints what it found and says what it did not finish.
import { DEFAULT_DOMAIN, domainForEnvironment, fetchInstanceMetadata } from "../metadata.ts";
import { resolveProxy } from "../connectivity.ts";
import { Deadline } from "../deadline.ts";
import { handlerEnvironmentPath, loadEnvironment, packageFullName, type HandlerEnvironment } from "../environment.ts";
import { silentLineLogger } from "../log-line.ts";
import { systemPaths } from "../paths.ts";
import { parseProcessEnvironment } from "../process-env.ts";
import { proxyEndpoint, registerProxySecrets } from "../secrets.ts";
import { currentSequence } from "../sequence.ts";
import { loadSettings, type Settings } from "../settings.ts";
import { StateStore } from "../state.ts";
import { agentChecks, agentProxy, historyChecks, lastStatuses, machineChecks, type DoctorContext, type LastStatuses } from "./checks.ts";
import { endpointChecks } from "./network.ts";
import { fail, pass, renderJson, renderText, skip, type Check, type DoctorReport } from "./report.ts";

const USAGE = `usage: omsagent-shim doctor [--json] [--failed-only] [--offline]
  --json         one JSON object instead of one line per check
  --failed-only  only the failed checks (and the verdict)
  --offline      no network checks
exit status: 0 healthy, 1 a check failed, 2 bad usage
`;
const OPTIONS = ["--json", "--offline", "--failed-only"];
/** The whole doctor run stays well inside Run Command's own time limit (OMS_HANDLER_DEADLINE_SECONDS overrides). */
const BUDGET_MS = 120_000;

export interface DoctorOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface DoctorOptions {
  /** The effective uid (tests pretend not to be root). */
  uid?: number;
}

interface Target {
  id: string;
  domain: string;
  domainSource: string;
  proxy?: string;
  proxySource: string;
  why: string;
}

export async function runDoctor(
  args: string[],
  extensionDir: string,
  processEnv: NodeJS.ProcessEnv,
  output: DoctorOutput,
  options: DoctorOptions = {},
): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    output.stdout(USAGE);
    return 0;
  }
  const unknown = args.filter((arg) => !OPTIONS.includes(arg));
  if (unknown.length > 0) {
    output.stderr(`OmsAgentForLinux doctor: unknown option ${unknown[0]}\n${USAGE}`);
    return 2;
  }
  const json = args.includes("--json");
  const offline = args.includes("--offline");
  const failedOnly = args.includes("--failed-only");
  const uid = options.uid ?? process.getuid?.() ?? 0;
  if (uid !== 0) {
    output.stderr(
      `OmsAgentForLinux doctor: warning: not running as root (uid ${uid}): files only root may read (the settings' certificate, the agent's key, package locks) may be reported wrongly or skipped — run it with sudo\n`,
    );
  }

  const environment = parseProcessEnvironment(processEnv);
  const { tuning } = environment;
  const budgetMs = tuning.deadlineSeconds !== undefined ? tuning.deadlineSeconds * 1000 : BUDGET_MS;
  const paths = systemPaths(tuning.systemRoot);
  const deadline = new Deadline(budgetMs);
  const context: DoctorContext = { paths, minFreeMb: tuning.minFreeMb, childEnv: environment.childEnv, deadline, log: silentLineLogger() };

  const checks: Check[] = [];
  const run = async () => {
    const proxy = agentProxy(paths);
    registerProxySecrets(proxy);

    // HandlerEnvironment.json says where the status and log are; without it the history is not looked at.
    let env: HandlerEnvironment | undefined;
    let statuses: LastStatuses | undefined;
    const found = handlerEnvironmentPath(extensionDir) !== undefined;
    const historyProblem: Check[] = [];
    if (!found) {
      historyProblem.push(
        skip(
          "history",
          "status and log",
          `no HandlerEnvironment.json in ${extensionDir} or its parent, so the extension's status files and extension.log were not read — run doctor through the omsagent-shim of the installed extension (/var/lib/waagent/${packageFullName(extensionDir)}-<version>)`,
        ),
      );
    } else {
      try {
        env = loadEnvironment(extensionDir, environment);
        statuses = lastStatuses(env.statusFolder);
      } catch (error) {
        historyProblem.push(
          fail(
            "history",
            "HandlerEnvironment.json",
            (error as Error).message,
            "every operation of the extension fails with 30 like this: remove the extension and add it again so the guest agent rewrites it",
          ),
        );
      }
    }

    checks.push(...(await machineChecks(context)));
    const agent = await agentChecks(context, statuses);
    checks.push(...agent.checks);
    checks.push(...historyProblem);
    if (env && statuses) checks.push(...historyChecks(statuses, env.logFolder));

    if (offline) {
      checks.push(skip("network", "endpoints", "--offline: name resolution, TCP 443, TLS and the clock against the service were not checked"));
      return;
    }
    const targets = await networkTargets(context, env, environment, agent.workspaces, proxy);
    if (targets.length === 0) {
      checks.push(
        skip(
          "network",
          "endpoints",
          "no workspace is known (none onboarded, none in the extension's settings or in the handler's last applied state), so there is no service address to check",
        ),
      );
    }
    for (const target of targets) {
      const area = `network ${target.id}`;
      checks.push(
        pass(
          area,
          "target",
          `${target.why}; domain ${target.domain} (${target.domainSource}); ${target.proxy ? `proxy ${proxyEndpoint(target.proxy)} (${target.proxySource})` : "no proxy"}`,
        ),
      );
      for (const service of ["oms", "ods"]) {
        checks.push(
          ...(await endpointChecks(area, service, `${target.id}.${service}.${target.domain}`, {
            proxy: target.proxy,
            serviceAddress: tuning.serviceAddress,
            caFile: tuning.serviceCa,
          })),
        );
      }
    }
  };

  let timer: NodeJS.Timeout | undefined;
  const finished = await Promise.race([
    run().then(() => true),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), budgetMs);
    }),
  ]).finally(() => clearTimeout(timer));
  if (!finished) {
    checks.push(
      fail(
        "doctor",
        "time",
        `stopped after ${budgetMs / 1000} s with checks still running (the last ones are not listed); the lines above are what it found`,
        "a network step is hanging (see the checks above); run doctor --offline for the machine's own checks",
      ),
    );
  }

  const report: DoctorReport = { healthy: checks.every((check) => check.ok), checks: [...checks] };
  // --failed-only: what the fleet CLI asks for through Run Command, which keeps only 4 KB of output.
  output.stdout(json ? renderJson(report, failedOnly) : renderText(report, failedOnly));
  return report.healthy ? 0 : 1;
}

/**
 * The workspaces to probe: each onboarded one as the agent is configured (its URL_TLD, its proxy.conf), and —
 * the case doctor exists for — the workspace an enable is trying to reach when it has not onboarded: named by the
 * settings, by a failed onboarding's directory, or by the last applied state, with the settings' domain (else the
 * instance metadata's cloud) and the proxy enable would use.
 */
async function networkTargets(
  context: DoctorContext,
  env: HandlerEnvironment | undefined,
  environment: ReturnType<typeof parseProcessEnvironment>,
  workspaces: Array<{ id: string; domain?: string }>,
  agentProxyValue: string | undefined,
): Promise<Target[]> {
  const targets = new Map<string, Target>();
  for (const workspace of workspaces.filter((w) => w.domain)) {
    targets.set(workspace.id, {
      id: workspace.id,
      domain: workspace.domain!,
      domainSource: "the agent's omsadmin.conf",
      proxy: agentProxyValue,
      proxySource: "the agent's proxy.conf",
      why: "onboarded workspace, as the agent is configured",
    });
  }

  const pending = new Map<string, string>();
  for (const workspace of workspaces.filter((w) => !w.domain)) pending.set(workspace.id, "its onboarding failed (no omsadmin.conf)");
  let settings: Settings | null = null;
  if (env) {
    const seq = currentSequence(env.configFolder, environment);
    const decrypt = { libDir: env.libDir, waagentLib: context.paths.waagentLib, childEnv: context.childEnv, deadline: context.deadline, log: context.log };
    for (const needProtected of [true, false]) {
      try {
        settings = await loadSettings(env.configFolder, seq, { needProtected }, decrypt);
        break;
      } catch {
        // Not decryptable here (not root, certificate gone) or invalid: the public part may still name the workspace.
      }
    }
    if (settings && !targets.has(settings.public.workspaceId)) pending.set(settings.public.workspaceId, `named by the settings (seq ${seq})`);
    const applied = new StateStore(env.stateDir).applied();
    if (applied && !targets.has(applied.workspaceId) && !pending.has(applied.workspaceId)) {
      pending.set(applied.workspaceId, `the last applied enable's workspace (seq ${applied.seq})`);
    }
  }
  if (pending.size === 0) return [...targets.values()];

  let domain: { value: string; source: string };
  if (settings?.protected?.domain) {
    domain = { value: settings.protected.domain, source: "protected settings" };
  } else {
    const metadata = await fetchInstanceMetadata(context.paths, context.log, environment);
    const fromCloud = domainForEnvironment(metadata.azEnvironment);
    domain = fromCloud
      ? { value: fromCloud, source: `instance metadata (${metadata.azEnvironment})` }
      : { value: DEFAULT_DOMAIN, source: settings?.protected ? "default" : "default; the protected settings were not readable here" };
  }
  // Enable uses the settings' proxy (else Arc's, else the environment's); when the protected settings cannot be
  // read here, the agent's proxy.conf is the best guess of what was configured.
  let choice: { value?: string; source: string } = settings ? resolveProxy(settings, context.paths, environment, domain.value) : { source: "none" };
  if (!settings?.protected && !choice.value && agentProxyValue) {
    choice = { value: agentProxyValue, source: "the agent's proxy.conf; the protected settings were not readable here" };
  }
  registerProxySecrets(choice.value);
  for (const [id, why] of pending) {
    targets.set(id, {
      id,
      domain: domain.value,
      domainSource: domain.source,
      proxy: choice.value,
      proxySource: choice.value ? choice.source : "none configured",
      why: `not onboarded: ${why}; probed as enable would reach it`,
    });
  }
  return [...targets.values()];
}
