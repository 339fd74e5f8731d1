// A simulated Azure VM for integration tests and the demo: a fake guest agent (simulator/agent/)
// driving a staged copy of our extension, whose handler works against a re-rooted system (OMS_HANDLER_ROOT)
// where the simulated OMS toolchain installs its fake omsadmin.sh and service_control. Everything lives in
// one temp dir.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stageExtension, type StagedExtension } from "../scripts/stage.ts";
import { FakeGuestAgent, type FakeGuestAgentOptions } from "./agent/index.ts";
import { makeSystemRoot, makeTempDir, startFakeMetadata, type FakeMetadataService, type SystemRootOptions } from "./system-root.ts";

export const WORKSPACE_ID = "0123abcd-1111-2222-3333-444455556666";
export const OTHER_WORKSPACE_ID = "99999999-8888-7777-6666-555544443333";
/** A well-formed (64-byte, padded base64) workspace key that tests then look for everywhere. */
export const WORKSPACE_KEY = Buffer.from("k".repeat(40) + "-this-is-the-secret-key!").toString("base64");

export interface SimulatedVmOptions extends SystemRootOptions {
  /** Versions to stage (default one: the repo's version). */
  versions?: string[];
  /** Instance metadata answer; default a public-cloud VM. `null` turns metadata lookups off. */
  metadata?: Record<string, unknown> | null;
  /** Extra environment for every handler command. */
  env?: Record<string, string>;
  agent?: Partial<FakeGuestAgentOptions>;
  /** Keep the VM's temp dir after the process exits (for the demo's logs). */
  keep?: boolean;
}

export interface SimulatedVm {
  dir: string;
  root: string;
  agent: FakeGuestAgent;
  staged: Map<string, StagedExtension>;
  metadata?: FakeMetadataService;
  /** Makes the next run(s) of a simulated tool fail: see simulator/README.md for points and scenarios. */
  fault(point: string, scenario: string, times?: number): void;
  clearFaults(): void;
  /** Lines of the simulator's call log (tool and arguments of every invocation). */
  calls(): string[];
  extensionLog(): string;
  close(): Promise<void>;
}

export const DEFAULT_METADATA = {
  azEnvironment: "AzurePublicCloud",
  resourceId: "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-sim/providers/Microsoft.Compute/virtualMachines/vm-sim",
};

export async function createSimulatedVm(options: SimulatedVmOptions = {}): Promise<SimulatedVm> {
  const dir = makeTempDir("omsext-vm-", options.keep);
  const root = makeSystemRoot(join(dir, "system"), options);
  const metadata = options.metadata === null ? undefined : await startFakeMetadata(options.metadata ?? DEFAULT_METADATA);
  const staged = new Map<string, StagedExtension>();
  for (const version of options.versions ?? [undefined]) {
    const ext = await stageExtension({
      outDir: join(dir, "stage", version ?? "default"),
      version,
      runtime: { kind: "link" },
    });
    staged.set(ext.version, ext);
  }
  const agent = new FakeGuestAgent({
    root: join(dir, "agent"),
    ...options.agent,
    baseEnv: {
      PATH: process.env.PATH,
      OMS_HANDLER_ROOT: root,
      OMS_HANDLER_IMDS_ENDPOINT: metadata?.url ?? "off",
      OMS_HANDLER_PACKAGE_LOCK_WAIT_SECONDS: "3",
      OMS_HANDLER_RETRY_DELAY_SECONDS: "0",
      ...options.env,
      ...options.agent?.baseEnv,
    },
  });
  const faults = join(root, ".omssim", "faults");
  return {
    dir,
    root,
    agent,
    staged,
    metadata,
    fault(point, scenario, times) {
      mkdirSync(faults, { recursive: true });
      writeFileSync(join(faults, point), times === undefined ? `${scenario}\n` : `${scenario}\ntimes=${times}\n`);
    },
    clearFaults() {
      rmSync(faults, { recursive: true, force: true });
    },
    calls() {
      const file = join(root, ".omssim", "calls.log");
      return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : [];
    },
    extensionLog() {
      const file = join(agent.logDir(), "extension.log");
      return existsSync(file) ? readFileSync(file, "utf8") : "";
    },
    async close() {
      await metadata?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
