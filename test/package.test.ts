// The extension package: version agreement, staged layout, the shim's preflight, and the zip itself.
import assert from "node:assert/strict";
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { createHash } from "node:crypto";
import { verifyBundle } from "../scripts/bundle-check.ts";
import { runtimeComponentsNotice } from "../scripts/notices.ts";
import { buildPackage, entryTime, zipFileName } from "../scripts/package.ts";
import { checkMachineFloor, isElf } from "../scripts/elf.ts";
import { BUN_RUNTIME, compileExecutable, lockedIntegrity, shippedRuntime } from "../scripts/runtime.ts";
import {
  parseBundleName,
  readManifestXmlVersion,
  REPO_ROOT,
  sha256File,
  SIMULATED_LABEL_SUFFIX,
  stageExtension,
  type StagedExtension,
} from "../scripts/stage.ts";
import { packageFullName } from "../src/handler/environment.ts";
import { FakeGuestAgent } from "../simulator/agent/index.ts";

const temps: string[] = [];
function tempDir(prefix = "pkg-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/**
 * A stand-in for the handler's entry: prints what it was started with, as JSON; with STAND_IN_IMPORT set it first
 * imports that package and reports how that went.
 */
const STAND_IN_HANDLER = `const report = (imported) => process.stdout.write(JSON.stringify({
  runtime: process.versions.bun ? "bun " + process.versions.bun : "node " + process.version,
  argv: process.argv.slice(2),
  argv0: process.argv0,
  nodeOptions: process.env.NODE_OPTIONS ?? null,
  fromDotEnv: process.env.FROM_DOT_ENV ?? null,
  preloaded: globalThis.preloaded ?? null,
  imported,
}) + "\\n");
if (process.env.STAND_IN_IMPORT) import(process.env.STAND_IN_IMPORT).then(() => report("yes"), (error) => report(error.message));
else report(null);
`;

let standIn: string | undefined;
/** The stand-in compiled as scripts/build.mjs compiles the handler (once per test file: it takes a second or two). */
function standInHandler(): string {
  if (standIn === undefined) {
    const dir = tempDir("stand-in-");
    writeFileSync(join(dir, "entry.mjs"), STAND_IN_HANDLER);
    compileExecutable(join(dir, "entry.mjs"), join(dir, "handler"));
    standIn = join(dir, "handler");
  }
  return standIn;
}

/**
 * A shell bundle in the real format (microsoft/OMS-Agent-for-Linux installer/bundle/create_bundle.sh: the skeleton
 * with SCRIPT_LEN, SCRIPT_LEN_PLUS_ONE, TAR_FILE and OMS_PKG filled in, then `gzip -c <tar>` appended), holding
 * 100/<OMS_PKG>.rpm and 110/<OMS_PKG>.deb like the real one's OpenSSL directories.
 */
function realFormatBundle(dir: string, name = "omsagent-1.19.0-0.universal.x64.sh"): string {
  const pkg = name.replace(/\.sh$/, "");
  const work = mkdtempSync(join(dir, "bundle-src-"));
  for (const sub of ["100", "110"]) mkdirSync(join(work, sub));
  writeFileSync(join(work, "100", `${pkg}.rpm`), "rpm bytes\n".repeat(200));
  writeFileSync(join(work, "110", `${pkg}.deb`), "deb bytes\n".repeat(200));
  const tgz = execFileSync("tar", ["czf", "-", "-C", work, "100", "110"]);
  const body = [
    "#! /bin/sh",
    "PATH=/sbin:/bin:/usr/sbin:/usr/bin",
    `TAR_FILE=${pkg}.tar`,
    `OMS_PKG=${pkg}`,
    "SCRIPT_LEN=@LEN@",
    "SCRIPT_LEN_PLUS_ONE=@LEN1@",
    'tail -n +${SCRIPT_LEN_PLUS_ONE} "$0" | tar xzf -',
    "exit 0",
  ];
  const script =
    body
      .join("\n")
      .replace("@LEN@", String(body.length))
      .replace("@LEN1@", String(body.length + 1)) + "\n";
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([Buffer.from(script), tgz]));
  return path;
}

/** The compiled stand-in handler and a temp dir holding fake bundles (simulated and "real"-named). */
function fixtures(): { handler: string; simBundle: string; realBundle: string; dir: string } {
  const dir = tempDir("pkg-fixtures-");
  const handler = standInHandler();
  const simBundle = join(dir, "omsagent-0.0.0-sim.universal.x64.sh");
  writeFileSync(simBundle, '#!/bin/sh\necho simulated bundle "$@"\n');
  const realBundle = realFormatBundle(dir);
  return { handler, simBundle, realBundle, dir };
}

function stageLinked(extra: { version?: string; bundlePath?: string } = {}): StagedExtension {
  const f = fixtures();
  return stageExtension({
    outDir: join(tempDir("stage-"), "ext"),
    handlerPath: f.handler,
    bundlePath: extra.bundlePath ?? f.simBundle,
    version: extra.version,
    runtime: { kind: "link" },
  });
}

function handlerManifestVersion(dir: string): unknown {
  return (JSON.parse(readFileSync(join(dir, "HandlerManifest.json"), "utf8")) as Array<{ version: unknown }>)[0]!.version;
}

