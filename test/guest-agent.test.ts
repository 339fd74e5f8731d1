// Verifies the fake guest agent (simulator/agent/) against the contract, using a tiny stand-in handler
// written here (a sh script), never the real one.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import yazl from "yazl";
import { decodeBackslashReplace, FakeGuestAgent, formatStdoutStderr, NOT_RUN, OMS_HANDLER_NAME, pyJsonDumps, PyFloat } from "../simulator/agent/index.ts";

const temps: string[] = [];
function tempDir(prefix = "ga-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

// The stand-in handler: records its call, its environment (NUL-separated), cwd and /proc stat into $PROBE_DIR,
// runs $PROBE_DIR/<version>-<op>.sh or $PROBE_DIR/<op>.sh when present (sourced, so it can exit), then writes a
// success status for $ConfigSequenceNumber.
const FAKE_HANDLER = `#!/bin/sh
op="$1"
v="$AZURE_GUEST_AGENT_EXTENSION_VERSION"
p="$PROBE_DIR"
echo "$v $op" >> "$p/calls"
env -0 > "$p/env-$v-$op"
pwd -P > "$p/cwd-$v-$op"
cat /proc/$$/stat > "$p/stat-$v-$op"
if [ -f "$p/$v-$op.sh" ]; then . "$p/$v-$op.sh"; elif [ -f "$p/$op.sh" ]; then . "$p/$op.sh"; fi
printf '[{"version":"1.0","timestampUTC":"2026-01-01T00:00:00Z","status":{"name":"fake","operation":"%s","status":"success","code":0,"formattedMessage":{"lang":"en-US","message":"%s ok"}}}]' "$op" "$op" > "status/$ConfigSequenceNumber.status"
echo "$op done"
`;

interface FakeExtensionOptions {
  continueOnUpdateFailure?: boolean;
  updateMode?: string;
}

/** A staged extension directory with the stand-in handler (bin/fake.sh is 0644: the agent must add u+x). */
function makeFakeExtension(version: string, options: FakeExtensionOptions = {}): string {
  const dir = tempDir("fake-ext-");
  mkdirSync(join(dir, "bin"));
  writeFileSync(join(dir, "bin", "fake.sh"), FAKE_HANDLER, { mode: 0o644 });
  writeFileSync(join(dir, "data.txt"), "payload\n", { mode: 0o644 });
  const manifest = [
    {
      name: "OmsAgentForLinux",
      version,
      handlerManifest: {
        installCommand: "bin/fake.sh install",
        uninstallCommand: "bin/fake.sh uninstall",
        updateCommand: "bin/fake.sh update",
        enableCommand: "bin/fake.sh enable",
        disableCommand: "bin/fake.sh disable",
        reportHeartbeat: false,
        updateMode: options.updateMode ?? "UpdateWithInstall",
        continueOnUpdateFailure: options.continueOnUpdateFailure ?? false,
        supportsMultipleExtensions: false,
      },
    },
  ];
  writeFileSync(join(dir, "HandlerManifest.json"), JSON.stringify(manifest, null, 2));
  return dir;
}

function newAgent(extra: Record<string, string> = {}): { agent: FakeGuestAgent; probe: string } {
  const root = tempDir("fake-agent-");
  const probe = join(root, "probe");
  mkdirSync(probe);
  const agent = new FakeGuestAgent({ root, baseEnv: { PATH: process.env.PATH, PROBE_DIR: probe, ...extra } });
  return { agent, probe };
}

function readEnv(probe: string, version: string, op: string): Record<string, string> {
  const raw = readFileSync(join(probe, `env-${version}-${op}`), "utf8");
  const env: Record<string, string> = {};
  for (const entry of raw.split("\0")) {
    if (!entry) continue;
    const i = entry.indexOf("=");
    env[entry.slice(0, i)] = entry.slice(i + 1);
  }
  return env;
}

function calls(probe: string): string[] {
  const file = join(probe, "calls");
  return existsSync(file) ? readFileSync(file, "utf8").trim().split("\n") : [];
}

function mode(path: string): number {
  return statSync(path).mode & 0o7777;
}

/** Process state letter from /proc/<pid>/stat, or null when the process is gone. */
function procState(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0] ?? null;
  } catch {
    return null;
  }
}

