// src/handler/exit-hooks.cjs stands in for proper-lockfile's signal-exit in the shipped bundle: the lock must
// still go when the handler exits or is stopped with SIGTERM, SIGINT or SIGHUP, on the shipped runtime as on Node,
// and a process that handles a signal itself keeps that decision.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { test } from "node:test";
import { REPO_ROOT, shippedRuntime } from "../../scripts/runtime.ts";
import { makeTempDir } from "../../simulator/system-root.ts";

const HOOKS = join(REPO_ROOT, "src", "handler", "exit-hooks.cjs");
const LOCKFILE = createRequire(import.meta.url).resolve("proper-lockfile");

/**
 * A CommonJS script that takes the handler's lock with proper-lockfile, whose signal-exit is replaced by
 * exit-hooks.cjs (as scripts/build.mjs does in the bundle), then does what `action` says.
 */
function script(dir: string, action: string): string {
  const file = join(dir, "script.cjs");
  writeFileSync(
    file,
    `const Module = require("node:module");
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (request === "signal-exit" && parent && /proper-lockfile/.test(parent.filename)) return ${JSON.stringify(HOOKS)};
  return resolve.call(this, request, parent, ...rest);
};
const fs = require("node:fs");
const lockfile = require(${JSON.stringify(LOCKFILE)});
const state = ${JSON.stringify(join(dir, "state"))};
lockfile.lockSync(state, { lockfilePath: state + "/handler.lock", realpath: false, retries: 0 });
fs.writeFileSync(${JSON.stringify(join(dir, "locked"))}, "");
${action}
`,
  );
  return file;
}

const RUNTIMES: Record<string, (file: string) => ReturnType<typeof spawnSync>> = {
  node: (file) => spawnSync(process.execPath, [file], { encoding: "utf8", timeout: 30_000 }),
  bun: (file) => spawnSync(shippedRuntime().binPath, ["--no-env-file", "--config=/dev/null", "--no-install", file], { encoding: "utf8", timeout: 30_000 }),
};

function setup(): string {
  const dir = makeTempDir("exit-hooks-");
  mkdirSync(join(dir, "state"));
  return dir;
}

for (const [name, run] of Object.entries(RUNTIMES)) {
  test(`${name}: the lock goes when the process exits, with its exit code kept`, { skip: process.arch !== "x64" && name === "bun" }, () => {
    const dir = setup();
    const result = run(script(dir, "process.exitCode = 3;"));
    assert.equal(result.status, 3, String(result.stderr));
    assert.ok(existsSync(join(dir, "locked")));
    assert.equal(existsSync(join(dir, "state", "handler.lock")), false, "the lock was left behind");
  });

  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    test(`${name}: on ${signal} the lock goes and the process still dies of ${signal}`, { skip: process.arch !== "x64" && name === "bun" }, () => {
      const dir = setup();
      const result = run(script(dir, `setTimeout(() => {}, 20000); process.kill(process.pid, "${signal}");`));
      assert.equal(result.signal, signal, `status ${result.status}, stderr ${String(result.stderr)}`);
      assert.ok(existsSync(join(dir, "locked")));
      assert.equal(existsSync(join(dir, "state", "handler.lock")), false, "the lock was left behind");
    });
  }

  test(
    `${name}: a process with its own SIGTERM listener decides for itself; the lock goes when it then exits`,
    { skip: process.arch !== "x64" && name === "bun" },
    () => {
      const dir = setup();
      const result = run(
        script(
          dir,
          `process.on("SIGTERM", () => {
  fs.writeFileSync(${JSON.stringify(join(dir, "own"))}, String(fs.existsSync(state + "/handler.lock")));
  setTimeout(() => process.exit(7), 10);
});
setTimeout(() => {}, 20000);
process.kill(process.pid, "SIGTERM");`,
        ),
      );
      assert.equal(result.status, 7, String(result.stderr));
      assert.equal(readFileSync(join(dir, "own"), "utf8"), "true", "the lock was released before the process's own listener finished");
      assert.equal(existsSync(join(dir, "state", "handler.lock")), false, "the lock was left behind");
    },
  );
}
