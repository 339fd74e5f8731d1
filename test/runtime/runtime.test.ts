// The handler runs on the shipped Bun, its tests on this machine's Node: the probe exercises every runtime
// facility the handler relies on, on both, and both must give the expected answers.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { compileExecutable, REPO_ROOT } from "../../scripts/runtime.ts";
import { makeTempDir } from "../../simulator/system-root.ts";

const PROBE = join(REPO_ROOT, "test", "runtime", "probe.ts");

const RUNTIMES = {
  // The shipped runtime as the handler runs on it: the probe compiled into an executable the way scripts/build.mjs
  // compiles the handler.
  bun: (dir: string) => {
    const executable = join(dir, "probe");
    compileExecutable(PROBE, executable);
    return execFileSync(executable, [dir], { cwd: REPO_ROOT, stdio: "pipe", timeout: 60_000 });
  },
  node: (dir: string) => execFileSync(process.execPath, ["--import", "tsx", PROBE, dir], { cwd: REPO_ROOT, stdio: "pipe", timeout: 60_000 }),
};

for (const [name, run] of Object.entries(RUNTIMES)) {
  test(
    `${name}: process groups, signals, locks, log writes, child output, hashing and HTTP behave as the handler expects`,
    { skip: process.arch !== "x64" },
    () => {
      const dir = makeTempDir(`runtime-${name}-`);
      run(dir);
      const results = JSON.parse(readFileSync(join(dir, "results.json"), "utf8")) as Record<string, unknown>;
      assert.deepEqual(results.timeoutKillsGroup, { exitCode: -1, timedOut: true, groupAliveAfter: false });
      assert.deepEqual(results.termIgnoredStillKilled, { exitCode: -1, timedOut: true, groupAliveAfter: false });
      assert.deepEqual(results.exitCodes, { ok: 0, code: 53, killed: -1, terminated: -1, missing: 127 });
      // stdout is kept verbatim (it is parsed); the interleaved output, which reaches logs and status, loses colour codes.
      assert.deepEqual(results.childOutput, { stdout: "out:fed\n\x1b[31mred\x1b[0m\nlc:C\n", output: ["", "err", "lc:C", "out:fed", "red"] });
      assert.deepEqual(results.lock, { second: "30 AnotherOperationRunning", lockLeftBehind: false });
      assert.deepEqual(results.hashing, { sha256: "ef03389d15e7e1d4b991efd88c948ffd94a9d36b555aabd681c09380bd5fd2a7", uuid: true });
      assert.deepEqual(results.http, {
        answer: { azEnvironment: "AzureUSGovernmentCloud", resourceId: "/subscriptions/x" },
        error: {},
        silent: {},
        silentCutWithin5s: true,
      });
      const lines = readFileSync(join(dir, "logs", "extension.log"), "utf8")
        .split("\n")
        .filter(Boolean);
      assert.equal(lines.length, 2, "both synchronous log lines are on disk although the process exited at once");
      assert.match(lines[0]!, / INFO {2}probe seq=1 pino line \{"child":"x","workspaceKey":"\*\*\*"\}$/);
      assert.match(lines[1]!, / INFO {2}probe seq=1 plain line \{"child":"x","workspaceKey":"\*\*\*"\}$/);
    },
  );
}