const EXPECTED_ROOT = [
  "HandlerManifest.json",
  "LICENSE",
  "THIRD-PARTY-NOTICES.txt",
  "bin/NOTICE",
  "bin/handler",
  "manifest.xml",
  "omsagent-shim",
  "packages/omsagent-0.0.0-sim.universal.x64.sh",
  "packages/omsagent-0.0.0-sim.universal.x64.sha256sums",
  "schemas/protected-settings.schema.json",
  "schemas/public-settings.schema.json",
];

describe("version agreement", () => {
  test("manifest.xml <Version> == package.json version == generated HandlerManifest.json version", () => {
    const xmlVersion = readManifestXmlVersion();
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
    assert.equal(pkg.version, xmlVersion);
    const staged = stageLinked();
    assert.equal(staged.version, xmlVersion);
    assert.equal(handlerManifestVersion(staged.dir), xmlVersion);
    assert.match(readFileSync(join(staged.dir, "manifest.xml"), "utf8"), new RegExp(`<Version>${xmlVersion.replace(/\./g, "\\.")}</Version>`));
  });

  test("a --version override flows into HandlerManifest.json, manifest.xml and the zip name", () => {
    const staged = stageLinked({ version: "2.3.4" });
    assert.equal(staged.version, "2.3.4");
    assert.equal(handlerManifestVersion(staged.dir), "2.3.4");
    const xml = readFileSync(join(staged.dir, "manifest.xml"), "utf8");
    assert.match(xml, /<Version>2\.3\.4<\/Version>/);
    assert.equal(xml.match(/<Version>/g)?.length, 1);
    assert.equal(zipFileName("2.3.4", true), "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux-2.3.4-simulated.zip");
    assert.equal(zipFileName("2.3.4", false), "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux-2.3.4.zip");
  });

  test("the rest of HandlerManifest.json is the handler/ template unchanged", () => {
    const staged = stageLinked({ version: "1.2.3" });
    const template = JSON.parse(readFileSync(join(REPO_ROOT, "handler", "HandlerManifest.json"), "utf8")) as Array<Record<string, unknown>>;
    const generated = JSON.parse(readFileSync(join(staged.dir, "HandlerManifest.json"), "utf8")) as Array<Record<string, unknown>>;
    assert.deepEqual(generated, [
      { ...template[0], version: "1.2.3", signingInfo: { type: "OmsAgentForLinux", publisher: "Microsoft.EnterpriseCloud.Monitoring", version: "1.2.3" } },
    ]);
    const hm = (JSON.parse(readFileSync(join(staged.dir, "HandlerManifest.json"), "utf8")) as Array<{ handlerManifest: Record<string, unknown> }>)[0]!
      .handlerManifest;
    assert.equal(hm.updateMode, "UpdateWithInstall");
    assert.equal(hm.reportHeartbeat, false);
    assert.equal(hm.continueOnUpdateFailure, true);
  });
});

test("signingInfo names what manifest.xml names, and the fake guest agent refuses a package whose signingInfo does not match", async () => {
  const staged = stageLinked({ version: "1.2.4" });
  const xml = readFileSync(join(REPO_ROOT, "manifest.xml"), "utf8");
  const [entry] = JSON.parse(readFileSync(join(staged.dir, "HandlerManifest.json"), "utf8")) as Array<{ signingInfo: Record<string, string> }>;
  assert.deepEqual(entry!.signingInfo, {
    type: /<Type>([^<]+)<\/Type>/.exec(xml)![1],
    publisher: /<ProviderNameSpace>([^<]+)<\/ProviderNameSpace>/.exec(xml)![1],
    version: "1.2.4",
  });
  const agent = new FakeGuestAgent({ root: tempDir("agent-") });
  assert.doesNotThrow(() => agent.setup({ dir: staged.dir }, { seq: 0, settings: null }));

  const tampered = stageLinked({ version: "1.2.5" });
  const manifestPath = join(tampered.dir, "HandlerManifest.json");
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Array<{ signingInfo: Record<string, string> }>;
  manifest[0]!.signingInfo.type = "CustomScript";
  writeFileSync(manifestPath, JSON.stringify(manifest));
  assert.throws(
    () => new FakeGuestAgent({ root: tempDir("agent-") }).setup({ dir: tampered.dir }, { seq: 0, settings: null }),
    /\[ManifestValidationError\] expected extension type 'OmsAgentForLinux' does not match downloaded package type 'CustomScript'/,
  );
});

