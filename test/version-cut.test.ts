// `npm run version:cut` changes every place that names the version, together, on a copy of the repository.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { cutVersion } from "../scripts/version-cut.ts";
import { REPO_ROOT } from "../scripts/stage.ts";

const FILES = [
  "manifest.xml",
  "package.json",
  "cli/package.json",
  "package-lock.json",
  "README.md",
  "cli/README.md",
  "docs/fleet-cli.md",
  "CHANGELOG.md",
  "policy/omsagent-linux-vm.json",
  "policy/omsagent-linux-vmss.json",
  "policy/omsagent-linux-arc.json",
  "policy/omsagent-linux-initiative.json",
  "src/cli/commands.ts",
  "src/cli/args.ts",
];
const temps: string[] = [];
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

function copyOfRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), "version-cut-"));
  temps.push(dir);
  for (const file of FILES) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(REPO_ROOT, file), join(dir, file));
  }
  return dir;
}

const read = (dir: string, file: string) => readFileSync(join(dir, file), "utf8");
const current = /<Version>([^<]+)<\/Version>/.exec(read(REPO_ROOT, "manifest.xml"))![1]!;
const [major, minor, patch] = current.split(".").map(Number) as [number, number, number];

test("a patch cut changes manifest.xml, both package.json files, package-lock.json, the artefact names and CHANGELOG.md", () => {
  const dir = copyOfRepo();
  const next = `${major}.${minor}.${patch + 1}`;
  const result = cutVersion(next, { repoRoot: dir, date: "2027-01-02" });
  assert.equal(result.from, current);
  assert.match(read(dir, "manifest.xml"), new RegExp(`<Version>${next}</Version>`));
  for (const file of ["package.json", "cli/package.json"]) assert.equal((JSON.parse(read(dir, file)) as { version: string }).version, next, file);
  const lock = JSON.parse(read(dir, "package-lock.json")) as { version: string; packages: Record<string, { version: string }> };
  assert.equal(lock.version, next);
  assert.equal(lock.packages[""]!.version, next);
  assert.equal(read(dir, "package-lock.json").replaceAll(next, current), read(REPO_ROOT, "package-lock.json"), "nothing else in the lock file moved");
  for (const file of ["README.md", "cli/README.md", "docs/fleet-cli.md"]) {
    const text = read(dir, file);
    assert.doesNotMatch(text, new RegExp(`omsagent-fleet-${current}\\.tgz|OmsAgentForLinux-${current}(-simulated)?\\.zip`), file);
  }
  assert.match(read(dir, "README.md"), new RegExp(`omsagent-fleet-${next}\\.tgz`));
  // The OMS bundle's version is another product's.
  assert.match(read(dir, "README.md"), /omsagent-1\.19\.0-0\.universal\.x64\.sh/);
  assert.match(read(dir, "CHANGELOG.md"), new RegExp(`## Unreleased\\n\\n## ${next} — 2027-01-02\\n\\n- `));
  assert.equal(read(dir, "policy/omsagent-linux-vm.json"), read(REPO_ROOT, "policy/omsagent-linux-vm.json"), "a patch leaves typeHandlerVersion alone");
  assert.throws(() => cutVersion(next, { repoRoot: dir }), /is not newer than the current version/);
});

test("a minor cut also moves typeHandlerVersion: the CLI's default, the Policy defaults, the deployment examples", () => {
  const dir = copyOfRepo();
  const next = `${major}.${minor + 1}.0`;
  const [from, to] = [`${major}.${minor}`, `${major}.${minor + 1}`];
  cutVersion(next, { repoRoot: dir, date: "2027-01-02" });
  assert.match(read(dir, "src/cli/commands.ts"), new RegExp(`DEFAULT_TYPE_HANDLER_VERSION = "${to.replace(".", "\\.")}"`));
  for (const file of ["policy/omsagent-linux-vm.json", "policy/omsagent-linux-initiative.json"]) {
    assert.match(read(dir, file), new RegExp(`"defaultValue": "${to.replace(".", "\\.")}"`), file);
  }
  const readme = read(dir, "README.md");
  assert.doesNotMatch(
    readme,
    new RegExp(`"typeHandlerVersion": "${from}"|typeHandlerVersion: '${from}'|--version ${from}(?![.\\d])|-TypeHandlerVersion ${from}(?![.\\d])`),
  );
  assert.match(readme, new RegExp(`-TypeHandlerVersion ${to.replace(".", "\\.")}`));
});

test("the command line: bad or missing versions are refused, nothing is written", () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ["--import", "tsx", join(REPO_ROOT, "scripts", "version-cut.ts"), ...args], { encoding: "utf8" });
  const none = cli([]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /usage: npm run version:cut -- MAJOR\.MINOR\.PATCH/);
  const bad = cli(["v2"]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /must be MAJOR\.MINOR\.PATCH/);
  const older = cli(["0.0.1"]);
  assert.equal(older.status, 1);
  assert.match(older.stderr, /not newer/);
});
