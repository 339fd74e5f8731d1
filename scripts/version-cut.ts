// Cuts a release version in one step:
//
//   npm run version:cut -- 1.19.1
//
// Changes together everything that names the extension's version: manifest.xml's <Version> (the package's single
// source), the root and cli/ package.json, package-lock.json, the artefact names in the documents
// (omsagent-fleet-<v>.tgz, <publisher>.OmsAgentForLinux-<v>[-simulated].zip), and CHANGELOG.md (its "Unreleased" section
// becomes the new version's, dated today, with a fresh empty "Unreleased" above it). When major.minor changes, the
// typeHandlerVersion that deployments ask for follows too: the fleet CLI's default, the Policy definitions'
// default and the documents' deployment examples. The OMS bundle's own version (omsagent-1.19.0-0.universal.x64.sh)
// is another product's and is left alone. Refuses a version that is not greater than the current one.
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { compareVersions } from "../src/shared/versions.ts";
import { EXTENSION_TYPE } from "../src/shared/identity.ts";
import { escapeRegExp } from "../src/shared/redact.ts";
import { readManifestXmlVersion, REPO_ROOT, VERSION_PATTERN } from "./stage.ts";

/** Documents that show artefact names or deployment examples. */
const DOCUMENTS = ["README.md", "cli/README.md", "docs/fleet-cli.md"];
const POLICIES = [
  "policy/omsagent-linux-vm.json",
  "policy/omsagent-linux-vmss.json",
  "policy/omsagent-linux-arc.json",
  "policy/omsagent-linux-initiative.json",
];

const majorMinor = (version: string) => version.split(".").slice(0, 2).join(".");

export interface CutResult {
  from: string;
  to: string;
  changed: string[];
}

export function cutVersion(to: string, options: { repoRoot?: string; date?: string } = {}): CutResult {
  const root = resolve(options.repoRoot ?? REPO_ROOT);
  if (!VERSION_PATTERN.test(to)) throw new Error(`the version must be MAJOR.MINOR.PATCH, e.g. 1.19.1; got ${JSON.stringify(to)}`);
  const from = readManifestXmlVersion(root);
  if (compareVersions(to, from) <= 0) throw new Error(`${to} is not newer than the current version ${from} (manifest.xml)`);
  const date = options.date ?? new Date().toISOString().slice(0, 10);
  const changed: string[] = [];

  const edit = (file: string, change: (text: string) => string, required = true) => {
    const path = join(root, file);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      if (!required) return;
      throw error;
    }
    const next = change(text);
    if (next !== text) {
      writeFileSync(path, next);
      changed.push(file);
    } else if (required) {
      throw new Error(`${file}: found nothing to change from ${from} to ${to}`);
    }
  };

  edit("manifest.xml", (xml) => xml.replace(`<Version>${from}</Version>`, `<Version>${to}</Version>`));
  for (const file of ["package.json", "cli/package.json"]) {
    edit(file, (text) => text.replace(new RegExp(`^(  "version": )"${escapeRegExp(from)}"`, "m"), `$1"${to}"`));
  }
  edit("package-lock.json", (text) => {
    const lock = JSON.parse(text) as { version?: string; packages?: Record<string, { version?: string }> };
    if (lock.version === from) lock.version = to;
    if (lock.packages?.[""]?.version === from) lock.packages[""].version = to;
    return `${JSON.stringify(lock, null, 2)}\n`;
  });

  // Any namespace: the documents also show packages built with --publisher.
  const artefacts = new RegExp(`(omsagent-fleet-|${escapeRegExp(EXTENSION_TYPE)}-)${escapeRegExp(from)}(?=(-simulated)?\\.(tgz|zip)\\b)`, "g");
  const fromMinor = majorMinor(from);
  const toMinor = majorMinor(to);
  const minorChanged = fromMinor !== toMinor;
  // Deployment examples: the spellings of typeHandlerVersion in ARM/Bicep, az, PowerShell and the CLI's own help.
  const handlerVersion = new RegExp(
    `((?:"typeHandlerVersion": |typeHandlerVersion: |--version |--type-handler-version |-TypeHandlerVersion |"defaultValue": |DEFAULT_TYPE_HANDLER_VERSION = |default )["']?)${escapeRegExp(fromMinor)}(?![.\\d])`,
    "g",
  );
  for (const file of DOCUMENTS) {
    edit(
      file,
      (text) => {
        let next = text.replace(artefacts, `$1${to}`);
        if (minorChanged) next = next.replace(handlerVersion, `$1${toMinor}`);
        return next;
      },
      false,
    );
  }
  if (minorChanged) {
    for (const file of [...POLICIES, "src/cli/commands.ts", "src/cli/args.ts"]) edit(file, (text) => text.replace(handlerVersion, `$1${toMinor}`));
  }

  edit("CHANGELOG.md", (text) => {
    if (new RegExp(`^## \\[?${escapeRegExp(to)}\\]?`, "m").test(text)) throw new Error(`CHANGELOG.md already has a section for ${to}`);
    if (!/^## Unreleased[ \t]*$/m.test(text)) throw new Error('CHANGELOG.md has no "## Unreleased" section to turn into the release');
    return text.replace(/^## Unreleased[ \t]*$/m, `## Unreleased\n\n## ${to} — ${date}`);
  });
  return { from, to, changed };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const [to, ...rest] = process.argv.slice(2);
  if (!to || rest.length > 0 || to === "--help" || to === "-h") {
    console.error("usage: npm run version:cut -- MAJOR.MINOR.PATCH");
    process.exit(to === "--help" || to === "-h" ? 0 : 2);
  }
  try {
    const result = cutVersion(to);
    console.log(`${result.from} → ${result.to}: ${result.changed.join(", ")}`);
    console.log("next: review `git diff`, write the release notes under the new CHANGELOG.md heading, commit, tag v" + result.to);
  } catch (error) {
    console.error(`version:cut: ${(error as Error).message}`);
    process.exit(1);
  }
}