describe("stageExtension", () => {
  test("lays out the zip root; simulated label; sha256sums verifies with sha256sum -c", () => {
    standInHandler();
    const started = performance.now();
    const staged = stageLinked();
    const ms = performance.now() - started;
    assert.ok(ms < 1000, `staging took ${ms.toFixed(0)} ms`);
    assert.deepEqual(
      staged.files,
      EXPECTED_ROOT.filter((f) => f !== "bin/NOTICE"),
    );
    assert.equal(staged.simulated, true);
    assert.equal(staged.bundleName, "omsagent-0.0.0-sim.universal.x64.sh");
    assert.ok(lstatSync(join(staged.dir, "bin", "handler")).isSymbolicLink());
    assert.equal(readlinkSync(join(staged.dir, "bin", "handler")), standInHandler());
    assert.ok(readFileSync(join(staged.dir, "manifest.xml"), "utf8").includes(`${SIMULATED_LABEL_SUFFIX}</Label>`));
    assert.equal(statSync(join(staged.dir, "omsagent-shim")).mode & 0o777, 0o755);
    const sums = readFileSync(join(staged.dir, "packages", "omsagent-0.0.0-sim.universal.x64.sha256sums"), "utf8");
    assert.equal(sums, `${staged.bundleSha256}  omsagent-0.0.0-sim.universal.x64.sh\n`);
    assert.match(staged.bundleSha256, /^[0-9a-f]{64}$/);
    execFileSync("sha256sum", ["-c", "--status", "omsagent-0.0.0-sim.universal.x64.sha256sums"], { cwd: join(staged.dir, "packages") });
    for (const schema of ["public-settings.schema.json", "protected-settings.schema.json"]) {
      assert.equal(readFileSync(join(staged.dir, "schemas", schema), "utf8"), readFileSync(join(REPO_ROOT, "schemas", schema), "utf8"));
    }
  });

  test("a real bundle name is not simulated and leaves the label alone", () => {
    const f = fixtures();
    const staged = stageLinked({ bundlePath: f.realBundle });
    assert.equal(staged.simulated, false);
    assert.equal(staged.bundleName, "omsagent-1.19.0-0.universal.x64.sh");
    assert.ok(!readFileSync(join(staged.dir, "manifest.xml"), "utf8").includes("simulated"));
    assert.ok(existsSync(join(staged.dir, "packages", "omsagent-1.19.0-0.universal.x64.sha256sums")));
  });

  test("bundle names are validated", () => {
    assert.deepEqual(parseBundleName("omsagent-1.19.0-0.universal.x64.sh"), { version: "1.19.0", build: "0", simulated: false });
    assert.deepEqual(parseBundleName("omsagent-0.0.0-sim.universal.x64.sh"), { version: "0.0.0", build: "sim", simulated: true });
    for (const bad of ["omsagent-1.19.0.universal.x64.sh", "omsagent-1.19.0-0.universal.arm64.sh", "bundle.sh", "omsagent-1.19.0-0.universal.x64.sh.asc"]) {
      assert.equal(parseBundleName(bad), null, bad);
    }
  });

  test("clear failures: missing dist/handler, bad bundle, bad version, non-empty outDir", () => {
    const f = fixtures();
    // a copy of the repo's inputs without dist/
    const fakeRepo = tempDir("fake-repo-");
    for (const p of ["handler", "schemas", "manifest.xml"]) cpSync(join(REPO_ROOT, p), join(fakeRepo, p), { recursive: true });
    const link = { kind: "link" as const };
    assert.throws(
      () => stageExtension({ outDir: join(tempDir(), "x"), repoRoot: fakeRepo, bundlePath: f.simBundle, runtime: link }),
      /dist\/handler\/handler not found .*run npm run build/,
    );
    const notABundle = join(f.dir, "omsagent-1.0.0-1.universal.x64.sh");
    writeFileSync(notABundle, "PK\u0003\u0004 not a shell script");
    assert.throws(() => stageExtension({ outDir: join(tempDir(), "x"), handlerPath: f.handler, bundlePath: notABundle, runtime: link }), /not a shell bundle/);
    assert.throws(
      () => stageExtension({ outDir: join(tempDir(), "x"), handlerPath: f.handler, bundlePath: join(f.dir, "other.sh"), runtime: link }),
      /omsagent-<x\.y\.z>-<build>\.universal\.x64\.sh/,
    );
    assert.throws(
      () => stageExtension({ outDir: join(tempDir(), "x"), handlerPath: f.handler, bundlePath: f.simBundle, version: "1.2", runtime: link }),
      /MAJOR\.MINOR\.PATCH/,
    );
    const full = tempDir();
    writeFileSync(join(full, "junk"), "");
    assert.throws(() => stageExtension({ outDir: full, handlerPath: f.handler, bundlePath: f.simBundle, runtime: link }), /not empty/);
    assert.throws(
      () =>
        stageExtension({ outDir: join(tempDir(), "x"), handlerPath: f.handler, bundlePath: join(f.dir, "omsagent-9.9.9-9.universal.x64.sh"), runtime: link }),
      /OMS bundle not found/,
    );
  });
});

