// Shared by the fleet CLI tests: run the CLI in-process and capture what it prints, and write settings files
// into a per-test temp directory (tests never write anywhere else).
import { mkdtempSync, rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, type RunDeps } from "../../src/cli/commands.ts";
import { startFakeArm, type FakeArm } from "../../simulator/arm/fake-arm.ts";
import type { Row } from "../../src/cli/rollout.ts";

export const WORKSPACE_ID = "0b6e9a0c-3c55-4b47-9d5c-58f0e2c7a1d3";
/** Looks like a real key (64 bytes, padded base64) and is easy to search for in output. */
export const WORKSPACE_KEY = Buffer.from("fleet-test-workspace-key:never-print-me:".padEnd(64, "#")).toString("base64");
export const PROXY = "http://fleetuser:Pr0xy-Passw0rd!@proxy.contoso.example:3128";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Journals of deploy runs that name none land here (XDG_STATE_HOME), never in the real home directory. */
export const STATE_HOME = mkdtempSync(join(tmpdir(), "fleet-cli-state-"));
process.once("exit", () => rmSync(STATE_HOME, { recursive: true, force: true }));

export async function runCli(args: string[], deps: Partial<RunDeps> = {}): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const started = performance.now();
  const code = await run(args, {
    stdout: { write: (s) => void (stdout += s) },
    stderr: { write: (s) => void (stderr += s) },
    env: { XDG_STATE_HOME: STATE_HOME },
    // Short backoffs keep retry tests fast; the counts and the logic are the production ones.
    retry: { baseDelayMs: 2, maxDelayMs: 10 },
    readStdin: async () => "",
    ...deps,
  });
  return { code, stdout, stderr, seconds: (performance.now() - started) / 1000 };
}

/** The CLI against the fake server, authenticated with its fake credential. */
export function runArm(arm: FakeArm, args: string[], deps: Partial<RunDeps> = {}): Promise<CliResult> {
  return runCli(args, { credential: arm.credential, ...deps });
}

/** --endpoint/--ca-cert pointing at the fake server, and a short poll interval. */
export function armFlags(arm: FakeArm): string[] {
  return ["--endpoint", arm.endpoint, "--ca-cert", arm.caCertFile, "--poll-interval", "5ms"];
}

export interface Workspace {
  dir: string;
  settings: string;
  protectedSettings: string;
  file(name: string, content: string): Promise<string>;
  cleanup(): Promise<void>;
}

export async function workspace(protectedSettings: Record<string, unknown> = { workspaceKey: WORKSPACE_KEY }): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), "fleet-cli-test-"));
  const file = async (name: string, content: string): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, content);
    return path;
  };
  return {
    dir,
    settings: await file("settings.json", JSON.stringify({ workspaceId: WORKSPACE_ID, stopOnMultipleConnections: "true" })),
    protectedSettings: await file("protected.json", JSON.stringify(protectedSettings)),
    file,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export function deployArgs(ws: Workspace, arm: FakeArm, ...rest: string[]): string[] {
  return ["deploy", "--settings", `@${ws.settings}`, "--protected-settings", `@${ws.protectedSettings}`, ...armFlags(arm), ...rest];
}

/** A row of `--json` output: the CLI's own Row, serialised. */
export type JsonRow = Row;

export function parseReport(stdout: string): {
  summary: { total: number; succeeded: number; failed: number; seconds: number };
  duplicatesIgnored: string[];
  results: JsonRow[];
} {
  return JSON.parse(stdout) as ReturnType<typeof parseReport>;
}

/** A fake ARM server for the length of `body`, closed whatever happens. */
export async function withArm<T>(options: Parameters<typeof startFakeArm>[0], body: (arm: FakeArm) => Promise<T>): Promise<T> {
  const arm = await startFakeArm(options);
  try {
    return await body(arm);
  } finally {
    await arm.close();
  }
}