function statFields(text: string): string[] {
  // fields after "(comm)": state ppid pgrp session ...
  return text
    .slice(text.lastIndexOf(")") + 2)
    .trim()
    .split(" ");
}

describe("python-compatible helpers", () => {
  test("pyJsonDumps matches json.dumps defaults", () => {
    assert.equal(
      pyJsonDumps([{ name: "a", version: new PyFloat(1), x: null, t: true, s: "é\n" }]),
      '[{"name": "a", "version": 1.0, "x": null, "t": true, "s": "\\u00e9\\n"}]',
    );
    const py = execFileSync(
      "python3",
      ["-c", 'import json; print(json.dumps([{"name": "a", "version": 1.0, "x": None, "t": True, "s": "\\u00e9\\n"}]), end="")'],
      { encoding: "utf8" },
    );
    assert.equal(pyJsonDumps([{ name: "a", version: new PyFloat(1), x: null, t: true, s: "é\n" }]), py);
  });

  test("formatStdoutStderr keeps tails within 3200 characters, like format_stdout_stderr", () => {
    assert.equal(formatStdoutStderr("out", "err"), "[stdout]\nout\n\n[stderr]\nerr");
    const longOut = "o".repeat(4000) + "TAIL";
    const r1 = formatStdoutStderr(longOut, "e".repeat(100));
    assert.equal(r1.length, 3200);
    assert.ok(r1.startsWith("[stdout]\no"));
    assert.ok(r1.includes("TAIL\n\n[stderr]\n" + "e".repeat(100)));
    const r2 = formatStdoutStderr("x".repeat(3200), "y".repeat(3200));
    assert.equal(r2, `[stdout]\n${"x".repeat(1590)}\n\n[stderr]\n${"y".repeat(1590)}`);
    // cross-check with the agent's algorithm run in Python
    const script = `
template = "[stdout]\\n{0}\\n\\n[stderr]\\n{1}"
def f(stdout, stderr):
    max_len = 3200
    max_len_each = int((max_len - len(template) + 6) / 2)
    def to_s(a, ao, b, bo): return template.format(a[ao:], b[bo:])
    if len(stdout) + len(stderr) < max_len: return to_s(stdout, 0, stderr, 0)
    elif len(stdout) < max_len_each:
        bonus = max_len_each - len(stdout); n = min(max_len_each + bonus, len(stderr)); return to_s(stdout, 0, stderr, -1*n)
    elif len(stderr) < max_len_each:
        bonus = max_len_each - len(stderr); n = min(max_len_each + bonus, len(stdout)); return to_s(stdout, -1*n, stderr, 0)
    else: return to_s(stdout, -1*max_len_each, stderr, -1*max_len_each)
import sys
print(f("a"*50 + "\\u00e9"*2000, "b"*1700), end="")`;
    const py = execFileSync("python3", ["-c", script], { encoding: "utf8" });
    assert.equal(formatStdoutStderr("a".repeat(50) + "é".repeat(2000), "b".repeat(1700)), py);
  });

  test("decodeBackslashReplace escapes invalid UTF-8 like errors='backslashreplace'", () => {
    assert.equal(decodeBackslashReplace(Buffer.from("héllo")), "héllo");
    assert.equal(decodeBackslashReplace(Buffer.from([0x61, 0xe2, 0x82])), "a\\xe2\\x82"); // cut in the middle of "€"
    assert.equal(decodeBackslashReplace(Buffer.from([0xff, 0x41])), "\\xffA");
  });
});

