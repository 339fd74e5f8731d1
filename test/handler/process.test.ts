// Children end when they exit: a daemonised grandchild that keeps the inherited stdout open must not keep the
// handler waiting (service_control start leaves the agent running, and it may hold the pipe).
import assert from "node:assert/strict";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Deadline } from "../../src/handler/deadline.ts";
import { silentLogger } from "../../src/handler/log.ts";
import { parseProcessEnvironment } from "../../src/handler/process-env.ts";
import { runChild } from "../../src/handler/process.ts";
import { makeTempDir } from "../../simulator/system-root.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("runChild returns when the child exits, with its output, although a grandchild still holds stdout", async () => {
  const dir = makeTempDir();
  const script = join(dir, "starts-a-daemon");
  const pidFile = join(dir, "daemon.pid");
  // The grandchild inherits stdout and stderr and outlives the child by far.
  writeFileSync(script, `#!/bin/sh\necho "starting the daemon"\nsh -c 'echo $$ > "${pidFile}"; exec sleep 300' &\necho "daemon started" >&2\nexit 3\n`);
  chmodSync(script, 0o755);
  const result = await runChild(
    { label: "daemon starter", file: script, args: [], timeoutMs: 30_000, childEnv: parseProcessEnvironment(process.env).childEnv },
    new Deadline(30_000),
    silentLogger(),
  );
  const daemon = Number(readFileSync(pidFile, "utf8"));
  try {
    assert.equal(result.timedOut, false);
    assert.equal(result.exitCode, 3);
    assert.match(result.output, /starting the daemon/);
    assert.match(result.output, /daemon started/);
    assert.ok(alive(daemon), "returned while the grandchild still runs, and did not kill it");
  } finally {
    process.kill(daemon, "SIGKILL");
  }
});
