// omsagent-shim beyond the preflight basics (test/package.test.ts): what it answers with shell builtins, the
// SSE4.2 check, the CPU and libc checks running once per boot, the status it leaves when the runtime cannot
// start, the BUN_ scrub, the runtime's exec bit and the open-file limit children inherit. Each test runs under
// every POSIX shell the supported distributions use as /bin/sh (dash on Debian/Ubuntu, bash on RHEL/SLES) that
// this machine has, bash both by name and as `sh` (POSIX mode, as /bin/sh runs it).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { renderStatus } from "../src/handler/status.ts";
import { shippedRuntime } from "../scripts/runtime.ts";
import { REPO_ROOT } from "../scripts/stage.ts";

const SHIM = join(REPO_ROOT, "handler", "omsagent-shim");
const SHELLS = ["/bin/dash", "/bin/bash"].filter((shell) => existsSync(shell));
const NAME = "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux";

const temps: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

const BOOT_ID = "5f3c1d2e-8a4b-4c6d-9e0f-1a2b3c4d5e6f";
const X86_CPUINFO = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vme de pse tsc msr pae lm sse4_1 sse4_2 popcnt\nbugs\t\t: spectre_v1\n";
const GLIBC_MAP = (libc: string) =>
  [
    "5581e3a00000-5581e3a04000 r--p 00000000 08:01 131 /usr/bin/dash",
    `7f1c2a000000-7f1c2a028000 r--p 00000000 08:01 2490 ${libc}`,
    "7f1c2a3f0000-7f1c2a3f2000 r--p 00000000 08:01 2471 /usr/lib64/ld-2.17.so",
    "",
  ].join("\n");

/**
 * An extension directory as the guest agent unpacks it: the shim, bin/handler (a shell script standing in for the
 * compiled handler unless `realRuntime`, with which it runs that script on the pinned Bun), HandlerEnvironment.json
 * pointing at config/status folders beside it, a fake /proc (cpuinfo, self/maps, and sys/kernel/random/boot_id
 * unless `bootId` is null), and a bin/ of programs that record that they ran.
 */
function extension(
  options: {
    cpuinfo?: string;
    maps?: string;
    bootId?: string | null;
    runtimeMode?: number;
    /** The fake runtime's script body (default: it echoes its arguments). */
    fakeRuntime?: string;
    realRuntime?: string;
    chmodWorks?: boolean;
    settings?: number[];
  } = {},
) {
  const root = tempDir("shim-");
  const ext = join(root, "ext");
  mkdirSync(join(ext, "bin"), { recursive: true });
  copyFileSync(SHIM, join(ext, "omsagent-shim"));
  if (options.realRuntime) {
    writeFileSync(join(root, "handler.mjs"), options.realRuntime);
    writeFileSync(join(ext, "bin", "handler"), `#!/bin/sh\nexec '${shippedRuntime().binPath}' '${join(root, "handler.mjs")}' "$@"\n`, { mode: 0o755 });
  } else {
    writeFileSync(join(ext, "bin", "handler"), `#!/bin/sh\n${options.fakeRuntime ?? 'echo "handler ran: $0 $*"'}\n`, { mode: options.runtimeMode ?? 0o755 });
  }
  const config = join(root, "config");
  mkdirSync(config);
  for (const n of options.settings ?? []) writeFileSync(join(config, `${n}.settings`), "{}");
  const status = join(root, "status");
  writeFileSync(
    join(root, "HandlerEnvironment.json"), // one level above, as the guest agent writes it
    JSON.stringify([{ name: NAME, version: 1, handlerEnvironment: { logFolder: join(root, "log"), configFolder: config, statusFolder: status } }]),
  );
  const proc = join(root, "proc");
  mkdirSync(join(proc, "self"), { recursive: true });
  writeFileSync(join(proc, "cpuinfo"), options.cpuinfo ?? X86_CPUINFO);
  writeFileSync(join(proc, "self", "maps"), options.maps ?? GLIBC_MAP("/usr/lib64/libc-2.17.so"));
  mkdirSync(join(proc, "sys", "kernel", "random"), { recursive: true });
  if (options.bootId !== null) writeFileSync(join(proc, "sys", "kernel", "random", "boot_id"), `${options.bootId ?? BOOT_ID}\n`);
  // Programs the shim must not need on a healthy machine: each leaves a mark, then does the real thing.
  const tools = join(root, "tools");
  const marks = join(root, "marks");
  mkdirSync(tools);
  for (const tool of ["dirname", "uname", "getconf", "env", "sed", "date", "mkdir", "mv", "dd", "rm"]) {
    writeFileSync(join(tools, tool), `#!/bin/sh\necho ${tool} >>'${marks}'\nPATH='${process.env.PATH}' exec ${tool} "$@"\n`, { mode: 0o755 });
  }
  writeFileSync(
    join(tools, "chmod"),
    `#!/bin/sh\necho chmod >>'${marks}'\n${options.chmodWorks === false ? "exit 1" : `PATH='${process.env.PATH}' exec chmod "$@"`}\n`,
    {
      mode: 0o755,
    },
  );
  return {
    ext,
    status,
    proc,
    /** Where the shim records the boot its CPU and libc checks passed on. */
    record: join(ext, ".preflight-passed"),
    run(shell: string, args: string[], env: Record<string, string> = {}) {
      rmSync(marks, { force: true });
      const r = spawnSync(shell, [join(ext, "omsagent-shim"), ...args], {
        encoding: "utf8",
        env: { PATH: `${tools}:${process.env.PATH}`, OMS_HANDLER_PROC: proc, ...env },
      });
      const ran = existsSync(marks) ? readFileSync(marks, "utf8").split("\n").filter(Boolean) : [];
      return { status: r.status, stdout: r.stdout, stderr: r.stderr, stderrLines: r.stderr.split("\n").filter(Boolean), ran };
    },
  };
}

