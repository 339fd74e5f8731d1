// The handler ships its settings validators precompiled (scripts/settings-validators.mjs, built into
// dist/handler by scripts/build.mjs); the fleet CLI and the source compile them with ajv at run time. Both must
// decide every input the same way, with the same problems: checked here against the shipped chunk itself.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import { REPO_ROOT } from "../scripts/stage.ts";
import * as runtime from "../src/shared/settings-schema.ts";

type Checks = Pick<typeof runtime, "checkPublicSettings" | "checkProtectedSettings">;

const CHUNKS = join(REPO_ROOT, "dist", "handler", "chunks");

async function shipped(): Promise<Checks & { source: string }> {
  const name = readdirSync(CHUNKS).find((file) => /^settings-schema-.*\.mjs$/.test(file));
  assert.ok(name, `no settings-schema chunk in ${CHUNKS}: run node scripts/build.mjs first`);
  const module = (await import(pathToFileURL(join(CHUNKS, name)).href)) as Checks;
  return { ...module, source: readFileSync(join(CHUNKS, name), "utf8") };
}

const GUID = "0123abcd-1111-2222-3333-444455556666";
const KEY = Buffer.alloc(64, 7).toString("base64");

const PUBLIC: unknown[] = [
  { workspaceId: GUID },
  { workspaceId: GUID.toUpperCase(), skipDockerProviderInstall: "TRUE", stopOnMultipleConnections: false },
  { workspaceId: GUID, stopOnMultipleConnections: "yes" },
  { workspaceId: GUID, skipDockerProviderInstall: 1 },
  { workspaceId: `${GUID}\nrm -rf /` },
  { workspaceId: "" },
  { workspaceId: 42 },
  { workspaceId: GUID, azureResourceId: "x", somethingElse: { nested: true } },
  {},
  { workspaceId: null, skipDockerProviderInstall: [], stopOnMultipleConnections: {} },
  null,
  [],
  "text",
];

const PROTECTED: unknown[] = [
  { workspaceKey: KEY },
  { workspaceKey: KEY, proxy: "http://user:p%40ss@proxy.example:3128", domain: "opinsights.azure.us", vmResourceId: "" },
  { workspaceKey: KEY, proxy: "proxy.example:65536" },
  { workspaceKey: KEY, proxy: "user:pa*s@proxy.example" },
  { workspaceKey: KEY, proxy: "ü@proxy.example" },
  { workspaceKey: KEY, vmResourceId: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm" },
  { workspaceKey: KEY, vmResourceId: "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/microsoft.hybridcompute/machines/m" },
  { workspaceKey: KEY, vmResourceId: "/subscriptions/x/resourceGroups/rg" },
  { workspaceKey: KEY, domain: "-bad-.example" },
  { workspaceKey: "abc" },
  { workspaceKey: "" },
  { workspaceKey: "𝄞".repeat(8) },
  { workspaceKey: KEY, extra: 1 },
  { proxy: "proxy.example:3128" },
  { workspaceKey: 5, proxy: true, domain: null },
  null,
  [KEY],
];

test("the shipped validators are precompiled: no ajv compiler in the handler's settings chunk", async () => {
  const { source } = await shipped();
  assert.doesNotMatch(source, /new Ajv\b|\.compile\(/);
  assert.ok(source.length < 60_000, `settings chunk is ${source.length} bytes`);
});

test("the shipped and the run-time validators decide every input alike, with the same problems", async () => {
  const built = await shipped();
  for (const input of PUBLIC) assert.deepEqual(built.checkPublicSettings(input), runtime.checkPublicSettings(input), JSON.stringify(input));
  for (const input of PROTECTED) assert.deepEqual(built.checkProtectedSettings(input), runtime.checkProtectedSettings(input), JSON.stringify(input));
  // The corpus exercises both outcomes of each check.
  for (const check of [PUBLIC.map(runtime.checkPublicSettings), PROTECTED.map(runtime.checkProtectedSettings)]) {
    assert.ok(check.some((r) => r.ok) && check.some((r) => !r.ok));
  }
});
