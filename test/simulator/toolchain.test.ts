// Tests of the simulated OMS toolchain (simulator/): the fake shell bundle and the omsadmin.sh and
// service_control it installs. Everything runs inside temp roots; see simulator/README.md.
import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  SIM_BUNDLE_PATH,
  installedPackages,
  makeSimRoot,
  readCalls,
  removeSimRoot,
  serviceState,
  setFault,
  simPaths,
  unquoteWords,
  type FaultPoint,
} from "../../simulator/oms/sim.ts";
import { BUNDLE_TRAILER, FAULT_POINTS, HANG_LINES, SCENARIOS, renderScenarioTable, type FaultScenario, type Line, type Tool } from "./scenarios.ts";

const SIM_DIR = dirname(SIM_BUNDLE_PATH);
const SRC_DIR = join(SIM_DIR, "src");
const WS = "0123abcd-0000-4000-8000-00000000abcd";
const WS2 = "fedcba98-7654-4321-8000-123456789abc";
const KEY = "c2ltdWxhdGVkLXdvcmtzcGFjZS1rZXk+Pz8hJCcmKCk="; // has shell-special chars when decoded; never printed
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

const roots: string[] = [];
function newRoot(): string {
  const r = makeSimRoot("omssim-test-");
  roots.push(r);
  return r;
}
after(() => {
  for (const r of roots) removeSimRoot(r);
});

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  root?: string | null;
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
}

/** Runs argv with a minimal environment: PATH, LC_ALL=C and OMS_HANDLER_ROOT=root (unless root is null). */
function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", LC_ALL: "C" };
  if (opts.root) env.OMS_HANDLER_ROOT = opts.root;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 20_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.on("error", () => {}); // the tool may exit without reading stdin
    child.stdin.end(opts.input ?? "");
  });
}

const bundle = (root: string, ...args: string[]) => run([SIM_BUNDLE_PATH, ...args], { root });
const omsadmin = (root: string, ...args: string[]) => run([simPaths(root).omsadmin, ...args], { root });
const serviceControl = (root: string, ...args: string[]) => run([simPaths(root).serviceControl, ...args], { root });

async function installedRoot(...extra: string[]): Promise<string> {
  const root = newRoot();
  const r = await bundle(root, "--upgrade", ...extra);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return root;
}

/** What the handler does: a single-quoted onboard file, then omsadmin.sh with no arguments. */
function writeOnboardConf(root: string, vars: Record<string, string>): void {
  const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  const text = Object.entries(vars)
    .map(([k, v]) => `${k}=${q(v)}\n`)
    .join("");
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(simPaths(root).onboardConf, text, { mode: 0o600 });
}

function bundleTrailer(code: number): string {
  return BUNDLE_TRAILER.map((l) => l.replace("<code>", String(code))).join("\n") + "\n";
}

