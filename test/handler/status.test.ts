import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { registerSecret } from "../../src/handler/secrets.ts";
import { MAX_MESSAGE_BYTES, renderStatus, truncateUtf8, writeStatus } from "../../src/handler/status.ts";
import { makeTempDir } from "../../simulator/system-root.ts";

test("the status document has the shape the guest agent validates", () => {
  const text = renderStatus(
    "Ext",
    {
      operation: "Enable",
      status: "error",
      code: 53,
      message: "Enable failed (53 X): y — z",
      substatus: [{ name: "Details", status: "error", code: 53, message: "tail" }],
    },
    new Date("2026-11-23T01:02:03.456Z"),
  );
  const parsed = JSON.parse(text);
  assert.ok(Array.isArray(parsed) && parsed.length === 1);
  assert.deepEqual(parsed[0], {
    version: "1.0",
    timestampUTC: "2026-11-23T01:02:03Z",
    status: {
      name: "Ext",
      operation: "Enable",
      status: "error",
      code: 53,
      formattedMessage: { lang: "en-US", message: "Enable failed (53 X): y — z" },
      substatus: [{ name: "Details", status: "error", code: 53, formattedMessage: { lang: "en-US", message: "tail" } }],
    },
  });
});

test("messages fit the portal's 1 KB and stay valid UTF-8", () => {
  const long = "é".repeat(2000);
  const cut = truncateUtf8(long, MAX_MESSAGE_BYTES);
  assert.ok(Buffer.byteLength(cut) <= MAX_MESSAGE_BYTES);
  assert.ok(cut.endsWith("…"));
  const parsed = JSON.parse(renderStatus("Ext", { operation: "Install", status: "success", code: 0, message: long }));
  assert.ok(Buffer.byteLength(parsed[0].status.formattedMessage.message) <= MAX_MESSAGE_BYTES);
});

test("secrets are redacted from status messages", () => {
  registerSecret("Sup3rSecretValue==");
  const parsed = JSON.parse(renderStatus("Ext", { operation: "Enable", status: "error", code: 30, message: "saw Sup3rSecretValue== here" }));
  assert.equal(parsed[0].status.formattedMessage.message, "saw *** here");
});

test("status files are written atomically, leaving no temp file", () => {
  const dir = makeTempDir();
  writeStatus(dir, 7, "Ext", { operation: "Install", status: "transitioning", code: 0, message: "working" });
  writeStatus(dir, 7, "Ext", { operation: "Install", status: "success", code: 0, message: "done" });
  assert.deepEqual(readdirSync(dir), ["7.status"]);
  assert.equal(JSON.parse(readFileSync(`${dir}/7.status`, "utf8"))[0].status.status, "success");
});

test("status and state files are fsync'd before they are renamed into place (a crash leaves the old file or the new one)", async () => {
  const fs = (await import("node:fs")).default;
  const { syncBuiltinESMExports } = await import("node:module");
  const { mock } = await import("node:test");
  const { StateStore } = await import("../../src/handler/state.ts");
  const events: string[] = [];
  const originalFsync = fs.fsyncSync;
  const originalRename = fs.renameSync;
  const fsync = mock.method(fs, "fsyncSync", (fd: number) => {
    events.push("fsync");
    originalFsync(fd);
  });
  const rename = mock.method(fs, "renameSync", (from: string, to: string) => {
    events.push(`rename ${to.split("/").pop()}`);
    originalRename(from, to);
  });
  syncBuiltinESMExports();
  try {
    const dir = makeTempDir();
    writeStatus(dir, 3, "Ext", { operation: "Enable", status: "success", code: 0, message: "ok" });
    new StateStore(`${dir}/state`).recordApplied({ seq: 3, settingsHash: "h", workspaceId: "w", handlerVersion: "1", at: "now" });
  } finally {
    fsync.mock.restore();
    rename.mock.restore();
    syncBuiltinESMExports();
  }
  const statusRename = events.indexOf("rename 3.status");
  const stateRename = events.indexOf("rename applied.json");
  assert.ok(statusRename > 0 && events[statusRename - 1] === "fsync", events.join(", "));
  assert.ok(stateRename > 0 && events[stateRename - 1] === "fsync", events.join(", "));
});
