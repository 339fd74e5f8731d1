// Exercises the handler's own modules on whatever runtime runs this file, and prints one JSON object of
// outcomes. runtime.test.ts runs it on the test runner's Node and compiled on the shipped Bun and requires the same
// answers: the handler is developed on Node but runs on Bun, so every place where the two could differ and
// the handler relies on them is probed here (process groups, signals, locks, synchronous log writes, child
// output, hashing, HTTP).
//
//   node --import tsx test/runtime/probe.ts <scratch dir>, or the same compiled: <executable> <scratch dir>
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { Deadline } from "../../src/handler/deadline.ts";
import { ExtensionError } from "../../src/handler/errors.ts";
import { acquireLock } from "../../src/handler/lock.ts";
import { createLogger, silentLogger } from "../../src/handler/log.ts";
import { createLineLogger } from "../../src/handler/log-line.ts";
import { fetchInstanceMetadata } from "../../src/handler/metadata.ts";
import { systemPaths } from "../../src/handler/paths.ts";
import { parseProcessEnvironment } from "../../src/handler/process-env.ts";
import { runChild } from "../../src/handler/process.ts";

const scratch = process.argv[2] ?? "";
if (scratch === "") throw new Error("usage: probe.ts <scratch dir>");
mkdirSync(scratch, { recursive: true });
const log = silentLogger();
const { childEnv } = parseProcessEnvironment(process.env);
const results: Record<string, unknown> = {};

/** Any process of the group still running (a zombie waiting for its reaper has stopped running). */
function groupAlive(pgid: number): boolean {
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses, so split after its last ")".
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pgid && state !== "Z" && state !== "X") return true;
    } catch {
      // Gone while we looked.
    }
  }
  return false;
}

/** A child that records its process group, then leaves a grandchild behind in it. */
async function childTree(name: string, script: string, timeoutMs: number) {
  const pidFile = join(scratch, `${name}.pgid`);
  const result = await runChild(
    { label: name, file: "/bin/sh", args: ["-c", `echo $$ > '${pidFile}'; ${script}`], timeoutMs, childEnv },
    new Deadline(60_000),
    log,
  );
  const pgid = Number(readFileSync(pidFile, "utf8"));
  return { exitCode: result.exitCode, timedOut: result.timedOut, groupAliveAfter: groupAlive(pgid) };
}

// Process groups: a timed-out child's whole tree is gone when runChild returns, even a grandchild and even a
// shell that ignores SIGTERM (it gets SIGKILL after the grace period).
results.timeoutKillsGroup = await childTree("tree", "sleep 30 & sleep 30; wait", 300);
results.termIgnoredStillKilled = await childTree("stubborn", "trap '' TERM; sleep 30 & sleep 30; wait", 300);

// Signals and exit codes as children report them.
const exits: Record<string, number> = {};
for (const [name, script] of Object.entries({ ok: "exit 0", code: "exit 53", killed: "kill -9 $$", terminated: "kill -TERM $$" })) {
  exits[name] = (await runChild({ label: name, file: "/bin/sh", args: ["-c", script], childEnv }, new Deadline(60_000), log)).exitCode;
}
exits.missing = (await runChild({ label: "missing", file: join(scratch, "no-such-tool"), args: [], childEnv }, new Deadline(60_000), log)).exitCode;
results.exitCodes = exits;

// Child output: stdout alone, stdout+stderr interleaved, stdin fed, LC_ALL=C, colour codes stripped.
const output = await runChild(
  {
    label: "echo",
    file: "/bin/sh",
    args: ["-c", 'read line; echo "out:$line"; echo err >&2; printf \'\\033[31mred\\033[0m\\n\'; echo "lc:$LC_ALL"'],
    input: "fed\n",
    childEnv,
  },
  new Deadline(60_000),
  log,
);
results.childOutput = { stdout: output.stdout, output: output.output.split("\n").sort() };

// The handler lock: a second holder is refused within its wait, the first release frees it.
const stateDir = join(scratch, "state");
const release = await acquireLock(stateDir, 1000, new Deadline(60_000), log, () => {});
let second: string;
try {
  await acquireLock(stateDir, 600, new Deadline(60_000), log, () => {});
  second = "acquired";
} catch (error) {
  second = error instanceof ExtensionError ? `${error.code} ${error.reason}` : String(error);
}
await release();
const third = await acquireLock(stateDir, 1000, new Deadline(60_000), log, () => {});
await third();
results.lock = { second, lockLeftBehind: existsSync(join(stateDir, "handler.lock")) };

// Both loggers write synchronously: lines are on disk even when the process exits right after (checked by
// the test from the parent, after this process called process.exit).
const logDir = join(scratch, "logs");
createLogger({ logFolder: logDir, operation: "probe", seq: 1 }).info({ child: "x", workspaceKey: "k" }, "pino line");
createLineLogger({ logFolder: logDir, operation: "probe", seq: 1 }).info({ child: "x", workspaceKey: "k" }, "plain line");

// Hashing as settings.ts and telemetry use it.
results.hashing = {
  sha256: createHash("sha256").update("OmsAgentForLinux").digest("hex"),
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()),
};

// HTTP as metadata.ts uses it: an answer, a non-200, and a service that never answers (cut by the timeout).
function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as { port: number };
      resolve({ server, url: `http://127.0.0.1:${address.port}` });
    });
  });
}
const answering = await listen((req, res) => {
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end(
    JSON.stringify({ compute: { azEnvironment: "AzureUSGovernmentCloud", resourceId: req.headers.metadata === "true" ? "/subscriptions/x" : "no header" } }),
  );
});
const failing = await listen((_req, res) => {
  res.writeHead(500);
  res.end("no");
});
const silent = await listen(() => {});
const paths = systemPaths(scratch);
const metadataOf = (url: string) => fetchInstanceMetadata(paths, log, parseProcessEnvironment({ OMS_HANDLER_IMDS_ENDPOINT: url }));
results.http = { answer: await metadataOf(answering.url), error: await metadataOf(failing.url) };
const started = performance.now();
results.http = { ...(results.http as object), silent: await metadataOf(silent.url), silentCutWithin5s: performance.now() - started < 5000 };
for (const { server } of [answering, failing, silent]) server.close();
silent.server.closeAllConnections();

writeFileSync(join(scratch, "results.json"), JSON.stringify(results));
// Exit at once, as the handler does: nothing buffered may be lost.
execFileSync("true");
process.exit(0);
