// A simulated machine's file system for the handler: an OMS_HANDLER_ROOT with /etc/os-release, the tools
// the bundle needs (links to this machine's), and empty /var, /etc, /opt. Nothing outside the temp dir.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const DEFAULT_TOOLS = ["tar", "sed", "curl", "openssl", "python3"];

export interface SystemRootOptions {
  osRelease?: { id: string; versionId: string; prettyName?: string } | null;
  tools?: string[];
}

const created: string[] = [];
// Each test file runs in its own process: whatever it made in the temp dir goes when it exits.
process.on("exit", () => {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp dir, removed when the process exits unless `keep` (the demo keeps its VM to be looked at). */
export function makeTempDir(prefix = "omsext-", keep = false): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!keep) created.push(dir);
  return dir;
}

export function makeSystemRoot(dir: string, options: SystemRootOptions = {}): string {
  for (const sub of ["var/lib", "etc", "opt", "usr/bin", "run"]) mkdirSync(join(dir, sub), { recursive: true });
  // The syslog socket omsadmin.sh's logger needs (simulator/README.md, "Syslog"); tests remove it to play a
  // container without one.
  mkdirSync(join(dir, "dev"), { recursive: true });
  writeFileSync(join(dir, "dev/log"), "");
  const os = options.osRelease === undefined ? { id: "ubuntu", versionId: "20.04", prettyName: "Ubuntu 20.04.6 LTS" } : options.osRelease;
  if (os) {
    writeFileSync(
      join(dir, "etc/os-release"),
      `NAME="${os.id}"\nID=${os.id}\nVERSION_ID="${os.versionId}"\nPRETTY_NAME="${os.prettyName ?? `${os.id} ${os.versionId}`}"\n`,
    );
  }
  for (const tool of options.tools ?? DEFAULT_TOOLS) {
    const real = execFileSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim();
    symlinkSync(real, join(dir, "usr/bin", tool));
  }
  return dir;
}

export interface FakeMetadataService {
  url: string;
  requests: number;
  close(): Promise<void>;
}

/** A loopback instance metadata service answering with the given compute document. */
export async function startFakeMetadata(compute: Record<string, unknown> | "hang" | number): Promise<FakeMetadataService> {
  const state = { requests: 0 };
  const server: Server = createServer((req, res) => {
    state.requests++;
    if (compute === "hang") return; // never answers: the handler's timeout must cut it
    if (typeof compute === "number") {
      res.writeHead(compute).end();
      return;
    }
    if (req.headers.metadata !== "true") {
      res.writeHead(400).end("Metadata header required");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ compute }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