describe("FakeGuestAgent layout", () => {
  test("installDir + initialize lay out the base dir, modes and HandlerEnvironment.json like the agent", () => {
    const { agent } = newAgent();
    const { baseDir, version } = agent.installDir(makeFakeExtension("1.2.3"));
    assert.equal(version, "1.2.3");
    assert.equal(baseDir, join(agent.libDir, `${OMS_HANDLER_NAME}-1.2.3`));
    assert.equal(agent.handlerState("1.2.3"), "NotInstalled");
    agent.initialize();

    assert.equal(mode(join(baseDir, "config")), 0o700);
    assert.equal(mode(join(baseDir, "status")), 0o700);
    assert.equal(mode(agent.eventsDir()), 0o700);
    assert.equal(agent.eventsDir(), join(agent.logRoot, OMS_HANDLER_NAME, "events"));
    // modes are lost (0644) and u+x is added to every file
    assert.equal(mode(join(baseDir, "bin", "fake.sh")) & 0o111, 0o100);
    assert.equal(mode(join(baseDir, "data.txt")) & 0o111, 0o100);

    const expected =
      `[{"name": "${OMS_HANDLER_NAME}", "version": 1.0, "handlerEnvironment": {` +
      `"logFolder": "${agent.logRoot}/${OMS_HANDLER_NAME}", ` +
      `"configFolder": "${baseDir}/config", ` +
      `"statusFolder": "${baseDir}/status", ` +
      `"heartbeatFile": "${baseDir}/heartbeat.log", ` +
      `"eventsFolder": "${agent.logRoot}/${OMS_HANDLER_NAME}/events", ` +
      `"eventsFolder_preview": "${agent.logRoot}/${OMS_HANDLER_NAME}/events"}}]`;
    assert.equal(readFileSync(join(baseDir, "HandlerEnvironment.json"), "utf8"), expected);
  });

  test("installZip unpacks with python zipfile (modes dropped, then u+x) and deletes the package zip", async () => {
    const { agent } = newAgent();
    const staged = makeFakeExtension("2.0.0");
    const zipPath = join(tempDir(), `${OMS_HANDLER_NAME}-2.0.0.zip`);
    const zip = new yazl.ZipFile();
    zip.addFile(join(staged, "HandlerManifest.json"), "HandlerManifest.json", { mode: 0o100644 });
    zip.addFile(join(staged, "bin", "fake.sh"), "bin/fake.sh", { mode: 0o100755 });
    zip.addFile(join(staged, "data.txt"), "data.txt", { mode: 0o100600 });
    zip.end();
    const out = createWriteStream(zipPath);
    zip.outputStream.pipe(out);
    await once(out, "close");

    const { version, baseDir } = agent.installZip(zipPath);
    assert.equal(version, "2.0.0");
    assert.ok(!existsSync(join(agent.libDir, `${OMS_HANDLER_NAME}__2.0.0.zip`)));
    // extractall ignores the zip's modes: the 0755 entry is not group/other executable, the 0600 one is readable
    const before = mode(join(baseDir, "bin", "fake.sh"));
    assert.equal(before & 0o111, 0);
    agent.initialize(version);
    assert.equal(mode(join(baseDir, "bin", "fake.sh")), before | 0o100);
    assert.equal(mode(join(baseDir, "data.txt")) & 0o100, 0o100);
  });

  test("writeSettings writes the agent's settings file; protected settings decrypt with the lib-dir certificate", () => {
    const { agent } = newAgent();
    const { baseDir } = agent.setup({ dir: makeFakeExtension("1.0.0") });
    const plain = agent.writeSettings(3, { publicSettings: { workspaceId: "abc" } });
    assert.equal(
      readFileSync(plain, "utf8"),
      '{"runtimeSettings": [{"handlerSettings": {"publicSettings": {"workspaceId": "abc"}, "protectedSettings": null, "protectedSettingsCertThumbprint": null}}]}',
    );
    assert.equal(agent.goalStateSeq, "3");

    const file = agent.writeSettings(4, { publicSettings: null, protectedSettings: { workspaceKey: "a2V5" } });
    const hs = (JSON.parse(readFileSync(file, "utf8")) as { runtimeSettings: Array<{ handlerSettings: Record<string, string> }> }).runtimeSettings[0]!
      .handlerSettings;
    assert.equal(hs.publicSettings, null);
    const thumb = hs.protectedSettingsCertThumbprint!;
    assert.match(thumb, /^[0-9A-F]{40}$/);
    // Certificates live at <configFolder>/../../<thumbprint>.crt|.prv (README: settings decryption).
    const certDir = join(baseDir, "config", "..", "..");
    const decrypted = execFileSync(
      "openssl",
      ["cms", "-decrypt", "-inform", "DER", "-recip", join(certDir, `${thumb}.crt`), "-inkey", join(certDir, `${thumb}.prv`)],
      { input: Buffer.from(hs.protectedSettings!, "base64") },
    ).toString();
    assert.deepEqual(JSON.parse(decrypted), { workspaceKey: "a2V5" });

    agent.writeSettings(0, null);
    assert.equal(readFileSync(join(baseDir, "config", "0.settings"), "utf8"), "");
  });
});