describe("omsagent-shim preflight", () => {
  // A copy: on a failure the shim leaves a status beside itself (status/), never in the repository.
  const shim = join(tempDir("shim-copy-"), "omsagent-shim");
  cpSync(join(REPO_ROOT, "handler", "omsagent-shim"), shim);

  /**
   * Fake uname and getconf on PATH, and a fake /proc (OMS_HANDLER_PROC, bin/proc): a cpuinfo of that architecture
   * and a memory map that names no libc, so the shim's glibc check falls back to getconf.
   */
  function fakeTools(uname: string, getconf: string | null): string {
    const bin = tempDir("fake-tools-");
    mkdirSync(join(bin, "proc", "self"), { recursive: true });
    writeFileSync(join(bin, "proc", "cpuinfo"), uname === "x86_64" ? "processor\t: 0\nflags\t\t: fpu lm sse4_2\n" : "processor\t: 0\nFeatures\t: fp asimd\n");
    writeFileSync(join(bin, "proc", "self", "maps"), "00400000-0040b000 r-xp 00000000 08:01 1 /bin/busybox\n");
    writeFileSync(join(bin, "uname"), `#!/bin/sh\necho ${uname}\n`, { mode: 0o755 });
    writeFileSync(
      join(bin, "getconf"),
      getconf === null ? "#!/bin/sh\necho 'getconf: Unrecognized variable' >&2\nexit 1\n" : `#!/bin/sh\necho '${getconf}'\n`,
      { mode: 0o755 },
    );
    return bin;
  }

  function runShim(script: string, pathPrefix: string | null, args: string[] = ["enable"]) {
    const r = spawnSync("/bin/sh", [script, ...args], {
      encoding: "utf8",
      env: {
        PATH: pathPrefix ? `${pathPrefix}:${process.env.PATH}` : process.env.PATH,
        NODE_OPTIONS: "--no-warnings",
        ...(pathPrefix ? { OMS_HANDLER_PROC: join(pathPrefix, "proc") } : {}),
      },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, stderrLines: r.stderr.split("\n").filter((l) => l !== "") };
  }

  test("non-x86_64 architecture → exit 51 with one line naming it", () => {
    const r = runShim(shim, fakeTools("aarch64", "glibc 2.35"));
    assert.equal(r.status, 51);
    assert.equal(r.stderrLines.length, 1, r.stderr);
    assert.match(r.stderrLines[0]!, /aarch64/);
    assert.equal(r.stdout, "");
  });

  test("glibc older than 2.17 → exit 51 with one line naming the version", () => {
    for (const old of ["glibc 2.16", "glibc 2.5", "glibc 1.99"]) {
      const r = runShim(shim, fakeTools("x86_64", old));
      assert.equal(r.status, 51, old);
      assert.equal(r.stderrLines.length, 1, r.stderr);
      assert.match(r.stderrLines[0]!, new RegExp(`${old.replace(".", "\\.")} is too old: the handler needs glibc 2\\.17 or newer`));
    }
  });

  test("no glibc (musl: getconf knows no GNU_LIBC_VERSION) → exit 51 with one line", () => {
    const r = runShim(shim, fakeTools("x86_64", null));
    assert.equal(r.status, 51);
    assert.equal(r.stderrLines.length, 1, r.stderr);
    assert.match(r.stderrLines[0]!, /not glibc/);
  });

  test("glibc 2.17 exactly (RHEL/CentOS 7), and newer, pass the preflight", () => {
    const staged = stageLinked();
    for (const libc of ["glibc 2.17", "glibc 2.28", "glibc 2.40", "glibc 3.0"]) {
      const r = runShim(join(staged.dir, "omsagent-shim"), fakeTools("x86_64", libc), ["install"]);
      assert.equal(r.status, 0, `${libc}: ${r.stderr}`);
    }
  });

  test("with the real tools it execs bin/handler with the arguments unchanged", { skip: process.arch !== "x64" }, () => {
    const staged = stageLinked();
    const r = runShim(join(staged.dir, "omsagent-shim"), null, ["enable", "two words", "--x=$HOME"]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { runtime: string; argv: string[]; argv0: string; nodeOptions: string | null };
    assert.deepEqual(out.argv, ["enable", "two words", "--x=$HOME"]);
    assert.equal(out.runtime, `bun ${BUN_RUNTIME.version}`);
    // The path the handler finds its extension directory from (src/handler/main.ts), the symlink itself.
    assert.equal(out.argv0, join(staged.dir, "bin", "handler"));
    assert.equal(out.nodeOptions, null, "NODE_OPTIONS is cleared before starting the runtime");
  });

  test("the runtime ignores BUN_OPTIONS, and .env and bunfig.toml in the working directory", { skip: process.arch !== "x64" }, () => {
    const staged = stageLinked();
    const cwd = tempDir("hostile-cwd-");
    writeFileSync(join(cwd, ".env"), "FROM_DOT_ENV=yes\n");
    writeFileSync(join(cwd, "preload.mjs"), "globalThis.preloaded = 'yes';\n");
    writeFileSync(join(cwd, "bunfig.toml"), 'preload = ["./preload.mjs"]\n');
    const r = spawnSync("/bin/sh", [join(staged.dir, "omsagent-shim"), "enable"], {
      cwd,
      encoding: "utf8",
      env: { PATH: process.env.PATH, BUN_OPTIONS: `--preload ${join(cwd, "preload.mjs")}`, BUN_CONFIG_VERBOSE_FETCH: "curl" },
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { fromDotEnv: string | null; preloaded: string | null };
    assert.deepEqual({ fromDotEnv: out.fromDotEnv, preloaded: out.preloaded }, { fromDotEnv: null, preloaded: null });
  });

  test("the executable itself reads no .env or bunfig.toml from the working directory and installs no package", { skip: process.arch !== "x64" }, async () => {
    const cwd = tempDir("hostile-cwd-");
    writeFileSync(join(cwd, ".env"), "FROM_DOT_ENV=yes\n");
    writeFileSync(join(cwd, "preload.mjs"), "globalThis.preloaded = 'yes';\n");
    writeFileSync(join(cwd, "bunfig.toml"), 'preload = ["./preload.mjs"]\n');
    // A registry on loopback that would serve any package: Bun's auto-install asks it first.
    const asked: string[] = [];
    const registry = createServer((req, res) => {
      asked.push(req.url ?? "");
      res.writeHead(404).end();
    });
    registry.listen(0, "127.0.0.1");
    await once(registry, "listening");
    try {
      const url = `http://127.0.0.1:${(registry.address() as AddressInfo).port}/`;
      // Started directly, without the shim's scrubbing: only how it was built keeps these out.
      const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
        execFile(
          standInHandler(),
          ["enable"],
          { cwd, env: { PATH: process.env.PATH, BUN_CONFIG_REGISTRY: url, NPM_CONFIG_REGISTRY: url, STAND_IN_IMPORT: "is-odd" } },
          (error, stdout, stderr) => done({ status: error ? (error.code as number) : 0, stdout, stderr }),
        );
      });
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { fromDotEnv: string | null; preloaded: string | null; imported: string };
      assert.deepEqual({ fromDotEnv: out.fromDotEnv, preloaded: out.preloaded }, { fromDotEnv: null, preloaded: null });
      assert.match(out.imported, /Cannot find package 'is-odd'/);
      assert.deepEqual(asked, [], "no request reached the registry");
    } finally {
      registry.close();
    }
  });

  test("driven by the fake guest agent from a staged dir (modes normalised, u+x added)", { skip: process.arch !== "x64" }, async () => {
    const staged = stageLinked();
    const agent = new FakeGuestAgent({ root: tempDir("agent-") });
    agent.setup({ dir: staged.dir }, { seq: 0, settings: { publicSettings: {} } });
    const r = await agent.run(staged.version, "enable");
    assert.equal(r.exitCode, 0, r.output);
    assert.deepEqual((JSON.parse(r.stdout) as { argv: string[] }).argv, ["enable"]);
  });
});

describe("the shipped runtime", () => {
  test("npm ci installs the pinned Bun baseline: package.json, package-lock.json and scripts/runtime.ts agree", () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { devDependencies: Record<string, string> };
    assert.equal(pkg.devDependencies[BUN_RUNTIME.packageName], BUN_RUNTIME.version, "pinned exactly, no range");
    assert.equal(lockedIntegrity(), BUN_RUNTIME.integrity);
    const runtime = shippedRuntime();
    assert.equal(execFileSync(runtime.binPath, ["--version"], { encoding: "utf8" }).trim(), BUN_RUNTIME.version);
  });

  test("a lock file that pins other bytes is refused", () => {
    const fakeRepo = tempDir("fake-repo-");
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { integrity?: string }> };
    lock.packages[`node_modules/${BUN_RUNTIME.packageName}`]!.integrity = "sha512-AAAA";
    writeFileSync(join(fakeRepo, "package-lock.json"), JSON.stringify(lock));
    assert.throws(() => shippedRuntime(fakeRepo), /package-lock\.json pins @oven\/bun-linux-x64-baseline with sha512-AAAA.*expects sha512-/);
  });

  test("the ELF check finds what the oldest supported machine lacks (the test runner's own Node needs glibc 2.28)", { skip: process.arch !== "x64" }, () => {
    assert.deepEqual(checkMachineFloor(shippedRuntime().binPath), []);
    // What the package ships: the runtime with the handler compiled in (npm test builds it first).
    assert.deepEqual(checkMachineFloor(join(REPO_ROOT, "dist", "handler", "handler")), []);
    const problems = checkMachineFloor(process.execPath);
    assert.ok(
      problems.some((p) => /needs GLIBC_2\.(2[89]|[3-9]\d)/.test(p)),
      problems.join("; "),
    );
  });
});

