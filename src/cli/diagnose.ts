// `diagnose`: runs the handler's own `omsagent-shim doctor --json --failed-only` on each machine through Azure's
// Run Command (VMs: the virtualMachines runCommand action; Arc: a machine runCommands resource), and reads its
// verdict back. Only failing checks travel back: Run Command keeps the last 4,096 bytes of a script's output
// (learn.microsoft.com virtual-machines/linux/run-command), and when even they do not fit, the verdict is read
// from the checks whole in the tail and the report says it was cut.
import { randomBytes } from "node:crypto";
import { EXTENSION_FULL_NAME } from "../shared/identity.ts";
import type { ArmClients } from "./clients.ts";
import { sleep } from "./retry.ts";
import type { Outcome } from "./arm.ts";
import type { Target } from "./targets.ts";

/** One check as doctor reports it (src/handler/doctor/report.ts). */
interface DoctorCheck {
  area: string;
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorVerdict {
  healthy: boolean;
  total?: number;
  checks: DoctorCheck[];
  /** Run Command cut the output: these are the failing checks whole in its last 4,096 bytes, not all of them. */
  truncated?: boolean;
}

/** Run Command's limit on the output it keeps (the last this many bytes). */
const RUN_COMMAND_OUTPUT_LIMIT = 4096;
/** Scale-set instances diagnosed at once, within the one machine's slot of --concurrency. */
const INSTANCE_CONCURRENCY = 8;
/** The Arc run-command resource is deleted within this, even after a timeout or Ctrl-C. */
const CLEANUP_DEADLINE_MS = 30_000;

/** The Arc run-command resource's api-version (no SDK client serves it): what preflight checks the endpoint for. */
export const ARC_RUN_COMMAND_API = "2024-07-10";
const NOT_INSTALLED = JSON.stringify({
  healthy: false,
  checks: [
    {
      area: "extension",
      name: "installed",
      ok: false,
      detail: `OmsAgentForLinux is not installed on this machine (no /var/lib/waagent/${EXTENSION_FULL_NAME}-*)`,
      fix: "deploy it: omsagent-fleet deploy",
    },
  ],
});

/** The script Run Command executes: the newest installed handler's doctor, or a verdict saying there is none. */
export function doctorScript(offline: boolean): string {
  return [
    `dir=$(ls -d /var/lib/waagent/${EXTENSION_FULL_NAME}-* 2>/dev/null | sort -V | tail -1)`,
    `if [ -z "$dir" ]; then echo '${NOT_INSTALLED}'; exit 1; fi`,
    `exec sh "$dir/omsagent-shim" doctor --json --failed-only${offline ? " --offline" : ""}`,
  ].join("\n");
}

/** The verdict in a script's output (the last line that parses as doctor's JSON), or why there is none. */
export function parseVerdict(output: string): DoctorVerdict | string {
  const lines = output
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  for (const line of [...lines].reverse()) {
    try {
      const parsed = JSON.parse(line) as Partial<DoctorVerdict>;
      if (typeof parsed.healthy === "boolean" && Array.isArray(parsed.checks)) return parsed as DoctorVerdict;
    } catch {
      // Not the verdict line.
    }
  }
  const cut = checksInTail(output);
  if (cut.length > 0) return { healthy: false, checks: cut, truncated: true };
  const tail = lines.slice(-1)[0] ?? "";
  return `doctor printed no verdict${tail ? ` (last line: ${tail.slice(0, 200)})` : " (no output)"}`;
}

/**
 * The failing checks that are whole in output whose start Run Command cut off: doctor's JSON is one line
 * `{"healthy":…,"total":…,"checks":[{…},{…}]}`, so the tail still holds complete check objects.
 */
function checksInTail(output: string): DoctorCheck[] {
  if (Buffer.byteLength(output, "utf8") < RUN_COMMAND_OUTPUT_LIMIT - 64) return [];
  const checks: DoctorCheck[] = [];
  for (const match of output.matchAll(/\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\}/g)) {
    try {
      const check = JSON.parse(match[0]) as Partial<DoctorCheck>;
      if (typeof check.area === "string" && typeof check.name === "string" && check.ok === false && typeof check.detail === "string")
        checks.push(check as DoctorCheck);
    } catch {
      // A fragment, not a check.
    }
  }
  return checks;
}