function commandExists(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

function pgidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// --------------------------------------------------------------------------------------------
describe("build and syntax", () => {
  test("the build produced the bundle from its sources (simulator/oms/build-bundle.sh, run by scripts/build.mjs)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "omssim-build-"));
    try {
      const out = join(dir, "bundle.sh");
      const r = await run(["sh", join(SIM_DIR, "build-bundle.sh"), out], { root: null });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(readFileSync(out).equals(readFileSync(SIM_BUNDLE_PATH)), "simulator/oms/omsagent-0.0.0-sim.universal.x64.sh is stale: run npm run build");
      assert.ok(statSync(SIM_BUNDLE_PATH).mode & 0o111, "bundle must be executable");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("every script passes sh -n (and dash -n / bash -n when available) and starts with #!/bin/sh", async () => {
    const root = await installedRoot();
    const files = [
      SIM_BUNDLE_PATH,
      ...readdirSync(SRC_DIR).map((f) => join(SRC_DIR, f)),
      join(SIM_DIR, "build-bundle.sh"),
      simPaths(root).omsadmin,
      simPaths(root).serviceControl,
    ];
    const shells = ["sh", ...["dash", "bash"].filter(commandExists)];
    for (const f of files) {
      for (const sh of shells) {
        const r = spawnSync(sh, ["-n", f], { encoding: "utf8" });
        assert.equal(r.status, 0, `${sh} -n ${f}: ${r.stderr}`);
      }
      if (!f.endsWith("simlib.sh")) assert.match(readFileSync(f, "utf8"), /^#!\/bin\/sh\n/, f);
    }
  });

  test("no bash-isms in the sources", () => {
    const bad: [RegExp, string][] = [
      [/(^|[\s;])\[\[\s/, "[["],
      [/^\s*local\s/m, "local"],
      [/\becho -e\b/, "echo -e"],
      [/\bfunction\s+\w+/, "function keyword"],
      [/\$\{[^}]*\/\/[^}]*\}/, "${var//}"],
      [/\$\{[^}]*:[0-9]+[^}]*\}/, "${var:n}"],
      [/<<</, "<<<"],
      [/\bsource\s/, "source"],
      [/&>/, "&>"],
      [/\[ [^\]]* == /, "=="],
      [/\bdeclare\b|\breadarray\b|\bmapfile\b/, "declare/readarray"],
      [/(^|[\s=(])\$'/, "$'...'"],
    ];
    for (const f of readdirSync(SRC_DIR)) {
      const text = readFileSync(join(SRC_DIR, f), "utf8")
        .split("\n")
        .filter((l) => !l.trim().startsWith("#") && !/^\s*echo /.test(l))
        .join("\n");
      for (const [re, what] of bad) assert.ok(!re.test(text), `${f} uses ${what}: ${re.exec(text)?.[0]}`);
    }
  });

  test("no command in the sources writes to a system path outside $ROOT", () => {
    for (const f of readdirSync(SRC_DIR)) {
      readFileSync(join(SRC_DIR, f), "utf8")
        .split("\n")
        .forEach((line, i) => {
          const code = line.replace(/^\s*#.*$/, "");
          const where = `${f}:${i + 1}: ${line.trim()}`;
          assert.doesNotMatch(code, /\b(rm|rmdir|mkdir|mv|cp|ln|touch|chmod|chown|tee)\b[^#"]*\s\/(etc|opt|var|usr|lib|tmp|root|home)\b/, where);
          assert.doesNotMatch(code, />>?\s*"?\/(etc|opt|var|usr|lib|root|home)\//, where);
        });
    }
  });
});

// --------------------------------------------------------------------------------------------
describe("re-rooting", () => {
  test("the bundle refuses to run without a usable OMS_HANDLER_ROOT, exit 30, touching nothing", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "omssim-cwd-"));
    roots.push(cwd);
    const notDir = join(cwd, "file");
    writeFileSync(notDir, "x");
    const cases: [string | undefined, RegExp][] = [
      [undefined, /OMS_HANDLER_ROOT is not set/],
      ["", /OMS_HANDLER_ROOT is not set/],
      ["/", /must not be \//],
      ["//", /must not be \//],
      ["/tmp/..", /must not be \//],
      ["relative/dir", /must be an absolute path/],
      [join(cwd, "does-not-exist"), /is not an existing directory/],
      [notDir, /is not an existing directory/],
    ];
    for (const [value, re] of cases) {
      const r = await run([SIM_BUNDLE_PATH, "--upgrade"], { root: null, env: { OMS_HANDLER_ROOT: value }, cwd });
      assert.equal(r.code, 30, `OMS_HANDLER_ROOT=${value}`);
      assert.match(r.stderr, re);
      assert.match(r.stderr, /refusing to run/);
      assert.equal(r.stdout, bundleTrailer(30));
    }
    assert.deepEqual(readdirSync(cwd), ["file"]);
    assert.equal(existsSync(join(cwd, "does-not-exist")), false);
  });

  test("installed tools use the root baked in at install time and refuse a different OMS_HANDLER_ROOT", async () => {
    const root = await installedRoot();
    const other = newRoot();
    const p = simPaths(root);
    // No env var: the baked root is used.
    let r = await run([p.omsadmin, "-l"], { root: null });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "No Workspace\n");
    assert.equal(readCalls(root).at(-1)?.line, "omsadmin -l\tLC_ALL=C");
    // Same root (even spelled differently) is accepted.
    r = await run([p.serviceControl, "is-running", WS], { root: `${root}/./` });
    assert.equal(r.code, 1); // no config: the real tool's "running" answer
    // A different root is refused.
    for (const tool of [p.omsadmin, p.serviceControl]) {
      r = await run([tool, "-l"], { root: other });
      assert.equal(r.code, 30);
      assert.match(r.stderr, /refusing to run: OMS_HANDLER_ROOT=.* differs from the root this copy was installed into/);
    }
    assert.equal(existsSync(simPaths(other).callsLog), false);
    // A root that disappeared is refused.
    const moved = `${root}-gone`;
    const copyOfTool = join(other, "omsadmin.sh");
    copyFileSync(p.omsadmin, copyOfTool);
    rmSync(root, { recursive: true });
    r = await run([copyOfTool, "-l"], { root: null });
    assert.equal(r.code, 30);
    assert.match(r.stderr, /no longer usable/);
    assert.equal(existsSync(moved), false);
  });

  test("the tools work with a bare environment (no PATH, no LC_ALL): the bundle sets its own PATH", async () => {
    const root = newRoot();
    const bare = { PATH: undefined, LC_ALL: undefined };
    let r = await run([SIM_BUNDLE_PATH, "--upgrade"], { root, env: bare });
    assert.equal(r.code, 0, r.stderr);
    writeOnboardConf(root, { WORKSPACE_ID: WS, SHARED_KEY: KEY });
    r = await run([simPaths(root).omsadmin], { root: null, env: bare });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    r = await run([simPaths(root).serviceControl, "disable"], { root: null, env: bare });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      readCalls(root).map((c) => c.lcAll),
      [null, null, null],
    );
  });

  test("the bundle works when copied alone into another directory (like <extensionDir>/packages/)", async () => {
    const root = newRoot();
    const ext = mkdtempSync(join(tmpdir(), "omssim-ext-"));
    roots.push(ext);
    mkdirSync(join(ext, "packages"));
    const copy = join(ext, "packages", "omsagent-0.0.0-sim.universal.x64.sh");
    copyFileSync(SIM_BUNDLE_PATH, copy);
    const r = await run(["/bin/sh", copy, "--upgrade"], { root, cwd: ext });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(simPaths(root).omsadmin));
    assert.deepEqual(readdirSync(ext), ["packages"]);
    assert.deepEqual(readdirSync(join(ext, "packages")), ["omsagent-0.0.0-sim.universal.x64.sh"]);
  });
});

// --------------------------------------------------------------------------------------------
const interpreters: (string | null)[] = [null, ...["dash", "bash"].filter(commandExists)];

describe("lifecycle", () => {
  for (const interp of interpreters) {
    const label = interp ?? "shebang (/bin/sh)";
    test(`install → onboard from the conf file → -l → disable → is-running → --remove (${label})`, async () => {
      const root = newRoot();
      const p = simPaths(root);
      const via = (script: string, ...args: string[]) => run(interp ? [interp, script, ...args] : [script, ...args], { root });

      let r = await via(SIM_BUNDLE_PATH, "--upgrade");
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      for (const line of [
        "Checking for ctypes python module...",
        "----- Upgrading package: omi (omi-1.7.1-0.ssl_110.ulinux.x64) -----",
        "----- Upgrading package: omsagent (omsagent-0.0.0-sim.universal.x64) -----",
        "----- Upgrading package: docker-cimprov (docker-cimprov-1.0.0-0.universal.x86_64) -----",
      ]) {
        assert.ok(r.stdout.split("\n").includes(line), line);
      }
      assert.ok(r.stdout.endsWith(bundleTrailer(0)));
      for (const f of [p.omsadmin, p.serviceControl]) assert.ok(statSync(f).mode & 0o100, `${f} executable`);
      assert.ok(existsSync(join(root, "opt/omi/bin/omiserver")));
      assert.ok(existsSync(p.cron));
      assert.deepEqual(installedPackages(root), {
        omi: "1.7.1-0",
        scx: "1.7.1-0",
        omsagent: "0.0.0-sim",
        omsconfig: "1.2.0-0",
        "docker-cimprov": "1.0.0-0",
      });

      writeOnboardConf(root, {
        WORKSPACE_ID: WS,
        SHARED_KEY: KEY,
        URL_TLD: "opinsights.azure.us",
        PROXY: "http://user:p@ss w$rd@proxy.example:3128",
        // No parenthesis or blank: omsadmin.conf is written unquoted and service_control sources it as shell.
        AZURE_RESOURCE_ID: "/subscriptions/s/resourceGroups/rg_1/providers/Microsoft.Compute/virtualMachines/vm1",
      });
      r = await via(p.omsadmin);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.ok(r.stdout.includes("-e info\tOnboarding success\n"));
      assert.match(r.stdout, /^-e info\tReading onboarding params from: /);
      assert.ok(!r.stdout.includes(KEY) && !r.stderr.includes(KEY), "key printed");
      assert.ok(!r.stdout.includes("p@ss") && !r.stderr.includes("p@ss"), "proxy password printed");
      assert.equal(existsSync(p.onboardConf), false, "omsadmin removes the onboard file after success, like the real one");

      const conf = readFileSync(p.omsadminConf(WS), "utf8");
      assert.match(conf, new RegExp(`^WORKSPACE_ID=${WS}$`, "m"));
      assert.match(conf, /^AGENT_GUID=[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/m);
      assert.match(conf, /^URL_TLD=opinsights\.azure\.us$/m);
      assert.match(conf, /^AZURE_RESOURCE_ID=\/subscriptions\/s\/resourceGroups\/rg_1\/providers\/Microsoft\.Compute\/virtualMachines\/vm1$/m);
      assert.match(conf, new RegExp(`^OMS_ENDPOINT=https://${WS}\\.ods\\.opinsights\\.azure\\.us/OperationalData\\.svc/PostJsonDataItems$`, "m"));
      for (const d of ["certs/oms.crt", "certs/oms.key"]) assert.ok(existsSync(join(p.workspaceEtc(WS), d)), d);
      for (const d of ["log", "run", "state", "tmp"]) assert.ok(statSync(join(p.workspaceVar(WS), d)).isDirectory(), d);
      assert.equal(statSync(p.proxyConf).mode & 0o777, 0o600);
      assert.equal(readFileSync(p.proxyConf, "utf8"), "http://user:p@ss w$rd@proxy.example:3128");
      assert.equal(readFileSync(p.onboardedKeyHash, "utf8").trim(), sha256(KEY));
      assert.equal(serviceState(root, WS), "running");
      assert.equal(readlinkSync(join(p.etcOmsagent, "conf")), join(p.workspaceEtc(WS), "conf"));

      r = await via(p.omsadmin, "-l");
      assert.equal(r.code, 0);
      assert.equal(r.stdout, `Primary Workspace: ${WS}    Status: Onboarded(OMSAgent Running)\n`);

      r = await via(p.serviceControl, "is-running", WS);
      assert.equal(r.code, 1, "1 = running");
      r = await via(p.serviceControl, "disable");
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `INFO:  Unconfiguring OMS agent (systemd) service ${WS} ...\n`);
      assert.equal(serviceState(root, WS), "disabled");
      r = await via(p.serviceControl, "is-running", WS);
      assert.equal(r.code, 0, "0 = not running");
      r = await via(p.omsadmin, "-l");
      assert.equal(r.stdout, `Primary Workspace: ${WS}    Status: Saved(OMSAgent Not Registered, Workspace Configuration Saved)\n`);

      r = await via(SIM_BUNDLE_PATH, "--remove");
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stdout.includes("----- Removing package: omsagent -----\n"));
      assert.equal(existsSync(p.omsadmin), false);
      assert.equal(existsSync(p.serviceControl), false);
      assert.equal(existsSync(p.cron), false);
      assert.equal(existsSync(join(root, "opt/omi")), false);
      assert.deepEqual(installedPackages(root), {});
      assert.ok(existsSync(p.omsadminConf(WS)), "--remove keeps workspace config");
      assert.ok(existsSync(p.workspaceVar(WS)), "--remove keeps workspace var dir");

      assert.deepEqual(
        readCalls(root).map((c) => [c.tool, c.args, c.lcAll]),
        [
          ["bundle", ["--upgrade"], "C"],
          ["omsadmin", [], "C"],
          ["omsadmin", ["-l"], "C"],
          ["service_control", ["is-running", WS], "C"],
          ["service_control", ["disable"], "C"],
          ["service_control", ["is-running", WS], "C"],
          ["omsadmin", ["-l"], "C"],
          ["bundle", ["--remove"], "C"],
        ],
      );
      assert.ok(!readFileSync(p.callsLog, "utf8").includes(KEY));
    });
  }

  test("AGENT_GUID survives re-onboarding, bundle upgrade, and --remove + --upgrade; a new one after purge", async () => {
    const root = await installedRoot();
    const p = simPaths(root);
    const guid = () => /^AGENT_GUID=(.*)$/m.exec(readFileSync(p.omsadminConf(WS), "utf8"))![1];

    let r = await omsadmin(root, "-w", WS, "-s", KEY);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /-e info\tGenerating certificate \.\.\./);
    const first = guid();

    // Running + primary: the real tool does nothing at all.
    r = await omsadmin(root, "-w", WS, "-s", KEY);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `Workspace ${WS} already onboarded and agent is running.\n`);

    // Stopped: onboards again, same GUID.
    await serviceControl(root, "stop", WS);
    r = await omsadmin(root, "-w", WS, "-s", KEY);
    assert.equal(r.code, 0);
    assert.ok(r.stdout.includes(`-e info\tReusing previous agent GUID ${first}\n`), r.stdout);
    assert.equal(guid(), first);

    // Extension update: upgrade over the install keeps the config.
    r = await bundle(root, "--upgrade");
    assert.equal(r.code, 0);
    assert.ok(r.stdout.includes("Skipping package since existing version >= version available\n"));
    assert.equal(guid(), first);
    r = await bundle(root, "--upgrade", "--force");
    assert.equal(r.code, 0);
    assert.equal(guid(), first);

    // Uninstall (packages only) + reinstall + re-onboard: same GUID.
    assert.equal((await bundle(root, "--remove")).code, 0);
    assert.equal(serviceState(root, WS), "disabled");
    assert.equal((await bundle(root, "--upgrade")).code, 0);
    r = await omsadmin(root, "-w", WS, "-s", KEY);
    assert.equal(r.code, 0, r.stdout);
    assert.ok(r.stdout.includes(`Reusing previous agent GUID ${first}`), r.stdout);
    assert.equal(serviceState(root, WS), "running");

    // An empty omsadmin.conf is not trusted (real guard): new GUID.
    await serviceControl(root, "stop", WS);
    writeFileSync(p.omsadminConf(WS), "");
    r = await omsadmin(root, "-w", WS, "-s", KEY);
    assert.equal(r.code, 0);
    assert.notEqual(guid(), first);

    // Purge removes everything; the next onboarding gets a new identity.
    const second = guid();
    r = await bundle(root, "--purge");
    assert.equal(r.code, 0);
    assert.ok(r.stdout.includes("Purging all files in cross-platform agent ...\n"));
    assert.equal(existsSync(p.etcOmsagent), false);
    assert.equal(existsSync(p.varOmsagent), false);
    assert.equal((await bundle(root, "--upgrade")).code, 0);
    assert.equal((await omsadmin(root, "-w", WS, "-s", KEY)).code, 0);
    assert.notEqual(guid(), second);
  });

  test("--install, --skip-docker-provider-install, --enable-opsmgr, -o, USE_UPGRADE", async () => {
    const root = newRoot();
    const p = simPaths(root);
    let r = await bundle(root, "--install", "--skip-docker-provider-install");
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes("----- Installing package: omsagent (omsagent-0.0.0-sim.universal.x64) -----\n"));
    assert.ok(r.stdout.includes("Skipping docker provider (--skip-docker-provider-install)\n"));
    assert.equal(installedPackages(root)["docker-cimprov"], undefined);
    assert.equal((await omsadmin(root, "-o")).code, 1, "port 1270 closed by default");

    r = await bundle(root, "--install");
    assert.equal(r.code, 23);
    assert.match(r.stderr, /already installed\. Please run the\ninstaller with --upgrade/);

    r = await bundle(root, "--upgrade", "--enable-opsmgr");
    assert.equal(r.code, 0);
    assert.ok(existsSync(join(root, "etc/scxagent-enable-port")));
    assert.equal(installedPackages(root)["docker-cimprov"], "1.0.0-0");
    // omi was already installed (skipped), so the port opens with the next omi install.
    assert.equal((await bundle(root, "--upgrade", "--force")).code, 0);
    assert.match(readFileSync(p.omiServerConf, "utf8"), /^httpsport=0,1270$/m);
    assert.equal((await omsadmin(root, "-o")).code, 0, "port 1270 open");
  });

  test("bundle option parsing: version, help, conflicts, unknown options, onboarding options", async () => {
    const root = newRoot();
    let r = await bundle(root, "--version");
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "Version: 0.0.0-sim\n" + bundleTrailer(0));

    r = await bundle(root, "--help");
    assert.equal(r.code, 0);
    assert.match(r.stderr, /^usage: omsagent-0\.0\.0-sim\.universal\.x64\.sh \[OPTIONS\]\n/);
    for (const opt of [
      "--extract",
      "--force",
      "--install",
      "--purge",
      "--remove",
      "--noDigest",
      "--restart-deps",
      "--source-references",
      "--upgrade",
      "--skip-docker-provider-install",
      "--enable-opsmgr",
      "--version",
      "--version-check",
      "--debug",
      "--id",
      "--shared",
      "--domain",
      "--proxy",
      "--azure-resource",
      "--multi-homing-marker",
      "--help",
    ]) {
      assert.ok(r.stderr.includes(opt), opt);
    }
    for (const h of ["-h", "-?"]) assert.equal((await bundle(root, h)).code, 0);

    r = await bundle(root, "--upgrade", "--remove");
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `${SIM_BUNDLE_PATH}: Conflicting qualifiers, exiting\n`);
    r = await bundle(root, "--frobnicate");
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "Unknown argument: '--frobnicate'\nUse -h or --help for usage\n");
    r = await bundle(root);
    assert.equal(r.code, 3);
    assert.equal(r.stderr, `${SIM_BUNDLE_PATH}: No options specified, specify --help for help\n`);
    r = await bundle(root, "--upgrade", "-w", WS);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, "Must specify both workspace ID (--id) and key (--shared) to onboard\n");
    r = await bundle(root, "--upgrade", "-d", "opinsights.azure.cn");
    assert.equal(r.code, 2);
    r = await bundle(root, "--upgrade", "--id");
    assert.equal(r.code, 2);
    assert.match(r.stderr, /shift: can't shift that many/);
    r = await bundle(root, "--source-references");
    assert.equal(r.code, 0);
    assert.ok(r.stdout.startsWith("-- Source code references --\n"));
    assert.deepEqual(installedPackages(root), {}, "none of that installed anything");

    r = await bundle(root, "--version-check");
    assert.equal(r.code, 0);
    assert.ok(r.stdout.includes("omsagent       None           0.0.0-sim      Yes            \n"), r.stdout);

    r = await bundle(root, "--upgrade", "--noDigest", "--restart-deps", "--debug", "--force");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /^Starting shell debug mode\./);

    r = await bundle(root, "--extract");
    assert.equal(r.code, 0);
    const ex = readdirSync(join(root, ".omssim/extract"));
    assert.equal(ex.length, 1);
    assert.deepEqual(readdirSync(join(root, ".omssim/extract", ex[0]!)).sort(), ["omsadmin.sh", "service_control"]);

    // Real bundle onboarding options: writes the onboard file; the omsagent package's postinstall onboards.
    const root2 = newRoot();
    r = await bundle(root2, "--upgrade", "-w", WS2, "-s", KEY, "-d", "opinsights.azure.us", "-m", "secondary");
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes("-e info\tOnboarding success\n"));
    assert.ok(!r.stdout.includes(KEY));
    assert.equal(existsSync(simPaths(root2).onboardConf), false);
    assert.equal((await omsadmin(root2, "-l")).stdout, `Workspace(secondary): ${WS2}    Status: Onboarded(OMSAgent Running)\n`);
    assert.deepEqual(
      readCalls(root2).map((c) => c.tool),
      ["bundle", "omsadmin"],
      "internal calls are not recorded",
    );
  });

  test("omsadmin.sh: usage errors, validation, proxy, -x, -X, list statuses, secondaries", async () => {
    const root = await installedRoot();
    const p = simPaths(root);

    let r = await omsadmin(root);
    assert.equal(r.code, 2, "no args and no onboard file");
    assert.match(r.stdout, /^\nMaintenance tool for OMS:\n/);
    r = await omsadmin(root, "-h");
    assert.equal(r.code, 0);
    r = await omsadmin(root, "-w", WS, "-s", KEY, "leftover");
    assert.equal(r.code, 2);
    assert.match(r.stdout, /^-e error\tParsing error: 'leftover' is unparsed\n/);
    r = await omsadmin(root, "-a", "/subscriptions/x/resourceGroups/my rg", "-w", WS, "-s", KEY);
    assert.equal(r.code, 2, "arguments are word-split like the real script");
    r = await omsadmin(root, "-w", "not-a-guid", "-s", KEY);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, "-e error\tThe Workspace ID is not valid\n");
    r = await omsadmin(root, "-w", WS);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, "-e error\tMissing Workspace ID or Shared Key information for onboarding\n");
    writeOnboardConf(root, { WORKSPACE_ID: WS });
    r = await omsadmin(root);
    assert.equal(r.code, 3, "conf file without a key");
    assert.ok(existsSync(p.onboardConf), "kept after a failure");
    r = await omsadmin(root, "-u", "user");
    assert.equal(r.code, 4);
    assert.match(r.stdout, /Cannot specify the proxy user without specifying the proxy host/);
    rmSync(p.onboardConf);

    r = await run([p.omsadmin, "-w", WS, "-s", KEY, "-p", "http://proxy:3128", "-u", "bob", "-v"], { root, input: "s3cret\n" });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(!r.stdout.includes("s3cret") && !r.stdout.includes(KEY));
    assert.ok(r.stdout.includes("Shared key:        ********\n"));
    assert.equal(readFileSync(p.proxyConf, "utf8"), "bob:s3cret@http://proxy:3128");

    // Second workspace as secondary, then list.
    r = await omsadmin(root, "-w", WS2, "-s", KEY, "-m", "partner");
    assert.equal(r.code, 0, r.stdout);
    await serviceControl(root, "stop", WS2);
    r = await omsadmin(root, "-l");
    assert.equal(
      r.stdout,
      `Primary Workspace: ${WS}    Status: Onboarded(OMSAgent Running)\n` + `Workspace(partner): ${WS2}    Status: Warning(OMSAgent Registered, Not Running)\n`,
    );

    // SCOM pseudo-workspace.
    r = await omsadmin(root, "-w", "scom");
    assert.equal(r.code, 0);
    assert.ok(r.stdout.includes("Opening port 1270\n"));
    assert.equal((await omsadmin(root, "-o")).code, 0);
    r = await omsadmin(root, "-l");
    assert.ok(r.stdout.endsWith("Workspace(SCOM Workspace): scom    Status: Onboarded(OMSAgent Running)\n"), r.stdout);

    r = await omsadmin(root, "-x", WS2);
    assert.equal(r.code, 0);
    assert.ok(r.stdout.startsWith(`-e info\tDisable workspace: ${WS2}\n`), r.stdout);
    assert.equal(existsSync(p.workspaceEtc(WS2)), false);
    assert.equal(existsSync(p.workspaceVar(WS2)), false);
    assert.equal(serviceState(root, WS2), undefined);
    r = await omsadmin(root, "-x", WS2);
    assert.equal(r.code, 0);
    assert.ok(r.stdout.startsWith(`-e error\tWorkspace ${WS2} doesn't exist\n`));

    r = await omsadmin(root, "-X");
    assert.equal(r.code, 0);
    assert.equal(existsSync(p.workspaceEtc(WS)), false);
    assert.equal(existsSync(join(p.etcOmsagent, "scom")), false);
    assert.equal(existsSync(join(p.etcOmsagent, "conf")), false, "dangling primary symlinks removed");
    assert.equal((await omsadmin(root, "-l")).stdout, "No Workspace\n");
  });

  test("real quirks: is-running says 1 without config; a second primary onboarding is silently skipped", async () => {
    const root = await installedRoot();
    const p = simPaths(root);
    let r = await serviceControl(root, "is-running", WS2);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /omsadmin\.conf: No such file or directory/);

    assert.equal((await omsadmin(root, "-w", WS, "-s", KEY)).code, 0);
    r = await omsadmin(root, "-w", WS2, "-s", KEY);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `Workspace ${WS2} already onboarded and agent is running.\n`);
    assert.equal(existsSync(p.workspaceEtc(WS2)), false, "nothing was onboarded");

    // Removing the old workspace first makes it work.
    assert.equal((await omsadmin(root, "-x", WS)).code, 0);
    r = await omsadmin(root, "-w", WS2, "-s", KEY);
    assert.equal(r.code, 0);
    assert.ok(r.stdout.includes("-e info\tOnboarding success\n"));
    assert.equal((await omsadmin(root, "-l")).stdout, `Primary Workspace: ${WS2}    Status: Onboarded(OMSAgent Running)\n`);

    // Deleting the workspace dir by hand (what the legacy uninstall does) leaves the conf symlink dangling:
    // the next onboarding of the same workspace is skipped too (omsadmin.sh checks is-running first).
    rmSync(p.workspaceEtc(WS2), { recursive: true });
    r = await omsadmin(root, "-w", WS2, "-s", KEY);
    assert.equal(r.stdout, `Workspace ${WS2} already onboarded and agent is running.\n`);
    assert.ok(lstatSync(join(p.etcOmsagent, "conf")).isSymbolicLink());
  });

  test("service_control: commands, failure counts, unknown and missing commands", async () => {
    const root = await installedRoot();
    assert.equal((await omsadmin(root, "-w", WS, "-s", KEY)).code, 0);
    let r = await serviceControl(root, "stop", WS);
    assert.equal(r.code, 0);
    assert.equal(serviceState(root, WS), "stopped");
    assert.equal((await serviceControl(root, "start")).code, 0);
    assert.equal(serviceState(root, WS), "running");
    assert.equal((await serviceControl(root, "restart", WS)).code, 0);
    assert.equal((await serviceControl(root, "reload")).code, 0);
    assert.equal((await serviceControl(root, "disable", WS)).code, 0);
    assert.equal(serviceState(root, WS), "disabled");
    r = await serviceControl(root, "enable", WS);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `INFO:  Configuring OMS agent service ${WS} ...\n`);
    assert.equal(serviceState(root, WS), "stopped");
    r = await serviceControl(root, "find-systemd-dir");
    assert.equal(r.stdout, `${root}/lib/systemd/system\n`);

    // A workspace directory without configuration counts as a failure.
    mkdirSync(simPaths(root).workspaceEtc(WS2));
    r = await serviceControl(root, "disable");
    assert.equal(r.code, 1);
    assert.ok(r.stderr.endsWith(`ERROR:  disable_omsagent_service failed with result '1' on workspace ${WS2}.\n`), r.stderr);
    r = await serviceControl(root, "stop", WS2);
    assert.equal(r.code, 1);

    r = await serviceControl(root, "bogus");
    assert.equal(r.code, 72);
    assert.equal(r.stderr, "Unknown parameter : 'bogus'\n");
    assert.ok(r.stdout.endsWith("service_control exiting with code 72\n"));
    r = await serviceControl(root);
    assert.equal(r.code, 75);
    for (const h of ["-h", "help"]) {
      r = await serviceControl(root, h);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /USAGE: {2}.*service_control -h/);
    }
  });
});