describe("the zip", () => {
  test(
    "root holds exactly the expected entries with 0755/0644 modes; every ELF file starts on glibc 2.17; it installs and runs the shipped Bun",
    { timeout: 300_000 },
    async () => {
      const f = fixtures();
      const out = tempDir("zip-out-");
      const built = await buildPackage({ outDir: out, bundlePath: f.simBundle, handlerPath: f.handler, version: "1.19.7" });
      assert.equal(built.zipPath, join(out, "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux-1.19.7-simulated.zip"));
      assert.equal(built.simulated, true);
      assert.equal(built.zipSize, statSync(built.zipPath).size);
      assert.ok(built.unpackedSize > 100 * 1024 * 1024, `unpacked ${built.unpackedSize}`);
      console.log(`# zip ${built.zipSize} bytes, unpacked ${built.unpackedSize} bytes`);

      const listing = execFileSync(
        "python3",
        [
          "-c",
          "import sys, zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print('%s %o' % (i.filename, (i.external_attr >> 16) & 0o7777))",
          built.zipPath,
        ],
        { encoding: "utf8" },
      )
        .trim()
        .split("\n")
        .map((line) => line.split(" "));
      assert.deepEqual(listing.map(([name]) => name).sort(), EXPECTED_ROOT);
      for (const [name, mode] of listing) {
        assert.equal(mode, name === "omsagent-shim" || name === "bin/handler" ? "755" : "644", name);
      }

      // Every ELF file in the zip, wherever it sits, must start on the oldest supported machine.
      const unpacked = tempDir("zip-unpacked-");
      execFileSync("python3", ["-c", "import sys, zipfile\nzipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])", built.zipPath, unpacked]);
      const elves = listing.map(([name]) => name!).filter((name) => isElf(readFileSync(join(unpacked, name))));
      assert.deepEqual(elves, ["bin/handler"]);
      for (const name of elves) assert.deepEqual(checkMachineFloor(join(unpacked, name)), [], name);

      const agent = new FakeGuestAgent({ root: tempDir("agent-") });
      const { version, baseDir } = agent.setup({ zip: built.zipPath }, { seq: 0, settings: { publicSettings: {} } });
      assert.equal(version, "1.19.7");
      assert.equal(handlerManifestVersion(baseDir), "1.19.7");
      if (process.arch === "x64") {
        const r = await agent.run(version, "install");
        assert.equal(r.exitCode, 0, r.output);
        const report = JSON.parse(r.stdout) as { runtime: string; argv: string[] };
        assert.equal(report.runtime, `bun ${BUN_RUNTIME.version}`, "the shipped runtime runs, not the system node");
        assert.deepEqual(report.argv, ["install"]);
      }
    },
  );

  test("the CLI validates --bundle and --version before doing any work", () => {
    const f = fixtures();
    const badName = join(f.dir, "bundle.sh");
    writeFileSync(badName, "#!/bin/sh\n");
    const cli = (args: string[]) =>
      spawnSync(process.execPath, ["--import", "tsx", join(REPO_ROOT, "scripts", "package.ts"), ...args], { encoding: "utf8", cwd: REPO_ROOT });
    const r1 = cli(["--bundle", badName, "--out", tempDir()]);
    assert.equal(r1.status, 1);
    assert.match(r1.stderr, /--bundle must be an OMS shell bundle named omsagent-<x\.y\.z>-<build>\.universal\.x64\.sh/);
    const r2 = cli(["--version", "v1", "--out", tempDir()]);
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /--version must be MAJOR\.MINOR\.PATCH/);
    const r3 = cli(["--bundle", join(f.dir, "missing.sh")]);
    assert.equal(r3.status, 1);
    assert.match(r3.stderr, /no such file/);
  });
});