function outcomeOf(verdict: DoctorVerdict): Outcome {
  const failed = verdict.checks.filter((check) => !check.ok);
  if (verdict.healthy && failed.length === 0)
    return { result: "ok", code: null, message: `healthy${verdict.total ? `: all ${verdict.total} checks passed` : ""}` };
  const first = failed[0];
  if (verdict.truncated)
    return {
      result: "failed",
      code: null,
      errorCode: "DoctorFailed",
      message: `more checks failed than Run Command's 4,096 bytes of output hold; the last ${failed.length} seen: ${failed.map((c) => `${c.area} ${c.name}`).join(", ")}${first ? ` — first of those: ${first.detail}${first.fix ? ` — fix: ${first.fix}` : ""}` : ""} — run \`omsagent-shim doctor\` on the machine for the whole list`,
    };
  return {
    result: "failed",
    code: null,
    errorCode: "DoctorFailed",
    message: `${failed.length}${verdict.total ? ` of ${verdict.total}` : ""} checks failed: ${failed.map((c) => `${c.area} ${c.name}`).join(", ")}${first ? ` — first: ${first.detail}${first.fix ? ` — fix: ${first.fix}` : ""}` : ""}`,
  };
}

/** `[stdout]` and `[stderr]` sections of a VM Run Command's message. */
function vmStdout(message: string): string {
  const start = message.indexOf("[stdout]");
  if (start < 0) return message;
  const end = message.indexOf("[stderr]", start);
  return message.slice(start + "[stdout]".length, end < 0 ? undefined : end);
}

async function runOnVm(clients: ArmClients, t: Target, script: string, signal: AbortSignal, pollMs: number): Promise<string> {
  // Compute answers 202 and the result is polled for (VirtualMachines_RunCommand is a long-running operation).
  const result = await clients
    .compute(t.subscriptionId)
    .virtualMachines.beginRunCommandAndWait(
      t.resourceGroup,
      t.name,
      { commandId: "RunShellScript", script: [script] },
      { abortSignal: signal, updateIntervalInMs: pollMs },
    );
  return (result.value ?? []).map((status) => vmStdout(status.message ?? "")).join("\n");
}

interface ArcRunCommand {
  properties?: {
    provisioningState?: string;
    instanceView?: { executionState?: string; exitCode?: number; output?: string; error?: string };
  };
}

/**
 * Arc's run command is a resource: PUT it (201 "Creating"), poll it until it has run, read its output, delete
 * it. Its name is unique to this run, so two runs never overwrite each other's; the DELETE happens whatever
 * happened before (a timeout, Ctrl-C, a failed poll), with its own short deadline since the machine's signal
 * may already be aborted.
 */
