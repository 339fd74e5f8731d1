// Entry point, run by omsagent-shim as `runtime/bun bin/handler.mjs <operation>` (or `doctor [options]`,
// which people run by hand). The extension directory is the one holding bin/, whatever the working directory is.
import { writeSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { invoke, lastResortStatus, safeExitCode } from "./invocation.ts";
import { redact } from "./secrets.ts";

const script = process.argv[1] ?? ".";
const extensionDir = resolve(dirname(script), "..");

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
