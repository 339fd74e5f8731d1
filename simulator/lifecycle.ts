// The extension's whole life as the guest agent drives it, step by step, on a simulated VM: shared by
// the packaged-lifecycle test (which asserts every step) and `npm start` (which prints them).
import { statSync } from "node:fs";
import type { AgentExtensionStatus, AgentHandlerStatus, CommandResult, SequenceResult, SettingsInput } from "./agent/index.ts";
import { WORKSPACE_ID, WORKSPACE_KEY, type SimulatedVm } from "./vm.ts";

export interface StepRecord {
  title: string;
  /** The version whose status the portal shows after this step. */
  version: string;
  seq: number;
  commands: CommandResult[];
  ok: boolean;
  /** What the guest agent reads from status/<seq>.status (null once the extension is removed). */
  status: AgentExtensionStatus | null;
  handlerStatus: AgentHandlerStatus | null;
  /** The status file's modification time, to show an idempotent enable left it alone. */
  statusMtimeMs: number | null;
}

export const INITIAL_SETTINGS: SettingsInput = {
  publicSettings: { workspaceId: WORKSPACE_ID, skipDockerProviderInstall: "true" },
  protectedSettings: { workspaceKey: WORKSPACE_KEY },
};

/** seq 1: the operator adds a proxy (with credentials, which must never show up anywhere). */
export const UPDATED_SETTINGS: SettingsInput = {
  publicSettings: { workspaceId: WORKSPACE_ID, skipDockerProviderInstall: "true", stopOnMultipleConnections: "true" },
  protectedSettings: { workspaceKey: WORKSPACE_KEY, proxy: "http://ops:S3cret-Proxy-Pw@proxy.contoso.example:3128" },
};

export interface LifecyclePackages {
  /** How to "download" a version: a built zip or a staged directory. */
  from: { version: string; source: { zip: string } | { dir: string } };
  to: { version: string; source: { zip: string } | { dir: string } };
}

export async function runLifecycle(vm: SimulatedVm, packages: LifecyclePackages, onStep: (step: StepRecord) => void = () => {}): Promise<StepRecord[]> {
  const { agent } = vm;
  const A = packages.from.version;
  const B = packages.to.version;
  const steps: StepRecord[] = [];
  const record = (title: string, version: string, result: SequenceResult, removed = false) => {
    const seq = Number(agent.goalStateSeq ?? 0);
    let statusMtimeMs: number | null = null;
    try {
      statusMtimeMs = statSync(agent.statusFile(version, seq)).mtimeMs;
    } catch {
      // No status file (yet, or any more).
    }
    const step: StepRecord = {
      title,
      version,
      seq,
      commands: result.commands,
      ok: result.ok,
      status: removed ? null : agent.readStatus(version, seq),
      handlerStatus: result.handlerStatus,
      statusMtimeMs,
    };
    steps.push(step);
    onStep(step);
    return step;
  };

  agent.setup(packages.from.source, { version: A, seq: 0, settings: INITIAL_SETTINGS });
  record("Add the extension: first install, then enable (seq 0)", A, await agent.firstInstall(A));

  agent.writeSettings(1, UPDATED_SETTINGS, A);
  record("New settings from the portal (seq 1): add a proxy", A, await agent.enable(A));

  record("Agent restart / new goal state with the same seq 1: enable again", A, await agent.enable(A));

  record("Disable the extension", A, await agent.disable(A));

  record("Enable it again", A, await agent.enable(A));

  agent.setup(packages.to.source, { version: B, seq: 1, settings: UPDATED_SETTINGS });
  record(`Update ${A} → ${B}`, B, await agent.update(A, B));

  record("Remove the extension", B, await agent.uninstall(B), true);
  return steps;
}