describe("publishing under the builder's own namespace", () => {
  test("--publisher and --type flow into manifest.xml, HandlerManifest.json (name, signingInfo) and the status name", () => {
    const f = fixtures();
    const staged = stageExtension({
      outDir: join(tempDir("stage-"), "ext"),
      handlerPath: f.handler,
      bundlePath: f.simBundle,
      runtime: { kind: "link" },
      publisher: "Contoso.Monitoring",
      type: "OmsAgentContoso",
      version: "2.0.1",
    });
    const xml = readFileSync(join(staged.dir, "manifest.xml"), "utf8");
    assert.match(xml, /<ProviderNameSpace>Contoso\.Monitoring<\/ProviderNameSpace>/);
    assert.match(xml, /<Type>OmsAgentContoso<\/Type>/);
    const [entry] = JSON.parse(readFileSync(join(staged.dir, "HandlerManifest.json"), "utf8")) as Array<{ name: string; signingInfo: Record<string, string> }>;
    assert.equal(entry!.name, "OmsAgentContoso");
    assert.deepEqual(entry!.signingInfo, { type: "OmsAgentContoso", publisher: "Contoso.Monitoring", version: "2.0.1" });
    assert.equal(packageFullName(staged.dir), "Contoso.Monitoring.OmsAgentContoso");
    assert.deepEqual([staged.publisher, staged.type], ["Contoso.Monitoring", "OmsAgentContoso"]);
    // The default stays Microsoft's namespace.
    assert.equal(packageFullName(stageLinked().dir), "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux");
    assert.equal(zipFileName("2.0.1", false, "Contoso.Monitoring.OmsAgentContoso"), "Contoso.Monitoring.OmsAgentContoso-2.0.1.zip");
    for (const [publisher, type, message] of [
      ["Contoso", undefined, /--publisher must look like Contoso\.Monitoring/],
      ["Contoso.Monitoring", "Oms Agent", /--type must look like OmsAgentForLinux/],
      ["Contoso.<x>", undefined, /--publisher/],
    ] as const) {
      assert.throws(
        () =>
          stageExtension({
            outDir: join(tempDir("stage-"), "ext"),
            handlerPath: f.handler,
            bundlePath: f.simBundle,
            runtime: { kind: "link" },
            publisher,
            type,
          }),
        message,
      );
    }
  });
});

