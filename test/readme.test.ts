// The README's error-code table and settings reference are part of the product: keep them true.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { ErrorCodes } from "../src/handler/errors.ts";
import { ReasonCodes } from "../src/handler/reasons.ts";
import publicSchema from "../schemas/public-settings.schema.json" with { type: "json" };
import protectedSchema from "../schemas/protected-settings.schema.json" with { type: "json" };

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

test("every error code has a row in the README's table", () => {
  for (const code of Object.keys(ErrorCodes)) assert.match(readme, new RegExp(`^\\| ${code} \\| `, "m"), `code ${code}`);
});

test("every reason the handler can report is listed in its code's row", () => {
  const reasons = Object.entries(ReasonCodes);
  assert.ok(reasons.length > 50, `found ${reasons.length} reasons`);
  for (const [reason, code] of reasons) {
    const row = readme.split("\n").find((line) => line.startsWith(`| ${code} | `));
    assert.ok(row?.includes(`\`${reason}\``), `README row for ${code} lacks ${reason}`);
  }
});

test("every reason a README row names is a reason the handler reports under that row's code", () => {
  const table = readme.slice(readme.indexOf("## Error codes"), readme.indexOf("## Where status"));
  const named = table.split("\n").filter((line) => /^\| \d+ \| /.test(line));
  assert.ok(named.length >= Object.keys(ErrorCodes).length);
  for (const line of named) {
    const [, code, , reasons] = line.split(/\s*\|\s*/);
    for (const [, reason] of reasons!.matchAll(/`([A-Z][A-Za-z]+)`/g)) {
      assert.equal(ReasonCodes[reason as keyof typeof ReasonCodes], Number(code), `README row for ${code} names ${reason}`);
    }
  }
});

test("every setting in the schemas is in the settings reference", () => {
  for (const key of [...Object.keys(publicSchema.properties), ...Object.keys(protectedSchema.properties)]) {
    assert.match(readme, new RegExp(`^\\| \`${key}\` \\|`, "m"), key);
  }
});

test("the quick start is two commands, and CI runs the README's test command", () => {
  const quickStart = /## Quick start[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  const commands = quickStart.split("\n").filter((line) => line.trim() !== "");
  assert.equal(commands.length, 2);
  const testCommand = commands[1]!.split("#")[0]!.trim();
  assert.equal(testCommand, "npm test");
  const ci = readFileSync(new URL("../.ci/run", import.meta.url), "utf8");
  assert.match(ci, /^npm test$/m);
});

// Every document a reader is pointed to must be in the repository, and every version it names must be the one built.
const DOCUMENTS = ["README.md", "docs/fleet-cli.md", "simulator/README.md", "cli/README.md", "CHANGELOG.md"];
const repoFile = (path: string) => new URL(`../${path}`, import.meta.url);
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");

test("every relative link in the documents resolves, anchors included; no section numbers of documents outside the repository", () => {
  for (const document of DOCUMENTS) {
    const text = readFileSync(repoFile(document), "utf8");
    assert.doesNotMatch(text, /§/, `${document} cites a section of a document that is not in the repository`);
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target!)) continue;
      const [path, anchor] = target!.split("#");
      const resolved = path ? new URL(path, repoFile(document)) : repoFile(document);
      assert.ok(existsSync(resolved), `${document}: ${target} does not exist`);
      if (anchor) {
        const headings = readFileSync(resolved, "utf8")
          .split("\n")
          .filter((line) => /^#{1,6} /.test(line))
          .map((line) => slug(line.replace(/^#+ /, "")));
        assert.ok(headings.includes(anchor), `${document}: #${anchor} is not a heading of ${path || document}`);
      }
    }
  }
});

test("every version the documents name agrees with manifest.xml; CHANGELOG.md has its section", () => {
  const version = /<Version>([^<]+)<\/Version>/.exec(readFileSync(repoFile("manifest.xml"), "utf8"))![1]!;
  const majorMinor = version.split(".").slice(0, 2).join(".");
  let artefacts = 0;
  for (const document of ["README.md", "docs/fleet-cli.md", "cli/README.md"]) {
    const text = readFileSync(repoFile(document), "utf8");
    for (const [, named] of text.matchAll(/(?:omsagent-fleet-|OmsAgentForLinux-)(\d+\.\d+\.\d+)(?:-simulated)?\.(?:tgz|zip)/g)) {
      artefacts++;
      // `--version 1.19.1` builds another version on purpose; every artefact name shown is the current one's.
      assert.equal(named, version, `${document} names ${named}`);
    }
    for (const [, named] of text.matchAll(/(?:"typeHandlerVersion": "|typeHandlerVersion: '|-TypeHandlerVersion |--type-handler-version )(\d+\.\d+)\b/g)) {
      assert.equal(named, majorMinor, `${document}: typeHandlerVersion ${named}`);
    }
  }
  assert.ok(artefacts >= 5, `found ${artefacts} artefact names`);
  for (const file of ["package.json", "cli/package.json"]) {
    assert.equal((JSON.parse(readFileSync(repoFile(file), "utf8")) as { version: string }).version, version, file);
  }
  assert.match(
    readFileSync(repoFile("CHANGELOG.md"), "utf8"),
    new RegExp(`^## Unreleased$[\\s\\S]*^## ${version.replace(/\./g, "\\.")} — \\d{4}-\\d\\d-\\d\\d$`, "m"),
  );
});

test("what the README says of the runtime binary is what npm ci installed", () => {
  const sha = /both sha256 `([0-9a-f]{64})`/.exec(readme)?.[1];
  assert.ok(sha, "the README names the runtime's sha256");
  const bun = readFileSync(repoFile("node_modules/@oven/bun-linux-x64-baseline/bin/bun"));
  assert.equal(createHash("sha256").update(bun).digest("hex"), sha);
  assert.doesNotMatch(readme, /baseline build does not use AVX2|the regular build does/);
  assert.match(readme, /SSE4\.2 \(Nehalem/);
  assert.match(readme, /Linux 3\.10/);
});

test("the README opens with the agent's retirement and points to the Azure Monitor Agent", () => {
  const top = readme.slice(0, readme.indexOf("## Quick start"));
  assert.match(top, /retired[\s\S]*31 August 2024/);
  assert.match(top, /Azure Monitor Agent\]\(https:\/\/learn\.microsoft\.com\//);
  assert.match(top, /built-in Policy definitions[\s\S]*deprecated/);
});

test("the support matrix names every release that always fails with 60, and the OpenSSL rule doctor applies", () => {
  const matrix = readme.slice(readme.indexOf("| Distribution | Versions |"), readme.indexOf("The OMS bundle accepts only"));
  for (const [name, release] of [
    ["Red Hat Enterprise Linux", "9.5 and later"],
    ["Rocky Linux, AlmaLinux", "9.5 and later"],
    ["SUSE Linux Enterprise Server", "15 SP6 and later"],
    ["openSUSE", "Leap 15.6"],
  ]) {
    const row = matrix.split("\n").find((line) => line.startsWith(`| ${name} |`));
    assert.match(row ?? "", new RegExp(`\\*\\*${release} always fails? with 60\\*\\*`), name);
  }
  assert.match(readme, /accepts only OpenSSL 1\.0\.1 and later 1\.0\.x, 1\.1\.x and 3\.0\.x/);
});