function readStatus(file: string): { timestampUTC: string; status: unknown } {
  const [entry] = JSON.parse(readFileSync(file, "utf8")) as Array<{ timestampUTC: string; status: unknown }>;
  return entry!;
}

/** The status the handler itself would write for this failure (src/handler/status.ts), timestamp aside. */
function handlerStatus(operation: string, code: number, message: string): unknown {
  const [entry] = JSON.parse(renderStatus(NAME, { operation, status: "error", code, message })) as Array<{ status: unknown }>;
  return entry!.status;
}

/** bash started as `sh`, as RHEL's and SLES's /bin/sh starts it: in POSIX mode, unlike /bin/bash by name. */
function bashAsSh(): string {
  const sh = join(tempDir("bash-as-sh-"), "sh");
  symlinkSync("/bin/bash", sh);
  return sh;
}

for (const [label, shell] of [...SHELLS.map((s) => [s, s]), ...(SHELLS.includes("/bin/bash") ? [["/bin/bash as sh", bashAsSh()]] : [])] as Array<
  [string, string]
>) {
  describe(`omsagent-shim under ${label}`, () => {
    test("a healthy machine: builtins answer every check, no program runs before the runtime", () => {
      const e = extension();
      const r = e.run(shell, ["enable", "two words"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `handler ran: ${e.ext}/bin/handler enable two words\n`);
      assert.deepEqual(r.ran, []);
      assert.equal(existsSync(e.status), false, "no status from the shim when the runtime starts");
    });

    test("the real /proc of this machine also needs no program, and its boot id is recorded", { skip: process.arch !== "x64" }, () => {
      const e = extension();
      for (let run = 0; run < 2; run++) {
        const r = e.run(shell, ["enable"], { OMS_HANDLER_PROC: "/proc" });
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.ran, []);
        assert.equal(readFileSync(e.record, "utf8"), readFileSync("/proc/sys/kernel/random/boot_id", "utf8"));
      }
    });

    test("a CPU without SSE4.2 → exit 51, one line naming it, and an error status in the handler's format", () => {
      const e = extension({ cpuinfo: X86_CPUINFO.replace(" sse4_2", ""), settings: [3, 12, 7] });
      const r = e.run(shell, ["enable"]);
      assert.equal(r.status, 51);
      assert.equal(r.stderrLines.length, 1, r.stderr);
      assert.match(r.stderrLines[0]!, /^OmsAgentForLinux: the CPU has no SSE4\.2 .*Nehalem.* \(exit 51\)$/);
      assert.equal(r.stdout, "");
      const written = readStatus(join(e.status, "12.status")); // the highest N.settings, as the handler picks it
      assert.match(written.timestampUTC, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.deepEqual(
        written.status,
        handlerStatus(
          "Enable",
          51,
          "Enable failed (51 UnsupportedArchitecture): the CPU has no SSE4.2 (its flags in /proc/cpuinfo lack sse4_2) — " +
            "the handler's runtime needs an x86-64 CPU with SSE4.2 (Intel Nehalem, AMD Bulldozer or later): move the VM to another size",
        ),
      );
      assert.equal(statSync(join(e.status, "12.status")).mode & 0o777, 0o644);
    });

    test("ConfigSequenceNumber names the status file; glibc too old from the shell's own map → 51 and a status", () => {
      const e = extension({ maps: GLIBC_MAP("/lib64/libc-2.12.so"), settings: [4] });
      const r = e.run(shell, ["install"], { ConfigSequenceNumber: "9" });
      assert.equal(r.status, 51);
      assert.equal(r.stderrLines.length, 1, r.stderr);
      assert.match(r.stderrLines[0]!, /glibc 2\.12 is too old: the handler needs glibc 2\.17 or newer/);
      assert.ok(!r.ran.includes("getconf"), "the map answered");
      assert.equal((readStatus(join(e.status, "9.status")).status as { code: number }).code, 51);
      assert.equal(existsSync(join(e.status, "4.status")), false);
    });

    test("glibc from the map: 2.17 and 2.31 by file name, 2.34+ by libc.so.6, pass without getconf", () => {
      for (const libc of ["/usr/lib64/libc-2.17.so", "/lib/x86_64-linux-gnu/libc-2.31.so", "/usr/lib/x86_64-linux-gnu/libc.so.6"]) {
        const r = extension({ maps: GLIBC_MAP(libc) }).run(shell, ["enable"]);
        assert.equal(r.status, 0, `${libc}: ${r.stderr}`);
        assert.deepEqual(r.ran, [], libc);
      }
    });

    test("doctor and unknown operations get the line and the code, but no status (no operation to report)", () => {
      const e = extension({ cpuinfo: X86_CPUINFO.replace(" sse4_2", "") });
      for (const args of [["doctor"], []]) {
        const r = e.run(shell, args);
        assert.equal(r.status, 51);
        assert.equal(existsSync(e.status), false);
      }
    });

    // Machines that would fail each check, once the first run on this boot has passed them.
    const NO_SSE42 = X86_CPUINFO.replace(" sse4_2", "");
    const OLD_GLIBC = GLIBC_MAP("/lib64/libc-2.12.so");
    const setBoot = (e: ReturnType<typeof extension>, id: string) => writeFileSync(join(e.proc, "sys", "kernel", "random", "boot_id"), `${id}\n`);
    const breakMachine = (e: ReturnType<typeof extension>, what: { cpuinfo?: string; maps?: string }) => {
      if (what.cpuinfo !== undefined) writeFileSync(join(e.proc, "cpuinfo"), what.cpuinfo);
      if (what.maps !== undefined) writeFileSync(join(e.proc, "self", "maps"), what.maps);
    };

    test("a second run on the same boot skips the CPU and libc checks: it starts the runtime where they would fail", () => {
      const e = extension();
      const first = e.run(shell, ["enable"]);
      assert.equal(first.status, 0, first.stderr);
      assert.equal(readFileSync(e.record, "utf8"), `${BOOT_ID}\n`);
      // Neither an x86-64 flags line (uname would be asked, and say so in the marks) nor a libc the map names.
      breakMachine(e, { cpuinfo: "processor\t: 0\nFeatures\t: fp asimd\n", maps: OLD_GLIBC });
      for (const operation of ["enable", "disable"]) {
        const r = e.run(shell, [operation]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, `handler ran: ${e.ext}/bin/handler ${operation}\n`);
        assert.deepEqual(r.ran, [], "no uname, no getconf: nothing was checked");
      }
      assert.equal(existsSync(e.status), false);
    });

    test("a new boot checks again: a CPU without SSE4.2 → 51 and a status; the record moves to the new boot only once the checks pass", () => {
      const e = extension({ settings: [5] });
      assert.equal(e.run(shell, ["enable"]).status, 0);
      const NEXT_BOOT = "0a9b8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d";
      setBoot(e, NEXT_BOOT); // deallocated and started on a host with an older CPU
      breakMachine(e, { cpuinfo: NO_SSE42 });
      const r = e.run(shell, ["enable"]);
      assert.equal(r.status, 51);
      assert.match(r.stderr, /the CPU has no SSE4\.2/);
      assert.equal((readStatus(join(e.status, "5.status")).status as { code: number }).code, 51);
      assert.equal(readFileSync(e.record, "utf8"), `${BOOT_ID}\n`, "a failing check records nothing");
      assert.equal(e.run(shell, ["enable"]).status, 51, "and the next run on that boot checks again");
      breakMachine(e, { cpuinfo: X86_CPUINFO }); // resized back
      setBoot(e, BOOT_ID.replace("5f3c", "7777"));
      assert.equal(e.run(shell, ["enable"]).status, 0);
      assert.equal(readFileSync(e.record, "utf8"), `${BOOT_ID.replace("5f3c", "7777")}\n`);
    });

    test("a failing check writes no record, for the CPU and for the libc; the first passing run does", () => {
      for (const broken of [{ cpuinfo: NO_SSE42 }, { maps: OLD_GLIBC }]) {
        const e = extension(broken);
        assert.equal(e.run(shell, ["enable"]).status, 51);
        assert.equal(existsSync(e.record), false, JSON.stringify(broken));
        breakMachine(e, { cpuinfo: X86_CPUINFO, maps: GLIBC_MAP("/usr/lib64/libc-2.17.so") });
        assert.equal(e.run(shell, ["enable"]).status, 0);
        assert.equal(readFileSync(e.record, "utf8"), `${BOOT_ID}\n`);
      }
    });

    test("a missing, garbled or unwritable record, or no boot id, means checking; only this boot's id skips", () => {
      const e = extension({ cpuinfo: NO_SSE42 });
      const checks = (what: string) => {
        const r = e.run(shell, ["enable"]);
        assert.equal(r.status, 51, `${what}: the checks ran`);
        assert.equal(r.stderrLines.length, 1, `${what}: ${r.stderr}`); // only the check's line, nothing about the record
      };
      checks("no record");
      for (const garbled of ["", "\n", BOOT_ID.slice(0, 20), `${BOOT_ID.slice(0, -1)}\n`, `${BOOT_ID}x\n`, ` ${BOOT_ID}\n`, "\0".repeat(37)]) {
        writeFileSync(e.record, garbled);
        checks(JSON.stringify(garbled));
      }
      // Not a file the shim can read or write (as root, modes would not stop it): checked, and silently not recorded.
      rmSync(e.record);
      mkdirSync(e.record);
      breakMachine(e, { cpuinfo: X86_CPUINFO });
      const healthy = e.run(shell, ["enable"]);
      assert.equal(healthy.status, 0, healthy.stderr);
      assert.equal(healthy.stderr, "");
      breakMachine(e, { cpuinfo: NO_SSE42 });
      checks("unwritable record");
      rmSync(e.record, { recursive: true });
      // A boot id the kernel does not give (none, or not a UUID) records nothing, and a record holding it skips nothing.
      for (const bootId of [null, "", "not-a-boot-id", BOOT_ID.toUpperCase()]) {
        const f = extension({ bootId });
        assert.equal(f.run(shell, ["enable"]).status, 0);
        assert.equal(existsSync(f.record), false, String(bootId));
        writeFileSync(f.record, `${bootId ?? ""}\n`);
        breakMachine(f, { cpuinfo: NO_SSE42 });
        assert.equal(f.run(shell, ["enable"]).status, 51, String(bootId));
      }
      // The control: the same machine with this boot's id recorded skips the checks, so each case above checked
      // because of its record, not for some other reason.
      writeFileSync(e.record, `${BOOT_ID}\n`);
      const skipped = e.run(shell, ["enable"]);
      assert.equal(skipped.status, 0, skipped.stderr);
      writeFileSync(e.record, BOOT_ID); // a record cut short before its newline still holds the whole id
      assert.equal(e.run(shell, ["enable"]).status, 0);
    });

    test("a runtime without its exec bit: the shim restores it and runs", () => {
      const e = extension({ runtimeMode: 0o644 });
      const r = e.run(shell, ["enable"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^handler ran: /);
      assert.equal(statSync(join(e.ext, "bin", "handler")).mode & 0o100, 0o100);
    });

    test("a runtime that stays without its exec bit (noexec mount) → exit 52 and a status, never the shell's 126", () => {
      const e = extension({ runtimeMode: 0o644, chmodWorks: false });
      const r = e.run(shell, ["update"], { ConfigSequenceNumber: "2" });
      assert.equal(r.status, 52);
      assert.equal(r.stderrLines.length, 1, r.stderr);
      assert.match(r.stderrLines[0]!, /handler .*bin\/handler is not executable and chmod u\+x did not fix it: mount .* without noexec/);
      const written = readStatus(join(e.status, "2.status")).status as { operation: string; code: number; formattedMessage: { message: string } };
      assert.equal(written.operation, "Update");
      assert.equal(written.code, 52);
      assert.match(written.formattedMessage.message, /^Update failed \(52 PermissionDenied\): /);
    });

    test("every BUN_ variable is gone before the runtime starts, wherever it sits in the environment", () => {
      // The names the runtime got, one a line, from its own environ (a value holding a newline cannot fake one); its
      // pid's, as /proc/self/environ opened before an exec reads empty after it.
      const e = extension({ fakeRuntime: `tr '\\0' '\\n' </proc/$$/environ | sed -n 's/=.*//p' | grep BUN || true` });
      const cases: Array<{ env: Record<string, string>; kept: string[] }> = [
        { env: {}, kept: [] },
        { env: { BUN_OPTIONS: "--preload /tmp/x.mjs" }, kept: [] }, // the environment's last entry, no newline after it
        { env: { BUN_OPTIONS: "--smol", A: "1" }, kept: [] },
        // After a value with newlines, on the environ's second and third "lines" as `read` sees them.
        { env: { V: "line 1\nline 2\n", BUN_CONFIG_VERBOSE_FETCH: "curl", W: "x\ny", BUN_INSTALL: "/root/.bun" }, kept: [] },
        // Only names starting BUN_ go; one only in a value, or elsewhere in a name, stays.
        { env: { BUNX: "kept", XBUN_Y: "kept", V: "BUN_Z=not a variable", BUN_: "gone" }, kept: ["BUNX", "XBUN_Y"] },
      ];
      for (const { env, kept } of cases) {
        const r = e.run(shell, ["enable"], env);
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.stdout.split("\n").filter(Boolean).sort(), kept, JSON.stringify(env));
      }
    });

    test("the runtime and every child it starts get 1024 open files, soft and hard", { skip: process.arch !== "x64" }, () => {
      const handler = `import { execFileSync } from "node:child_process";
const limits = (text) => text.split("\\n").find((l) => l.startsWith("Max open files")).split(/ +/).slice(3, 5).join(" ");
process.stdout.write(JSON.stringify({
  own: limits(await Bun.file("/proc/self/limits").text()),
  child: limits(execFileSync("cat", ["/proc/self/limits"], { encoding: "utf8" })),
  bunVariables: Object.keys(process.env).filter((k) => k.startsWith("BUN_")),
}));
`;
      const e = extension({ realRuntime: handler, maps: GLIBC_MAP("/usr/lib/x86_64-linux-gnu/libc.so.6") });
      const r = e.run(shell, ["enable"], { BUN_OPTIONS: "--smol", BUN_CONFIG_NO_CLEAR_TERMINAL_ON_RELOAD: "1", BUNX: "kept" });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { own: "1024 1024", child: "1024 1024", bunVariables: [] });
    });
  });
}
