// The fleet CLI as a new operator first meets it: version, help per command, no arguments, start-up cost of
// help and validate, messages the redactor must leave alone, and the combined settings document.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { runCli, WORKSPACE_ID, WORKSPACE_KEY } from "./helpers.ts";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const version = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "fleet-operator-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("first contact", () => {
  test("--version prints the CLI's version", async () => {
    const r = await runCli(["--version"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `omsagent-fleet ${version}`);
  });

  test("<command> --help prints that command's help, not everyone's", async () => {
    const deploy = await runCli(["deploy", "--help"]);
    assert.equal(deploy.code, 0);
    assert.match(deploy.stdout, /^Usage:\n {2}omsagent-fleet deploy {3}--settings/);
    assert.match(deploy.stdout, /--max-failures/);
    assert.doesNotMatch(deploy.stdout, /omsagent-fleet status|Diagnose:/);
    const status = await runCli(["status", "--help"]);
    assert.doesNotMatch(status.stdout, /--batch|--protected-settings/);
    assert.match(status.stdout, /Exit status:/);
    assert.match((await runCli(["validate", "--help"])).stdout, /\{"settings": \{…\}, "protectedSettings": \{…\}\}/);
  });

  test("no arguments is a usage error: usage on stderr, exit 2", async () => {
    const r = await runCli([]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^omsagent-fleet — roll the OmsAgentForLinux/);
  });

  test("--help and validate never load the Azure SDK", async () => {
    const hooks = join(dir, "hooks.mjs");
    const register = join(dir, "register.mjs");
    await writeFile(
      hooks,
      'export async function resolve(specifier, context, next) {\n  if (specifier.startsWith("@azure/")) throw new Error(`Azure SDK loaded: ${specifier}`);\n  return next(specifier, context);\n}\n',
    );
    await writeFile(register, `import { register } from "node:module";\nregister(${JSON.stringify(new URL(`file://${hooks}`).href)});\n`);
    const settings = join(dir, "settings.json");
    await writeFile(settings, JSON.stringify({ workspaceId: WORKSPACE_ID }));
    for (const args of [["--help"], ["deploy", "--help"], ["validate", "--settings", `@${settings}`]]) {
      const r = spawnSync(process.execPath, ["--import", "tsx", "--import", register, join(repoRoot, "src/cli/main.ts"), ...args], {
        cwd: repoRoot,
        encoding: "utf8",
        timeout: 60_000,
      });
      assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /Azure SDK loaded/);
    }
  });
});

describe("messages", () => {
  test("a proxy password that is a plain word never rewrites the CLI's own words", async () => {
    const prot = join(dir, "word-proxy.json");
    await writeFile(prot, JSON.stringify({ workspaceKey: WORKSPACE_KEY, proxy: "http://user:pass@proxy.contoso.example:3128" }));
    const r = await runCli(["validate", "--protected-settings", `@${prot}`, "--settings", join(dir, "missing.json")]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no such file; pass a JSON file, @file, inline JSON, or - for stdin/);
    assert.doesNotMatch(r.stderr, /\*\*\* a JSON file/);
  });

  test("validate recognises a combined {settings, protectedSettings} document, says so, and checks both parts", async () => {
    const doc = join(dir, "combined.json");
    await writeFile(doc, JSON.stringify({ settings: { workspaceId: WORKSPACE_ID }, protectedSettings: { workspaceKey: "not base64!" } }));
    const r = await runCli(["validate", "--settings", `@${doc}`]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stdout, /^protectedSettings\.workspaceKey /m);
    assert.match(r.stderr, /1 problem in a combined \{settings, protectedSettings\} document from .*combined\.json \(both parts checked\)/);
    assert.doesNotMatch(r.stdout + r.stderr, /settings\.settings|settings\.protectedSettings/);
    await writeFile(doc, JSON.stringify({ settings: { workspaceId: WORKSPACE_ID }, protectedSettings: { workspaceKey: WORKSPACE_KEY } }));
    const ok = await runCli(["validate", "--settings", `@${doc}`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /^valid: a combined \{settings, protectedSettings\} document/m);
    // deploy sends the two parts separately and says how.
    const deploy = await runCli(["deploy", "--settings", `@${doc}`, "--protected-settings", `@${doc}`, "/subscriptions/x"]);
    assert.equal(deploy.code, 2);
    assert.match(deploy.stderr, /is a combined \{settings, protectedSettings\} document; deploy sends the two separately/);
  });
});