describe("FakeGuestAgent.run", () => {
  test("environment: the agent's variables, then its own environment on top (nothing else leaks in)", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") }, { seq: 5, settings: { publicSettings: {} } });
    const r = await agent.run("1.0.0", "enable");
    assert.equal(r.exitCode, 0);
    assert.equal(r.error, undefined);
    const env = readEnv(probe, "1.0.0", "enable");
    const base = agent.baseDir("1.0.0");
    assert.equal(env.ConfigSequenceNumber, "5");
    assert.equal(env.AZURE_GUEST_AGENT_EXTENSION_PATH, base);
    assert.equal(env.AZURE_GUEST_AGENT_EXTENSION_VERSION, "1.0.0");
    assert.equal(env.AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS, "168.63.129.16");
    assert.equal(env.AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES, '[{"Key": "ExtensionTelemetryPipeline", "Value": "1.0"}]');
    assert.equal(env.AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE, NOT_RUN);
    assert.equal(env.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE, undefined);
    assert.equal(env.VERSION, undefined);
    assert.equal(env.HOME, undefined, "a systemd service has no HOME unless the agent's env has one");
    assert.equal(env.PROBE_DIR, probe);

    await agent.run("1.0.0", "disable");
    const disableEnv = readEnv(probe, "1.0.0", "disable");
    assert.equal(disableEnv.AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE, undefined, "only install and enable get it");

    await agent.run("1.0.0", "update", { updatingFromVersion: "0.9.0", disableExitCode: "0" });
    const updateEnv = readEnv(probe, "1.0.0", "update");
    assert.equal(updateEnv.VERSION, "1.0.0");
    assert.equal(updateEnv.AZURE_GUEST_AGENT_UPDATING_FROM_VERSION, "0.9.0");
    assert.equal(updateEnv.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE, "0");
    assert.equal(updateEnv.AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE, undefined);
  });

  test("the agent's own environment wins over its variables on a clash (env.update(os.environ))", async () => {
    const { agent, probe } = newAgent({ ConfigSequenceNumber: "99", AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS: "10.0.0.1" });
    agent.setup({ dir: makeFakeExtension("1.0.0") }, { seq: 1, settings: { publicSettings: {} } });
    await agent.run("1.0.0", "install", { extraEnv: { EXTRA: "x" } });
    const env = readEnv(probe, "1.0.0", "install");
    assert.equal(env.ConfigSequenceNumber, "99");
    assert.equal(env.AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS, "10.0.0.1");
    assert.equal(env.EXTRA, "x");
  });

  test("runs /bin/sh -c <base>/<cmd> in the base dir, in a new session and process group", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") });
    const r = await agent.run("1.0.0", "install");
    assert.equal(r.command, join(agent.baseDir("1.0.0"), "bin/fake.sh install"));
    assert.equal(readFileSync(join(probe, "cwd-1.0.0-install"), "utf8").trim(), agent.baseDir("1.0.0"));
    const [, , pgrp, session] = statFields(readFileSync(join(probe, "stat-1.0.0-install"), "utf8"));
    assert.equal(Number(pgrp), r.pid, "the shell leads its own process group");
    assert.equal(Number(session), r.pid, "… and its own session (setsid)");
    const [, , , mySession] = statFields(readFileSync("/proc/self/stat", "utf8"));
    assert.notEqual(session, mySession);
    assert.equal(r.seq, "0", "no settings: ConfigSequenceNumber 0");
    assert.ok(existsSync(join(agent.logDir(), "CommandExecution.log")));
  });

  test("timeout kills the whole process group with SIGKILL and reports 1011", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") });
    writeFileSync(join(probe, "enable.sh"), `sleep 60 & echo $! > "$p/bg.pid"; echo started; sleep 60\n`);
    const r = await agent.run("1.0.0", "enable", { timeoutSeconds: 1 });
    assert.equal(r.timedOut, true);
    assert.equal(r.exitCode, null);
    assert.ok(r.durationMs >= 1000 && r.durationMs < 4000, `took ${r.durationMs} ms`);
    assert.equal(r.error?.code, 1011);
    assert.ok(r.error?.message.startsWith(`[ExtensionError] Timeout(1): ${r.command}\n[stdout]\nstarted`));
    const bg = Number(readFileSync(join(probe, "bg.pid"), "utf8"));
    for (let i = 0; i < 50 && !["Z", null].includes(procState(bg)); i++) await new Promise((res) => setTimeout(res, 20));
    assert.ok([null, "Z"].includes(procState(bg)), "background child in the group was killed too");
    assert.ok([null, "Z"].includes(procState(r.pid)));
  });

  test("a background child does not hold the agent: output goes to files, not pipes", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") });
    writeFileSync(join(probe, "enable.sh"), `(sleep 5; echo late) & echo $! > "$p/bg.pid"\n`);
    const r = await agent.run("1.0.0", "enable");
    try {
      assert.equal(r.exitCode, 0);
      assert.ok(r.durationMs < 2500, `took ${r.durationMs} ms`);
      const bg = Number(readFileSync(join(probe, "bg.pid"), "utf8"));
      assert.equal(procState(bg) !== null && procState(bg) !== "Z", true, "the child keeps running after the command exits");
    } finally {
      try {
        process.kill(-r.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  });

  test("captures only the first 3200 bytes of each stream and formats them like the agent", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") });
    writeFileSync(
      join(probe, "enable.sh"),
      `i=0; while [ $i -lt 100 ]; do printf '%049d\\n' $i; i=$((i+1)); done; printf 'stderr-%s' $(seq 1 20) >&2; exit 3\n`,
    );
    const r = await agent.run("1.0.0", "enable");
    assert.equal(r.exitCode, 3);
    assert.equal(r.stdout.length, 3200, "first 3200 bytes only: 64 of the 100 50-byte lines");
    assert.ok(r.stdout.startsWith("0".repeat(49) + "\n"));
    assert.ok(!r.stdout.includes("99"));
    assert.equal(r.output, formatStdoutStderr(r.stdout, r.stderr));
    assert.ok(r.output.length <= 3200);
    assert.ok(r.output.endsWith(`[stderr]\n${r.stderr}`));
    assert.equal(r.error?.code, 1009);
    assert.equal(r.error?.message, `[ExtensionOperationError] Non-zero exit code: 3, ${r.command}\n${r.output}`);
  });

  test("timing 'agent' polls once a second and waits 1 s after exit", async () => {
    const root = tempDir("fake-agent-");
    const probe = join(root, "probe");
    mkdirSync(probe);
    const agent = new FakeGuestAgent({ root, timing: "agent", baseEnv: { PATH: process.env.PATH, PROBE_DIR: probe } });
    agent.setup({ dir: makeFakeExtension("1.0.0") });
    const r = await agent.run("1.0.0", "disable");
    assert.equal(r.exitCode, 0);
    assert.ok(r.durationMs >= 1900, `took ${r.durationMs} ms`);
  });
});

