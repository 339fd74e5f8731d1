// Process entry of the fleet CLI (`npm run fleet -- <command> ...`): wires the real streams, Ctrl-C and the exit
// code to `run`. Everything else lives in commands.ts so tests can run the same code in-process.
import { pathToFileURL } from "node:url";
import { run, EXIT_INTERRUPTED } from "./commands.ts";
import { keepHeapCompact } from "./memory.ts";
import { Redactor } from "../shared/redact.ts";

/**
 * Last line of defence: SDK debug logs (AZURE_LOG_LEVEL), Node warnings and anything else written to the
 * process streams pass through the same redactor as our own output.
 */
function guardStreams(): (redactor: Redactor) => void {
  let current = Redactor.none();
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      const text = typeof chunk === "string" ? chunk : Buffer.isBuffer(chunk) ? chunk.toString("utf8") : chunk;
      return write(typeof text === "string" ? current.redact(text) : text, ...rest);
    }) as typeof stream.write;
  }
  return (redactor) => {
    current = redactor;
  };
}

export async function main(): Promise<void> {
  const setRedactor = guardStreams();
  keepHeapCompact();
  const interrupt = new AbortController();
  process.on("SIGINT", () => {
    if (interrupt.signal.aborted) process.exit(EXIT_INTERRUPTED);
    process.stderr.write("interrupted: finishing the table; machines already sent to Azure keep running there (Ctrl-C again to quit now)\n");
    interrupt.abort();
  });
  process.exitCode = await run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    signal: interrupt.signal,
    onRedactor: setRedactor,
  });
  // Keep-alive sockets and SDK timers must not hold the process open after the report.
  process.exit();
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  void main();
}
