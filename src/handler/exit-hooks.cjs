// Stands in for signal-exit in the bundle (scripts/build.mjs), for proper-lockfile, which calls it once at load
// (lockfile.js: `onExit(() => release every held lock synchronously)`) and uses nothing else of it. signal-exit 3
// loads node:assert and node:events and hooks 17 signals: 6–8 ms of every run on the shipped runtime, a quarter
// of what a run with nothing to do may cost. This keeps what the handler needs of it:
// - the callback runs when the process exits, as `cb(code, null)`;
// - on SIGTERM, SIGINT or SIGHUP (a person or a service manager stopping the handler) with no other listener for
//   that signal, the callback runs and the process then dies of the same signal, as signal-exit does
//   (signal-exit/index.js, sigListeners), so the lock is gone and the exit status still says "killed".
// SIGKILL, which the guest agent sends on timeout, cannot be caught by either: the lock then goes stale after
// 20 s and the next run takes it over (src/handler/lock.ts).
"use strict";

const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"];
const callbacks = new Set();
let installed = false;
let ran = false;

function runAll(code, signal) {
  if (ran) return;
  ran = true;
  for (const cb of callbacks) cb(code, signal);
}

function install() {
  installed = true;
  process.on("exit", (code) => runAll(code, null));
  for (const signal of SIGNALS) {
    const listener = () => {
      // Another listener owns this signal (it decides whether the process ends): stay out of its way.
      if (process.listeners(signal).length > 1) return;
      runAll(null, signal);
      for (const s of SIGNALS) process.removeAllListeners(s);
      process.kill(process.pid, signal);
    };
    process.on(signal, listener);
  }
}

module.exports = function onExit(cb) {
  if (typeof cb !== "function") throw new TypeError("a callback must be provided for exit handler");
  if (!installed) install();
  callbacks.add(cb);
  return () => callbacks.delete(cb);
};