describe("FakeGuestAgent.readStatus (ga/exthandlers.py collect_ext_status)", () => {
  function withStatus(content: string | null): ReturnType<FakeGuestAgent["readStatus"]> {
    const { agent } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") }, { seq: 2, settings: { publicSettings: {} } });
    if (content !== null) writeFileSync(agent.statusFile("1.0.0", 2), content);
    return agent.readStatus("1.0.0", 2);
  }
  const entry = (status: Record<string, unknown>) => JSON.stringify([{ version: "1.0", timestampUTC: "2026-01-01T00:00:00Z", status }]);

  test("missing file → transitioning placeholder, code 0", () => {
    const s = withStatus(null);
    assert.equal(s.status, "transitioning");
    assert.equal(s.code, 0);
    assert.match(String(s.message), /^This status is being reported by the Guest Agent since no status file was reported by extension/);
  });

  test("invalid JSON → error 1012 with the first 2000 characters", () => {
    const s = withStatus("{not json" + "x".repeat(3000));
    assert.equal(s.status, "error");
    assert.equal(s.code, 1012);
    assert.ok(String(s.message).includes("First 2000 Bytes of status file:\n {not json"));
    assert.ok(!String(s.message).includes("x".repeat(2000)));
  });

  test("a bare object, a missing status or status.status → error 1012", () => {
    for (const content of [JSON.stringify({ status: { status: "success" } }), "[{}]", JSON.stringify([{ status: { code: 0 } }])]) {
      const s = withStatus(content);
      assert.equal(s.status, "error", content);
      assert.equal(s.code, 1012, content);
      assert.match(String(s.message), /^Could not get a valid status from the extension/);
    }
  });

  test("status values are case-sensitive: 'Success' is reported as error with the file's code and message", () => {
    const s = withStatus(entry({ status: "Success", code: 7, formattedMessage: { lang: "en-US", message: "hi" } }));
    assert.equal(s.status, "error");
    assert.equal(s.code, 7);
    assert.equal(s.message, "hi");
  });

  test("substatus: invalid status or formattedMessage without lang → 1012; null entries are ignored", () => {
    assert.equal(withStatus(entry({ status: "success", substatus: [{ name: "a", status: "OK" }] })).code, 1012);
    assert.equal(withStatus(entry({ status: "success", formattedMessage: { message: "no lang" } })).code, 1012);
    assert.equal(withStatus(entry({ status: "success", substatus: [{ name: "a", status: "success", formattedMessage: { lang: "en-US" } }] })).code, 1012);
    const ok = withStatus(
      entry({
        status: "warning",
        operation: "Enable",
        substatus: [null, { name: "bundle", status: "success", code: 0, formattedMessage: { lang: "en-US", message: "1.19.0" } }],
      }),
    );
    assert.equal(ok.status, "warning");
    assert.equal(ok.code, 0, "code defaults to 0");
    assert.equal(ok.message, "");
    assert.equal(ok.rawMessage, null);
    assert.equal(ok.operation, "Enable");
    assert.deepEqual(ok.substatus, [{ name: "bundle", status: "success", code: 0, message: "1.19.0", rawMessage: "1.19.0" }]);
    assert.equal(withStatus(entry({ status: "success", substatus: null })).substatus.length, 0);
  });

  test("a file over 128 KiB is still parsed, with the message cut to 1024 characters + ' ... [TRUNCATED]'", () => {
    const s = withStatus(entry({ status: "success", code: 0, formattedMessage: { lang: "en-US", message: "m".repeat(140 * 1024) } }));
    assert.equal(s.status, "success");
    assert.equal(s.message, "m".repeat(1024) + " ... [TRUNCATED]");
  });

  test("an empty array gives a null status", () => {
    assert.equal(withStatus("[]").status, null);
  });
});