// --------------------------------------------------------------------------------------------
describe("fault injection", () => {
  test("the README scenario table is current (rendered from test/simulator/scenarios.ts)", () => {
    const readme = readFileSync(join(SIM_DIR, "..", "README.md"), "utf8");
    assert.ok(readme.includes(renderScenarioTable()), "simulator/README.md table is stale: node --import tsx test/simulator/render-readme-table.ts");
  });

  test("every bundle, omsadmin and service_control code of the spec has a scenario", () => {
    const codes = (tool: Tool) => new Set(SCENARIOS.filter((s) => s.tool === tool).map((s) => s.code));
    for (const c of [2, 3, 4, 5, 6, 17, 18, 19, 20, 21, 22, 23, 30, 52, 55, 60, 61, 62, 63, 65, 66, 127]) assert.ok(codes("bundle").has(c), `bundle ${c}`);
    for (const c of [1, 2, 3, 4, 5, 6, 7, 8, 30, 31, 32, 33, 34, 60]) assert.ok(codes("omsadmin").has(c), `omsadmin ${c}`);
    for (const c of [1, 2, 21, 22, 30, 67, 68, 69, 72, 75, 77]) assert.ok(codes("service_control").has(c), `service_control ${c}`);
    const names = new Set(SCENARIOS.map((s) => `${s.tool}/${s.scenario}`));
    for (const n of [
      "bundle/17-dependencies",
      "bundle/17-dpkg-lock",
      "bundle/19-dpkg-lock",
      "bundle/17-oom",
      "bundle/17-triggers",
      "bundle/55-openssl",
      "bundle/55-curl",
      "bundle/60-python",
      "bundle/60-openssl",
      "bundle/127",
      "bundle/52-disk",
      "bundle/permission-denied",
      "omsadmin/5-key",
      "omsadmin/5-clock",
      "omsadmin/33-permission",
    ]) {
      assert.ok(names.has(n), n);
    }
    // The strings the Python handler's output rewriter keys on all occur somewhere.
    const all = SCENARIOS.flatMap((s) => s.out.map((l) => (typeof l === "string" ? l : l.err))).join("\n");
    for (const trigger of [
      "Failed dependencies:",
      "dpkg: error: dpkg frontend lock is locked by another process",
      "waiting for transaction lock",
      "Errors were encountered while processing:",
      "Cannot allocate memory",
      "rpmdb",
      "cannot open Packages database",
      "is locked by another process",
      "libpam-runtime is not installed",
      "Reason: InvalidWorkspaceKey",
      "Reason: MissingHeader",
      "internet connectivity",
      "Permission denied",
      "Error: curl was not installed",
      "Please install the ctypes package",
      "gpg is not installed",
      "is needed by",
    ]) {
      assert.ok(all.includes(trigger), trigger);
    }
  });

  const PROCEDURES: Record<string, string> = {
    disable: "disable_omsagent_service",
    enable: "enable_omsagent_service",
    start: "start_omsagent",
    stop: "stop_omsagent",
    restart: "restart_omsagent",
    reload: "restart_omsagent",
    "is-running": "is-running_omsagent",
    "find-systemd-dir": "find-systemd-dir_omsagent",
  };

  interface Invocation {
    argv: string[];
    vars: Record<string, string>;
  }

  function invocationsFor(root: string, tool: Tool, point: string): Invocation[] {
    const p = simPaths(root);
    if (tool === "bundle") {
      const op = point.slice("bundle-".length);
      const vars = {
        "<bundle>": SIM_BUNDLE_PATH,
        "<op>": op,
        "<Op>": op[0]!.toUpperCase() + op.slice(1),
        "<pkgverb>": op === "upgrade" ? "Upgrading" : "Installing",
      };
      return [{ argv: [SIM_BUNDLE_PATH, `--${op}`], vars }];
    }
    if (tool === "omsadmin") {
      const args: Record<string, string[]> = {
        "omsadmin-onboard": ["-w", WS, "-s", KEY],
        "omsadmin-list": ["-l"],
        "omsadmin-remove": ["-x", WS],
        "omsadmin-scom": ["-o"],
      };
      const id = point === "omsadmin-onboard" || point === "omsadmin-remove" ? WS : "";
      return [{ argv: [p.omsadmin, ...args[point]!], vars: { "<id>": id } }];
    }
    const command = point.slice("service_control-".length);
    const vars = { "<command>": command, "<procedure>": PROCEDURES[command]! };
    return [
      { argv: [p.serviceControl, command, WS], vars: { ...vars, "<ws>": WS } },
      { argv: [p.serviceControl, command], vars: { ...vars, "<ws>": "all" } },
    ];
  }

  function expected(s: FaultScenario, point: string, vars: Record<string, string>, usage: Record<string, string[]>) {
    let lines: Line[] = s.out;
    if (
      s.tool === "service_control" &&
      point === "service_control-is-running" &&
      /^exit:\d+$/.test(s.scenario) &&
      ![21, 22, 30, 67, 68, 69, 72, 75, 77].includes(s.code)
    ) {
      lines = []; // is-running's exit:N is the plain boolean answer
    }
    const subst = (t: string) => Object.entries(vars).reduce((acc, [k, v]) => acc.split(k).join(v), t);
    const out: string[] = [];
    const err: string[] = [];
    for (const l of lines) {
      if (typeof l === "string") {
        if (usage[l]) out.push(...usage[l]!);
        else out.push(subst(l));
      } else {
        err.push(subst(l.err));
      }
    }
    const join = (a: string[]) => (a.length ? a.join("\n") + "\n" : "");
    return { stdout: join(out) + (s.tool === "bundle" ? bundleTrailer(s.code) : ""), stderr: join(err) };
  }

  for (const tool of ["bundle", "omsadmin", "service_control"] as const) {
    test(`every ${tool} scenario at every ${tool} fault point gives its exact code and output`, async () => {
      const root = await installedRoot();
      if (tool !== "bundle") assert.equal((await omsadmin(root, "-w", WS, "-s", KEY)).code, 0);
      const p = simPaths(root);
      const usage: Record<string, string[]> = {
        "<omsadmin usage>": (await omsadmin(root, "-h")).stdout.replace(/\n$/, "").split("\n"),
        "<service_control usage>": (await serviceControl(root, "-h")).stdout.replace(/\n$/, "").split("\n"),
      };
      const before = JSON.stringify(installedPackages(root));
      let runs = 0;
      for (const point of FAULT_POINTS[tool]) {
        for (const s of SCENARIOS.filter((x) => x.tool === tool)) {
          setFault(root, point as FaultPoint, s.scenario);
          for (const inv of invocationsFor(root, tool, point)) {
            // Onboarding faults happen where the real ones do, most of them after omsadmin.sh's own checks: the
            // agent is stopped so that it does not skip the onboarding, and what it printed before is a prefix.
            const staged = point === "omsadmin-onboard";
            if (staged) assert.equal((await serviceControl(root, "stop", WS)).code, 0);
            const r = await run(inv.argv, { root });
            const exp = expected(s, point, inv.vars, usage);
            const where = `${point} ${s.scenario} (${inv.argv.slice(1).join(" ")})`;
            assert.equal(r.code, s.code, `${where}: exit code\n${r.stdout}${r.stderr}`);
            if (staged) {
              assert.ok(r.stdout.endsWith(exp.stdout), `${where}: stdout ends with\n${exp.stdout}\ngot\n${r.stdout}`);
              assert.ok(r.stderr.endsWith(exp.stderr), `${where}: stderr ends with\n${exp.stderr}\ngot\n${r.stderr}`);
            } else {
              assert.equal(r.stdout, exp.stdout, `${where}: stdout`);
              assert.equal(r.stderr, exp.stderr, `${where}: stderr`);
            }
            runs++;
          }
          assert.ok(existsSync(p.fault(point as FaultPoint)), "a fault without times= stays armed");
        }
        rmSync(p.fault(point as FaultPoint));
      }
      assert.ok(runs >= FAULT_POINTS[tool].length * SCENARIOS.filter((x) => x.tool === tool).length);
      // Faults act before the tool does: nothing was installed, removed or onboarded by any of those runs.
      assert.equal(JSON.stringify(installedPackages(root)), before);
      if (tool !== "bundle") {
        assert.ok(existsSync(p.omsadminConf(WS)));
        if (tool === "omsadmin") assert.equal((await serviceControl(root, "start", WS)).code, 0);
        assert.equal(serviceState(root, WS), "running");
      }
    });
  }

  test("times=N applies N times, counting down, then the file is deleted", async () => {
    const root = await installedRoot();
    const p = simPaths(root);
    setFault(root, "bundle-upgrade", "17-dpkg-lock", 2);
    let r = await bundle(root, "--upgrade");
    assert.equal(r.code, 17);
    assert.equal(readFileSync(p.fault("bundle-upgrade"), "utf8"), "17-dpkg-lock\ntimes=1\n");
    r = await bundle(root, "--upgrade");
    assert.equal(r.code, 17);
    assert.equal(existsSync(p.fault("bundle-upgrade")), false);
    r = await bundle(root, "--upgrade");
    assert.equal(r.code, 0);

    // Other points are untouched by a bundle-upgrade fault, and an install still works.
    setFault(root, "bundle-remove", "exit:30", 1);
    assert.equal((await bundle(root, "--upgrade")).code, 0);
    assert.ok(existsSync(p.fault("bundle-remove")));

    // "fail twice then succeed" for onboarding
    setFault(root, "omsadmin-onboard", "exit:6", 2);
    assert.equal((await omsadmin(root, "-w", WS, "-s", KEY)).code, 6);
    assert.equal((await omsadmin(root, "-w", WS, "-s", KEY)).code, 6);
    assert.equal((await omsadmin(root, "-w", WS, "-s", KEY)).code, 0);

    // CRLF and surrounding blanks are tolerated.
    writeFileSync(p.fault("service_control-is-running"), "  exit:0 \r\ntimes=1\r\n");
    assert.equal((await serviceControl(root, "is-running", WS)).code, 0, "faked: not running");
    assert.equal((await serviceControl(root, "is-running", WS)).code, 1, "really running");
  });

  test("invalid fault files fail loudly with 99 and are not consumed", async () => {
    const root = await installedRoot();
    const p = simPaths(root);
    mkdirSync(p.faultsDir, { recursive: true });
    for (const [content, re] of [
      ["bogus\n", /unknown scenario 'bogus' for point 'bundle-upgrade'/],
      ["exit:17\ntimes=0\n", /times must be a positive integer/],
      ["exit:17\ntimes=x\n", /times must be a positive integer/],
      ["exit:17\nonce\n", /line 2 must be 'times=N'/],
      ["\n", /line 1 \(the scenario\) is empty/],
      ["slow:\n", /slow needs seconds/],
      ["exit:300\n", /unknown scenario/],
      ["5-key\n", /unknown scenario '5-key'/], // an omsadmin scenario at a bundle point
    ] as const) {
      writeFileSync(p.fault("bundle-upgrade"), content);
      const r = await bundle(root, "--upgrade");
      assert.equal(r.code, 99, content);
      assert.match(r.stderr, re);
      assert.equal(readFileSync(p.fault("bundle-upgrade"), "utf8"), content);
    }
  });

  test("slow:<seconds> delays, then the tool behaves normally", async () => {
    const root = await installedRoot();
    setFault(root, "omsadmin-list", "slow:0.4", 1);
    const t0 = Date.now();
    const r = await omsadmin(root, "-l");
    assert.ok(Date.now() - t0 >= 380, `took ${Date.now() - t0} ms`);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "No Workspace\n");
  });

  for (const tool of ["bundle", "omsadmin", "service_control"] as const) {
    test(`hang (${tool}) blocks in a child sleep in the same process group until the group is killed`, async () => {
      const root = await installedRoot();
      const p = simPaths(root);
      const [point, argv, line]: [FaultPoint, string[], string] =
        tool === "bundle"
          ? ["bundle-upgrade", [SIM_BUNDLE_PATH, "--upgrade"], HANG_LINES.bundle]
          : tool === "omsadmin"
            ? ["omsadmin-onboard", [p.omsadmin, "-w", WS, "-s", KEY], HANG_LINES.omsadmin]
            : ["service_control-disable", [p.serviceControl, "disable"], HANG_LINES.service_control.replace("<ws>", "all")];
      setFault(root, point, "hang");
      const child = spawn(argv[0]!, argv.slice(1), {
        env: { PATH: process.env.PATH ?? "", OMS_HANDLER_ROOT: root, LC_ALL: "C" },
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("close", (_c, sig) => resolve(sig)));
      const childPidFile = join(p.hangDir, `${point}.child.pid`);
      await waitFor(() => out.includes(line + "\n") && existsSync(childPidFile) && readFileSync(childPidFile, "utf8").trim() !== "", "hang line and pid");
      const shellPid = Number(readFileSync(join(p.hangDir, `${point}.pid`), "utf8"));
      const sleepPid = Number(readFileSync(childPidFile, "utf8"));
      assert.equal(shellPid, child.pid);
      assert.ok(alive(sleepPid), "sleep running");
      assert.equal(pgidOf(sleepPid), child.pid, "sleep is in the tool's process group");
      // The child writes its pid, then execs sleep: on a loaded machine the exec may not have happened yet.
      await waitFor(() => readFileSync(`/proc/${sleepPid}/cmdline`, "utf8") === "sleep\u00003600\u0000", "the child to exec sleep");
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(child.exitCode, null, "still blocked");

      process.kill(-child.pid!, "SIGTERM");
      assert.equal(await exited, "SIGTERM");
      await waitFor(() => !alive(sleepPid), "sleep to die with its group");
    });
  }

  test("hang: killing only the tool's own pid leaves the sleep behind (why callers must kill the group)", async () => {
    const root = newRoot();
    setFault(root, "bundle-upgrade", "hang");
    const child = spawn(SIM_BUNDLE_PATH, ["--upgrade"], {
      env: { PATH: process.env.PATH ?? "", OMS_HANDLER_ROOT: root },
      detached: true,
      stdio: "ignore",
    });
    const exited = new Promise((resolve) => child.on("close", resolve));
    const childPidFile = join(simPaths(root).hangDir, "bundle-upgrade.child.pid");
    await waitFor(() => existsSync(childPidFile) && readFileSync(childPidFile, "utf8").trim() !== "", "pid file");
    const sleepPid = Number(readFileSync(childPidFile, "utf8"));
    try {
      process.kill(child.pid!, "SIGKILL");
      await exited;
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(alive(sleepPid), "orphaned sleep survives");
    } finally {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    await waitFor(() => !alive(sleepPid), "orphan cleanup");
  });
});

// --------------------------------------------------------------------------------------------
describe("calls.log and containment", () => {
  test("calls.log records every external invocation with quoted args and LC_ALL", async () => {
    const root = await installedRoot();
    const p = simPaths(root);
    await run([p.omsadmin, "-l"], { root, env: { LC_ALL: undefined } });
    await run([p.omsadmin, "-l"], { root, env: { LC_ALL: "" } });
    await run([p.serviceControl, "is-running", 'it\'s a "ws"\twith\nnewline\\'], { root, env: { LC_ALL: "en_US.UTF-8" } });
    const lines = readFileSync(p.callsLog, "utf8").split("\n").slice(1, 4);
    assert.deepEqual(lines, [
      "omsadmin -l\tLC_ALL=<unset>",
      "omsadmin -l\tLC_ALL=''",
      `service_control is-running 'it'\\''s a "ws"\\twith\\nnewline\\\\'\tLC_ALL=en_US.UTF-8`,
    ]);
    const calls = readCalls(root);
    assert.deepEqual(calls[1], { tool: "omsadmin", args: ["-l"], lcAll: null, line: lines[0] });
    assert.equal(calls[2]!.lcAll, "");
    assert.deepEqual(calls[3]!.args, ["is-running", 'it\'s a "ws"\twith\nnewline\\']);
    assert.deepEqual(unquoteWords("a '' 'b c' d\\'e"), ["a", "", "b c", "d'e"]);
    // A key on a command line is visible (that is the point); via the conf file it is not.
    await omsadmin(root, "-w", WS, "-s", KEY);
    assert.ok(readFileSync(p.callsLog, "utf8").includes(KEY));
  });

  test("nothing is written outside the root (cwd, HOME, TMPDIR and the real system paths stay untouched)", async () => {
    const outside = mkdtempSync(join(tmpdir(), "omssim-outside-"));
    roots.push(outside);
    const [cwd, home, tmp] = ["cwd", "home", "tmp"].map((d) => {
      mkdirSync(join(outside, d));
      return join(outside, d);
    }) as [string, string, string];
    const realPaths = [
      "/etc/omsagent-onboard.conf",
      "/etc/opt/microsoft",
      "/var/opt/microsoft",
      "/opt/microsoft",
      "/opt/omi",
      "/etc/opt/omi",
      "/etc/cron.d/OMSConsistencyInvoker",
      "/etc/scxagent-enable-port",
      "/etc/logrotate.d/omsagent-" + WS,
    ];
    const existed = realPaths.map((f) => existsSync(f));
    const root = newRoot();
    const p = simPaths(root);
    const env = { HOME: home, TMPDIR: tmp };
    const go = async (argv: string[], input?: string) => {
      const r = await run(argv, { root, env, cwd, input });
      return r.code;
    };
    assert.equal(await go([SIM_BUNDLE_PATH, "--upgrade", "--enable-opsmgr", "-w", WS2, "-s", KEY, "-p", "http://proxy:1"]), 0);
    writeOnboardConf(root, { WORKSPACE_ID: WS, SHARED_KEY: KEY, PROXY: "http://proxy:3128" });
    await go([p.omsadmin]);
    await go([p.omsadmin, "-l"]);
    await go([p.omsadmin, "-w", "scom"]);
    await go([p.omsadmin, "-o"]);
    await go([p.omsadmin, "-p", "http://p:1", "-u", "u", "-w", WS, "-s", KEY], "pw\n");
    for (const c of ["stop", "start", "restart", "reload", "enable", "disable", "is-running", "find-systemd-dir"]) await go([p.serviceControl, c]);
    await go([SIM_BUNDLE_PATH, "--extract"]);
    await go([SIM_BUNDLE_PATH, "--version-check"]);
    await go([SIM_BUNDLE_PATH, "--extract-script", join(cwd, "x.sh")]);
    await go([p.omsadmin, "-x", WS]);
    await go([p.omsadmin, "-X"]);
    setFault(root, "bundle-remove", "exit:17", 1);
    assert.equal(await go([SIM_BUNDLE_PATH, "--remove"]), 17);
    assert.equal(await go([SIM_BUNDLE_PATH, "--remove"]), 0);
    assert.equal(await go([SIM_BUNDLE_PATH, "--purge"]), 0);
    for (const d of [cwd, home, tmp]) assert.deepEqual(readdirSync(d), [], d);
    assert.deepEqual(
      realPaths.map((f) => existsSync(f)),
      existed,
      "a real system path appeared or disappeared",
    );
  });
});

test(
  "like the real omsadmin.sh, proxy.conf is written with an unquoted echo: dash turns a backslash escape into another character",
  { skip: !commandExists("dash") && "needs dash" },
  async () => {
    const root = await installedRoot();
    const p = simPaths(root);
    writeOnboardConf(root, { WORKSPACE_ID: WS, SHARED_KEY: KEY, PROXY: "http://user:pa\\tss@proxy.example:3128" });
    const r = await run(["dash", p.omsadmin], { root });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(readFileSync(p.proxyConf, "utf8"), "http://user:pa\tss@proxy.example:3128", "the agent would get a tab where the password had \\t");
  },
);
