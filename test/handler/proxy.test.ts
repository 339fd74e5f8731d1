import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { resolveProxy } from "../../src/handler/operations/enable.ts";
import { systemPaths } from "../../src/handler/paths.ts";
import type { Settings } from "../../src/handler/settings.ts";
import { makeTempDir } from "../support/system-root.ts";

const settings = (proxy?: string): Settings => ({
  public: { workspaceId: "0123abcd-1111-2222-3333-444455556666", skipDockerProviderInstall: false, stopOnMultipleConnections: false },
  protected: { workspaceKey: "YWJj", ...(proxy ? { proxy } : {}) },
  warnings: [],
  hash: "",
});

test("proxy: protected settings, then the Arc agent's proxy.url, then the environment, else none", () => {
  const root = makeTempDir();
  const paths = systemPaths(root);
  assert.deepEqual(resolveProxy(settings(), paths, {}), { source: "none" });
  assert.deepEqual(resolveProxy(settings(), paths, { https_proxy: "http://env:3128" }), { value: "http://env:3128", source: "environment (https_proxy)" });

  mkdirSync(join(root, "opt/azcmagent/bin"), { recursive: true });
  writeFileSync(join(root, "opt/azcmagent/bin/himds"), "");
  mkdirSync(join(root, "var/opt/azcmagent"), { recursive: true });
  writeFileSync(join(root, "var/opt/azcmagent/localconfig.json"), JSON.stringify({ config: { "proxy.url": "http://arc-proxy:8080" } }));
  assert.deepEqual(resolveProxy(settings(), paths, { https_proxy: "http://env:3128" }), { value: "http://arc-proxy:8080", source: "Azure Arc agent configuration" });

  assert.deepEqual(resolveProxy(settings("http://u:p@set:1"), paths, { https_proxy: "http://env:3128" }), { value: "http://u:p@set:1", source: "protected settings" });
});