describe("FakeGuestAgent sequences", () => {
  test("first install: install → Installed → enable → Enabled, 'Plugin enabled'", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") }, { seq: 0, settings: { publicSettings: { a: 1 } } });
    const r = await agent.firstInstall("1.0.0");
    assert.equal(r.ok, true);
    assert.deepEqual(calls(probe), ["1.0.0 install", "1.0.0 enable"]);
    assert.equal(r.handlerState, "Enabled");
    assert.deepEqual(
      { status: r.handlerStatus?.status, code: r.handlerStatus?.code, message: r.handlerStatus?.message },
      { status: "Ready", code: 0, message: "Plugin enabled" },
    );
    const report = agent.report("1.0.0", 0);
    assert.equal(report.extension?.status, "success");
    assert.equal(report.extension?.message, "enable ok");
  });

  test("failed install: 1007, stays NotInstalled, enable not run, no extension status reported", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") }, { seq: 0, settings: { publicSettings: {} } });
    writeFileSync(join(probe, "install.sh"), "echo 'no space' >&2; exit 52\n");
    const r = await agent.firstInstall("1.0.0");
    assert.equal(r.ok, false);
    assert.equal(r.error?.code, 1007);
    assert.deepEqual(calls(probe), ["1.0.0 install"]);
    assert.equal(r.handlerState, "NotInstalled");
    assert.equal(r.handlerStatus?.status, "NotReady");
    assert.match(r.handlerStatus?.message ?? "", /Non-zero exit code: 52.*\n\[stdout\]\n\n\n\[stderr\]\nno space/s);
    assert.equal(agent.report("1.0.0").extension, null);
  });

  test("failed enable: 1009, HandlerState stays Installed", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") }, { seq: 0, settings: { publicSettings: {} } });
    writeFileSync(join(probe, "enable.sh"), "exit 11\n");
    const r = await agent.firstInstall("1.0.0");
    assert.equal(r.error?.code, 1009);
    assert.equal(r.handlerState, "Installed");
  });

  test("update A → B: disable A, copy mrseq and status, B.update, A.uninstall, delete A, B.install, B.enable", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") }, { seq: 1, settings: { publicSettings: {} } });
    assert.equal((await agent.firstInstall("1.0.0")).ok, true);
    writeFileSync(join(agent.baseDir("1.0.0"), "mrseq"), "1");

    agent.setup({ dir: makeFakeExtension("1.1.0") }, { seq: 2, settings: { publicSettings: {} } });
    writeFileSync(join(probe, "1.1.0-update.sh"), `cat mrseq > "$p/mrseq-seen"; ls status > "$p/status-seen"\n`);
    const r = await agent.update("1.0.0", "1.1.0");
    assert.equal(r.ok, true, r.error?.message);
    assert.deepEqual(calls(probe).slice(2), ["1.0.0 disable", "1.1.0 update", "1.0.0 uninstall", "1.1.0 install", "1.1.0 enable"]);
    assert.equal(readFileSync(join(probe, "mrseq-seen"), "utf8"), "1");
    // A.disable already ran with the new seq, so its 2.status is copied along with 1.status
    assert.equal(readFileSync(join(probe, "status-seen"), "utf8").trim(), "1.status\n2.status");
    assert.ok(!existsSync(agent.baseDir("1.0.0")), "old version's dir deleted");
    assert.equal(agent.handlerState("1.1.0"), "Enabled");
    assert.equal(agent.installedVersion(), "1.1.0");

    assert.equal(readEnv(probe, "1.0.0", "disable").ConfigSequenceNumber, "2", "old disable gets the new seq");
    assert.equal(readEnv(probe, "1.0.0", "uninstall").ConfigSequenceNumber, "2");
    const update = readEnv(probe, "1.1.0", "update");
    assert.equal(update.VERSION, "1.1.0");
    assert.equal(update.AZURE_GUEST_AGENT_UPDATING_FROM_VERSION, "1.0.0");
    assert.equal(update.AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE, "0");
    assert.equal(readEnv(probe, "1.1.0", "install").AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE, "0");
    assert.equal(readEnv(probe, "1.1.0", "enable").AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE, "0");
  });

  test("update: old disable fails without continueOnUpdateFailure → 1008 on B, A stays Enabled, B NotInstalled", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") }, { seq: 1, settings: { publicSettings: {} } });
    await agent.firstInstall("1.0.0");
    agent.setup({ dir: makeFakeExtension("1.1.0", { continueOnUpdateFailure: false }) }, { seq: 1, settings: { publicSettings: {} } });
    writeFileSync(join(probe, "1.0.0-disable.sh"), "exit 7\n");
    const r = await agent.update("1.0.0", "1.1.0");
    assert.equal(r.ok, false);
    assert.equal(r.version, "1.1.0");
    assert.equal(r.error?.code, 1008);
    assert.match(r.error?.message ?? "", /^\[ExtensionUpdateError\] \[ExtensionOperationError\] Non-zero exit code: 7.*; ContinueOnUpdate: False$/s);
    assert.deepEqual(calls(probe).slice(2), ["1.0.0 disable"]);
    assert.equal(agent.handlerState("1.0.0"), "Enabled");
    assert.equal(agent.handlerState("1.1.0"), "NotInstalled");
    assert.equal(agent.handlerStatus("1.1.0")?.code, 1008);
  });

  test("update: with continueOnUpdateFailure the failing exit code is passed on", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") }, { seq: 1, settings: { publicSettings: {} } });
    await agent.firstInstall("1.0.0");
    agent.setup({ dir: makeFakeExtension("1.1.0", { continueOnUpdateFailure: true }) }, { seq: 1, settings: { publicSettings: {} } });
    writeFileSync(join(probe, "1.0.0-disable.sh"), "exit 7\n");
    writeFileSync(join(probe, "1.0.0-uninstall.sh"), "exit 9\n");
    const r = await agent.update("1.0.0", "1.1.0");
    assert.equal(r.ok, true);
    assert.equal(readEnv(probe, "1.1.0", "update").AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE, "7");
    assert.equal(readEnv(probe, "1.1.0", "install").AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE, "9");
    assert.ok(!existsSync(agent.baseDir("1.0.0")));
  });

  test("update: B.update fails → 1008, B FailedUpgrade, A (already disabled) is not uninstalled", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") }, { seq: 1, settings: { publicSettings: {} } });
    await agent.firstInstall("1.0.0");
    agent.setup({ dir: makeFakeExtension("1.1.0") }, { seq: 1, settings: { publicSettings: {} } });
    writeFileSync(join(probe, "1.1.0-update.sh"), "exit 30\n");
    const r = await agent.update("1.0.0", "1.1.0");
    assert.equal(r.error?.code, 1008);
    assert.deepEqual(calls(probe).slice(2), ["1.0.0 disable", "1.1.0 update"]);
    assert.equal(agent.handlerState("1.1.0"), "FailedUpgrade");
    assert.equal(agent.handlerState("1.0.0"), "Installed");
    assert.ok(existsSync(agent.baseDir("1.0.0")));
    assert.equal(agent.installedVersion(), "1.0.0");
  });

  test("downgrade B < A runs the old (higher) package's update with VERSION and UPDATING_FROM_VERSION = target", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.1.0") }, { seq: 1, settings: { publicSettings: {} } });
    await agent.firstInstall("1.1.0");
    agent.setup({ dir: makeFakeExtension("1.0.0") }, { seq: 1, settings: { publicSettings: {} } });
    const r = await agent.update("1.1.0", "1.0.0");
    assert.equal(r.ok, true);
    assert.deepEqual(calls(probe).slice(2), ["1.1.0 disable", "1.1.0 update", "1.1.0 uninstall", "1.0.0 install", "1.0.0 enable"]);
    const env = readEnv(probe, "1.1.0", "update");
    assert.equal(env.VERSION, "1.0.0");
    assert.equal(env.AZURE_GUEST_AGENT_UPDATING_FROM_VERSION, "1.0.0");
  });

  test("update without install (updateMode other than UpdateWithInstall) skips B.install", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") }, { seq: 1, settings: { publicSettings: {} } });
    await agent.firstInstall("1.0.0");
    agent.setup({ dir: makeFakeExtension("1.1.0", { updateMode: "UpdateWithoutInstall" }) }, { seq: 1, settings: { publicSettings: {} } });
    await agent.update("1.0.0", "1.1.0");
    assert.deepEqual(calls(probe).slice(2), ["1.0.0 disable", "1.1.0 update", "1.0.0 uninstall", "1.1.0 enable"]);
  });

  test("uninstall: disable then uninstall, then the dir is deleted; a failing disable keeps everything (1010)", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") }, { seq: 0, settings: { publicSettings: {} } });
    await agent.firstInstall("1.0.0");
    writeFileSync(join(probe, "disable.sh"), "exit 4\n");
    const failed = await agent.uninstall("1.0.0");
    assert.equal(failed.error?.code, 1010);
    assert.ok(existsSync(agent.baseDir("1.0.0")));
    assert.equal(agent.handlerState("1.0.0"), "Enabled");
    rmSync(join(probe, "disable.sh"));
    writeFileSync(join(probe, "uninstall.sh"), "exit 5\n");
    const r = await agent.uninstall("1.0.0");
    assert.equal(r.ok, true, "uninstall errors are swallowed");
    assert.equal(r.error?.code, 1000);
    assert.deepEqual(calls(probe).slice(2), ["1.0.0 disable", "1.0.0 disable", "1.0.0 uninstall"]);
    assert.ok(!existsSync(agent.baseDir("1.0.0")));
  });

  test("enable of a new goal state runs enable only, with UNINSTALL_CMD_EXIT_CODE NOT_RUN", async () => {
    const { agent, probe } = newAgent();
    agent.setup({ dir: makeFakeExtension("1.0.0") }, { seq: 0, settings: { publicSettings: {} } });
    await agent.firstInstall("1.0.0");
    agent.writeSettings(1, { publicSettings: { b: 2 } });
    const r = await agent.enable("1.0.0");
    assert.equal(r.ok, true);
    assert.deepEqual(calls(probe).slice(2), ["1.0.0 enable"]);
    assert.equal(readEnv(probe, "1.0.0", "enable").ConfigSequenceNumber, "1");
    assert.equal(agent.readStatus("1.0.0").status, "success");
  });
});