async function runOnArc(clients: ArmClients, t: Target, script: string, location: string, signal: AbortSignal, pollMs: number): Promise<string> {
  const { createHttpHeaders, createPipelineRequest } = await import("@azure/core-rest-pipeline");
  const client = clients.hybrid(t.subscriptionId);
  const name = `omsagent-doctor-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
  const url = `${client.$host.replace(/\/+$/, "")}${t.id}/runCommands/${name}?api-version=${ARC_RUN_COMMAND_API}`;
  const send = async (method: "PUT" | "GET" | "DELETE", abortSignal: AbortSignal, body?: unknown): Promise<ArcRunCommand> => {
    const response = await client.sendRequest(
      createPipelineRequest({
        url,
        method,
        abortSignal,
        ...(body ? { body: JSON.stringify(body), headers: createHttpHeaders({ "content-type": "application/json" }) } : {}),
      }),
    );
    if (response.status >= 400) throw new Error(`${method} run command: HTTP ${response.status} ${response.bodyAsText?.slice(0, 300) ?? ""}`);
    return response.bodyAsText ? (JSON.parse(response.bodyAsText) as ArcRunCommand) : {};
  };
  try {
    let command = await send("PUT", signal, { location, properties: { source: { script }, asyncExecution: false, timeoutInSeconds: 300 } });
    const deadline = Date.now() + 10 * 60_000;
    while (!/^(succeeded|failed|canceled)$/i.test(command.properties?.provisioningState ?? "") && Date.now() < deadline) {
      await sleep(pollMs, signal);
      command = await send("GET", signal);
    }
    const view = command.properties?.instanceView;
    if (!view) throw new Error(`the run command ended ${command.properties?.provisioningState ?? "without a state"} and reported nothing`);
    return view.output ?? "";
  } finally {
    await send("DELETE", AbortSignal.timeout(CLEANUP_DEADLINE_MS)).catch(() => undefined);
  }
}

export interface DiagnoseResult {
  outcome: Outcome;
  verdict?: DoctorVerdict;
}

/**
 * A scale set is each of its instances: doctor runs on every one, a few at a time, and the row speaks for the
 * worst. Instances not done when the machine's deadline strikes are reported as such, with the verdicts of
 * those that finished kept.
 */
async function diagnoseScaleSet(clients: ArmClients, t: Target, script: string, signal: AbortSignal, pollMs: number): Promise<DiagnoseResult> {
  const compute = clients.compute(t.subscriptionId);
  const instances: string[] = [];
  for await (const vm of compute.virtualMachineScaleSetVMs.list(t.resourceGroup, t.name, { abortSignal: signal }))
    if (vm.instanceId) instances.push(vm.instanceId);
  if (instances.length === 0) return { outcome: { result: "ok", code: null, message: "the scale set has no instances" } };
  const verdicts = new Map<string, DoctorVerdict | string>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < instances.length && !signal.aborted) {
      const instanceId = instances[next++]!;
      try {
        const result = await compute.virtualMachineScaleSetVMs.beginRunCommandAndWait(
          t.resourceGroup,
          t.name,
          instanceId,
          { commandId: "RunShellScript", script: [script] },
          { abortSignal: signal, updateIntervalInMs: pollMs },
        );
        verdicts.set(instanceId, parseVerdict((result.value ?? []).map((status) => vmStdout(status.message ?? "")).join("\n")));
      } catch (e) {
        if (signal.aborted) return;
        verdicts.set(instanceId, `Run Command failed: ${(e as Error).message.split("\n")[0]}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(INSTANCE_CONCURRENCY, instances.length) }, worker));
  // Nothing finished before the deadline: nothing to keep, the rollout reports the timeout.
  if (verdicts.size === 0) signal.throwIfAborted();
  const checks: DoctorCheck[] = [];
  const unhealthy: string[] = [];
  const unfinished: string[] = [];
  let total = 0;
  for (const instanceId of instances) {
    const verdict = verdicts.get(instanceId);
    if (verdict === undefined) {
      unfinished.push(instanceId);
      continue;
    }
    const failed =
      typeof verdict === "string"
        ? [{ area: "instance", name: "doctor", ok: false, detail: verdict, fix: "run doctor on the instance by hand" }]
        : verdict.checks.filter((c) => !c.ok);
    total = Math.max(total, typeof verdict === "string" ? 0 : (verdict.total ?? 0));
    if (failed.length > 0 || (typeof verdict !== "string" && !verdict.healthy)) unhealthy.push(instanceId);
    // The instance goes into the area, so the report says where a check failed.
    checks.push(...failed.map((c) => ({ ...c, area: `instance ${instanceId}: ${c.area}` })));
  }
  const verdict: DoctorVerdict = { healthy: unhealthy.length === 0 && unfinished.length === 0, ...(total ? { total } : {}), checks };
  const notDone =
    unfinished.length > 0
      ? `; ${unfinished.length}/${instances.length} not diagnosed before the deadline (${unfinished.join(", ")}) — raise --timeout or diagnose them again`
      : "";
  if (verdict.healthy)
    return { outcome: { result: "ok", code: null, message: `healthy: ${instances.length}/${instances.length} instances passed every check` }, verdict };
  const first = checks[0];
  return {
    outcome: {
      result: "failed",
      code: null,
      errorCode: unhealthy.length === 0 ? "Timeout" : "DoctorFailed",
      message: `${unhealthy.length}/${instances.length} instances unhealthy${unhealthy.length > 0 ? ` (${unhealthy.join(", ")})` : ""}${notDone}${first ? ` — first: ${first.area} ${first.name}: ${first.detail}${first.fix ? ` — fix: ${first.fix}` : ""}` : ""}`,
    },
    verdict,
  };
}

export async function diagnose(
  clients: ArmClients,
  t: Target,
  offline: boolean,
  signal: AbortSignal,
  arcLocation: () => Promise<string>,
  pollMs: number,
): Promise<DiagnoseResult> {
  const script = doctorScript(offline);
  if (t.kind === "vmss") return diagnoseScaleSet(clients, t, script, signal, pollMs);
  const output = t.kind === "vm" ? await runOnVm(clients, t, script, signal, pollMs) : await runOnArc(clients, t, script, await arcLocation(), signal, pollMs);
  const verdict = parseVerdict(output);
  if (typeof verdict === "string") return { outcome: { result: "failed", code: null, errorCode: "NoVerdict", message: verdict } };
  return { outcome: outcomeOf(verdict), verdict };
}

/** Which checks fail where: `area name` → the machines, most widespread first. */
export function failingChecks(verdicts: Map<string, DoctorVerdict>): Array<{ check: string; machines: string[] }> {
  const where = new Map<string, string[]>();
  for (const [machine, verdict] of verdicts) {
    for (const check of verdict.checks.filter((c) => !c.ok)) {
      // Workspace and network areas carry an id: group by what failed, not by which workspace.
      const key = `${check.area.replace(/^instance \S+: /, "").replace(/ [0-9a-f-]{36}$/i, "")} ${check.name}`;
      where.set(key, [...(where.get(key) ?? []), machine]);
    }
  }
  return [...where.entries()]
    .map(([check, machines]) => ({ check, machines }))
    .sort((a, b) => b.machines.length - a.machines.length || a.check.localeCompare(b.check));
}