describe("the real OMS bundle is verified before it ships", () => {
  test("a bundle in the real format passes, with and without its published sha256", async () => {
    const f = fixtures();
    const facts = await verifyBundle(f.realBundle);
    assert.equal(facts.omsPackage, "omsagent-1.19.0-0.universal.x64");
    assert.ok(facts.entries.includes("100/omsagent-1.19.0-0.universal.x64.rpm"), facts.entries.join(","));
    const sha = createHash("sha256").update(readFileSync(f.realBundle)).digest("hex");
    assert.equal((await verifyBundle(f.realBundle, sha.toUpperCase())).sha256, sha);
    // The bundle really is what the real skeleton's extraction line reads.
    const extracted = tempDir("extract-");
    execFileSync("sh", ["-c", `tail -n +${facts.scriptLines + 1} "$1" | tar xzf - -C "$2"`, "sh", f.realBundle, extracted]);
    assert.ok(existsSync(join(extracted, "110", "omsagent-1.19.0-0.universal.x64.deb")));
  });

  test("a wrong sha256, #!/bin/sh plus random bytes, a truncated download and a wrong SCRIPT_LEN are refused", async () => {
    const f = fixtures();
    await assert.rejects(verifyBundle(f.realBundle, "0".repeat(64)), /has sha256 [0-9a-f]{64}, not the expected 0{64}/);
    await assert.rejects(verifyBundle(f.realBundle, "abc"), /--bundle-sha256 must be 64 hexadecimal digits/);

    const random = join(tempDir("rnd-"), "omsagent-1.19.0-0.universal.x64.sh");
    writeFileSync(random, Buffer.concat([Buffer.from("#!/bin/sh\n"), Buffer.from(Array.from({ length: 2000 }, (_, i) => (i * 7919 + 13) % 256))]));
    await assert.rejects(verifyBundle(random), /not a complete OMS shell bundle: no SCRIPT_LEN=<number> line/);

    const bytes = readFileSync(f.realBundle);
    for (const cut of [40, Math.floor(bytes.length / 2)]) {
      const truncated = join(tempDir("cut-"), "omsagent-1.19.0-0.universal.x64.sh");
      writeFileSync(truncated, bytes.subarray(0, bytes.length - cut));
      await assert.rejects(verifyBundle(truncated), /damaged or cut short|end-of-archive/, `cut ${cut}`);
    }

    const shifted = join(tempDir("len-"), "omsagent-1.19.0-0.universal.x64.sh");
    writeFileSync(
      shifted,
      Buffer.from(
        bytes
          .toString("latin1")
          .replace(
            /SCRIPT_LEN=(\d+)\nSCRIPT_LEN_PLUS_ONE=(\d+)/,
            (_m, a: string, b: string) => `SCRIPT_LEN=${Number(a) - 1}\nSCRIPT_LEN_PLUS_ONE=${Number(b) - 1}`,
          ),
        "latin1",
      ),
    );
    await assert.rejects(verifyBundle(shifted), /no gzip stream starts after line/);

    const renamed = join(tempDir("name-"), "omsagent-1.20.0-0.universal.x64.sh");
    writeFileSync(renamed, bytes);
    await assert.rejects(verifyBundle(renamed), /OMS_PKG \(omsagent-1\.19\.0-0\.universal\.x64\) is not the package its name says/);
  });

  test("npm run package refuses a bad bundle or a sha256 mismatch before building", () => {
    const f = fixtures();
    const random = join(tempDir("rnd-"), "omsagent-1.19.0-0.universal.x64.sh");
    writeFileSync(random, "#!/bin/sh\n" + "x".repeat(2000));
    const cli = (args: string[]) =>
      spawnSync(process.execPath, ["--import", "tsx", join(REPO_ROOT, "scripts", "package.ts"), ...args], { encoding: "utf8", cwd: REPO_ROOT });
    const out = tempDir("pkg-out-");
    const r1 = cli(["--bundle", random, "--out", out]);
    assert.equal(r1.status, 1, r1.stderr);
    assert.match(r1.stderr, /not a complete OMS shell bundle/);
    const r2 = cli(["--bundle", f.realBundle, "--bundle-sha256", "f".repeat(64), "--out", out]);
    assert.equal(r2.status, 1, r2.stderr);
    assert.match(r2.stderr, /not the expected f{64}/);
    assert.deepEqual(readdirSync(out), [], "nothing was built");
  });
});

