// Entry point, run by omsagent-shim as `runtime/bun bin/handler.mjs <operation>` (or `doctor [options]`,
// which people run by hand). The extension directory is the one holding bin/, whatever the working directory is.
import { dirname, resolve } from "node:path";
import { invoke, lastResortStatus, safeExitCode } from "./invocation.ts";
import { redact } from "./secrets.ts";

const script = process.argv[1] ?? ".";
const extensionDir = resolve(dirname(script), "..");

process.on("uncaughtException", (error) => {
  process.stderr.write(redact(`OmsAgentForLinux: internal error (${error.message}); see extension.log\n`));
  lastResortStatus(process.argv[2], extensionDir, process.env, error);
  process.exit(30);
});

if (process.argv[2] === "doctor") {
  const { runDoctor } = await import("./doctor/index.ts");
  process.exitCode = await runDoctor(process.argv.slice(3), extensionDir, process.env, {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
  });
} else {
  invoke(process.argv[2], extensionDir, process.env, {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  })
    .then((code) => {
      process.exitCode = safeExitCode(code);
    })
    .catch((error: unknown) => {
      process.stderr.write(redact(`OmsAgentForLinux: internal error (${(error as Error)?.message ?? String(error)}); see extension.log\n`));
      process.exitCode = 30;
    });
}
