// Entry point of bin/handler, the executable scripts/build.mjs compiles, which omsagent-shim runs as
// `bin/handler <operation>` (or `doctor [options]`, which people run by hand). The extension directory is the one
// holding bin/, whatever the working directory is.
import { writeSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { invoke, lastResortStatus, safeExitCode } from "./invocation.ts";
import { redact } from "./secrets.ts";

/**
 * The file that started this process, in the extension's bin/. Compiled, the script is /$bunfs/root/handler
 * inside the executable; argv0 is the executable's path as it was started (the shim always execs
 * "$dir/bin/handler"), which keeps a symlinked bin/handler in its extension directory (tests link one binary into
 * many), while execPath is the real file behind it, the only answer when it was found on PATH. Run uncompiled
 * (`bun <ext>/bin/handler.mjs`, esbuild's output, e.g. while debugging), the script itself is that file.
 */
function startedFrom(): string {
  const script = process.argv[1] ?? ".";
  if (!script.startsWith("/$bunfs/")) return script;
  return process.argv0.includes("/") ? process.argv0 : process.execPath;
}

const extensionDir = resolve(dirname(startedFrom()), "..");

/**
 * An operation's one or two lines go out with write(2): process.stdout and process.stderr are streams, and
 * reaching them makes the runtime load its whole streams implementation (~7 ms of a run with nothing to do).
 * A descriptor that would block (a full non-blocking pipe) falls back to the stream.
 */
function writeOut(fd: 1 | 2, text: string): void {
  try {
    const bytes = Buffer.from(text);
    for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done);
  } catch {
    (fd === 1 ? process.stdout : process.stderr).write(text);
  }
}

process.on("uncaughtException", (error) => {
  writeOut(2, redact(`OmsAgentForLinux: internal error (${error.message}); see extension.log\n`));
  lastResortStatus(process.argv[2], extensionDir, process.env, error);
  process.exit(30);
});

// No top-level await: an entry that has one cannot become bytecode (`bun build --bytecode`), and measuring that
// lever needs the entry as it ships (scripts/build.mjs).
if (process.argv[2] === "doctor") {
  import("./doctor/index.ts")
    .then(({ runDoctor }) =>
      runDoctor(process.argv.slice(3), extensionDir, process.env, {
        stdout: (text) => process.stdout.write(text),
        stderr: (text) => process.stderr.write(text),
      }),
    )
    .then((code) => {
      process.exitCode = code;
      // doctor has printed its verdict; a probe still pending past its budget must not keep the process alive.
      setTimeout(() => process.exit(code), 2000).unref();
    })
    .catch((error: unknown) => {
      writeOut(2, redact(`OmsAgentForLinux: internal error (${(error as Error)?.message ?? String(error)})\n`));
      process.exitCode = 30;
    });
} else {
  invoke(process.argv[2], extensionDir, process.env, {
    stdout: (line) => writeOut(1, `${line}\n`),
    stderr: (line) => writeOut(2, `${line}\n`),
  })
    .then((code) => {
      process.exitCode = safeExitCode(code);
    })
    .catch((error: unknown) => {
      writeOut(2, redact(`OmsAgentForLinux: internal error (${(error as Error)?.message ?? String(error)}); see extension.log\n`));
      process.exitCode = 30;
    });
}