describe("licences", () => {
  test("LICENSE and the third-party notice carry the licence text of every npm package esbuild bundles into the handler", async () => {
    const staged = stageLinked();
    assert.equal(readFileSync(join(staged.dir, "LICENSE"), "utf8"), readFileSync(join(REPO_ROOT, "LICENSE"), "utf8"));
    assert.match(readFileSync(join(REPO_ROOT, "LICENSE"), "utf8"), /^MIT License/);
    const notice = readFileSync(join(staged.dir, "THIRD-PARTY-NOTICES.txt"), "utf8");
    // What esbuild actually puts into bin/ (the same entry and alias as scripts/build.mjs), package by package.
    const { build } = await import("esbuild");
    const result = await build({
      entryPoints: [join(REPO_ROOT, "src/handler/main.ts")],
      bundle: true,
      splitting: true,
      format: "esm",
      platform: "node",
      outdir: tempDir("esb-"),
      write: false,
      metafile: true,
      alias: { "graceful-fs": join(REPO_ROOT, "src/handler/plain-fs.cjs") },
      logLevel: "silent",
    });
    const bundled = new Set<string>();
    for (const input of Object.keys(result.metafile.inputs)) {
      const packages = [...input.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)];
      if (packages.length > 0) bundled.add(packages.at(-1)![1]!);
    }
    assert.ok(bundled.has("ajv") && bundled.has("pino") && bundled.size > 10, [...bundled].join(","));
    const sections = new Map<string, string>();
    for (const part of notice.split(/^={78}\n/m).slice(1)) {
      const [title = "", , ...text] = part.split("\n");
      sections.set(title.slice(0, title.lastIndexOf("@")), text.join("\n"));
    }
    for (const name of bundled) {
      assert.ok(sections.has(name), `${name} is bundled but has no section in THIRD-PARTY-NOTICES.txt`);
      assert.match(sections.get(name)!, /permission|licen[cs]e|copyright/i, `${name}: licence text missing`);
    }
  });

  test("bin/NOTICE names Bun's statically linked LGPL components and where their sources are", () => {
    const f = fixtures();
    const staged = stageExtension({ outDir: join(tempDir("stage-"), "ext"), handlerPath: f.handler, bundlePath: f.simBundle, runtime: { kind: "copy" } });
    const notice = readFileSync(join(staged.dir, "bin", "NOTICE"), "utf8");
    assert.match(notice, /JavaScriptCore and WebKit.*LGPL-2\.0.*https:\/\/github\.com\/oven-sh\/WebKit/);
    assert.match(notice, /tinycc: LGPL-2\.1; source https:\/\/github\.com\/tinycc\/tinycc/);
    assert.match(notice, /BoringSSL/);
    assert.match(notice, new RegExp(`${BUN_RUNTIME.packageName}@${BUN_RUNTIME.version} \\(integrity ${BUN_RUNTIME.integrity.replace(/[+/=]/g, "\\$&")}\\)`));
    assert.doesNotMatch(notice, /differs|AVX2/);
    assert.match(notice, /the same as the regular @oven\/bun-linux-x64's; it needs glibc 2\.17, Linux 3\.10 and an x86-64 CPU\nwith SSE4\.2/);
  });

  test(
    "bin/NOTICE's relinking steps, run with the pinned Bun as 'your build', make the very executable the package ships",
    { skip: process.arch !== "x64" },
    () => {
      const notice = runtimeComponentsNotice(shippedRuntime());
      const command = /^ {2}<your-bun> build [^]*?--outfile=handler$/m.exec(notice)?.[0];
      assert.ok(command, notice);
      const argv = command
        .replace(/\\\n/g, " ")
        .trim()
        .split(/\s+/)
        .map((word) => word.replaceAll("<your-bun>", shippedRuntime().binPath));
      // A clone after `node scripts/build.mjs`: what it leaves in dist/handler/ (npm test ran it first).
      const clone = tempDir("relink-");
      cpSync(join(REPO_ROOT, "dist", "handler"), join(clone, "dist", "handler"), { recursive: true, filter: (path) => !path.endsWith("/handler/handler") });
      execFileSync(argv[0]!, argv.slice(1), { cwd: clone, stdio: ["ignore", "ignore", "pipe"], env: { PATH: process.env.PATH } });
      assert.equal(sha256File(join(clone, "handler")), sha256File(join(REPO_ROOT, "dist", "handler", "handler")));
    },
  );
});

describe("a reproducible zip", () => {
  test(
    "two builds of the same sources, minutes and time zones apart, are byte-identical; SOURCE_DATE_EPOCH sets the entries' time",
    { timeout: 300_000 },
    () => {
      const build = (out: string, tz: string) =>
        spawnSync(
          process.execPath,
          [
            "--import",
            "tsx",
            join(REPO_ROOT, "scripts", "package.ts"),
            "--out",
            out,
            "--version",
            "1.19.9",
            "--publisher",
            "Contoso.Monitoring",
            "--type",
            "OmsAgentContoso",
          ],
          { encoding: "utf8", cwd: REPO_ROOT, env: { ...process.env, TZ: tz, SOURCE_DATE_EPOCH: "" } },
        );
      const outs = [tempDir("repro-a-"), tempDir("repro-b-")];
      const first = build(outs[0]!, "UTC");
      assert.equal(first.status, 0, first.stderr);
      // A second later, on the other side of the world: neither may reach the bytes.
      spawnSync("sleep", ["1.1"]);
      const second = build(outs[1]!, "Pacific/Kiritimati");
      assert.equal(second.status, 0, second.stderr);
      const name = "Contoso.Monitoring.OmsAgentContoso-1.19.9-simulated.zip";
      const sha = (dir: string) =>
        createHash("sha256")
          .update(readFileSync(join(dir, name)))
          .digest("hex");
      assert.equal(sha(outs[0]!), sha(outs[1]!));
      const listing = execFileSync(
        "python3",
        ["-c", "import sys, zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.filename, i.date_time, len(i.extra))", join(outs[0]!, name)],
        { encoding: "utf8" },
      );
      for (const line of listing.trim().split("\n")) assert.match(line, / \(1980, 1, 1, 0, 0, 0\) 0$/, line);
      const signing = execFileSync(
        "python3",
        [
          "-c",
          "import sys, zipfile, json\nprint(json.loads(zipfile.ZipFile(sys.argv[1]).read('HandlerManifest.json'))[0]['signingInfo'])",
          join(outs[0]!, name),
        ],
        { encoding: "utf8" },
      );
      assert.match(signing, /'type': 'OmsAgentContoso', 'publisher': 'Contoso.Monitoring'/);
    },
  );

  test("SOURCE_DATE_EPOCH gives the same DOS time in every time zone, and a malformed one is refused", () => {
    const at = entryTime("1700000000"); // 2023-11-14 22:13:20 UTC
    assert.deepEqual([at.getFullYear(), at.getMonth(), at.getDate(), at.getHours(), at.getMinutes(), at.getSeconds()], [2023, 10, 14, 22, 13, 20]);
    assert.equal(entryTime(undefined).getFullYear(), 1980);
    assert.throws(() => entryTime("yesterday"), /SOURCE_DATE_EPOCH must be seconds/);
  });
});
