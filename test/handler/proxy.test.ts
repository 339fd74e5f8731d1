import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { resolveProxy } from "../../src/handler/connectivity.ts";
import { systemPaths } from "../../src/handler/paths.ts";
import { parseProcessEnvironment } from "../../src/handler/process-env.ts";
import type { Settings } from "../../src/handler/settings.ts";
import { makeTempDir } from "../../simulator/system-root.ts";

const settings = (proxy?: string): Settings => ({
  public: { workspaceId: "0123abcd-1111-2222-3333-444455556666", skipDockerProviderInstall: false, stopOnMultipleConnections: false },
  protected: { workspaceKey: "YWJj", ...(proxy ? { proxy } : {}) },
  warnings: [],
  hash: "",
});

test("proxy: protected settings, then the Arc agent's proxy.url, then the environment, else none", () => {
  const root = makeTempDir();
  const paths = systemPaths(root);
  assert.deepEqual(resolveProxy(settings(), paths, parseProcessEnvironment({})), { source: "none" });
  assert.deepEqual(resolveProxy(settings(), paths, parseProcessEnvironment({ https_proxy: "http://env:3128" })), {
    value: "http://env:3128",
    source: "environment (https_proxy)",
  });

  mkdirSync(join(root, "opt/azcmagent/bin"), { recursive: true });
  writeFileSync(join(root, "opt/azcmagent/bin/himds"), "");
  mkdirSync(join(root, "var/opt/azcmagent"), { recursive: true });
  writeFileSync(join(root, "var/opt/azcmagent/localconfig.json"), JSON.stringify({ config: { "proxy.url": "http://arc-proxy:8080" } }));
  assert.deepEqual(resolveProxy(settings(), paths, parseProcessEnvironment({ https_proxy: "http://env:3128" })), {
    value: "http://arc-proxy:8080",
    source: "Azure Arc agent configuration",
  });

  assert.deepEqual(resolveProxy(settings("http://u:p@set:1"), paths, parseProcessEnvironment({ https_proxy: "http://env:3128" })), {
    value: "http://u:p@set:1",
    source: "protected settings",
  });
});

function arcMachine(config: Record<string, unknown>) {
  const root = makeTempDir();
  mkdirSync(join(root, "opt/azcmagent/bin"), { recursive: true });
  writeFileSync(join(root, "opt/azcmagent/bin/himds"), "");
  mkdirSync(join(root, "var/opt/azcmagent"), { recursive: true });
  writeFileSync(join(root, "var/opt/azcmagent/localconfig.json"), JSON.stringify({ config }));
  return systemPaths(root);
}

test("Arc's proxy.bypass covering the Log Analytics service means no Arc proxy, and the choice says why", () => {
  for (const bypass of [["opinsights.azure.com"], ["Arc", "*.opinsights.azure.com"], ".azure.com", "https://opinsights.azure.com/", ["*"]]) {
    const paths = arcMachine({ "proxy.url": "http://arc-proxy:8080", "proxy.bypass": bypass });
    const choice = resolveProxy(settings(), paths, parseProcessEnvironment({}), "opinsights.azure.com");
    assert.equal(choice.value, undefined, JSON.stringify(bypass));
    assert.equal(choice.source, "none");
    assert.match((choice.skipped ?? []).join(" "), /Azure Arc proxy\.url .*proxy\.bypass/);
  }
  // The same proxy handed down in the environment by the Arc agent is bypassed too; another one is not.
  const paths = arcMachine({ "proxy.url": "http://arc-proxy:8080", "proxy.bypass": ["opinsights.azure.com"] });
  assert.equal(resolveProxy(settings(), paths, parseProcessEnvironment({ https_proxy: "http://arc-proxy:8080" }), "opinsights.azure.com").value, undefined);
  assert.equal(
    resolveProxy(settings(), paths, parseProcessEnvironment({ https_proxy: "http://other:3128" }), "opinsights.azure.com").value,
    "http://other:3128",
  );
  // Entries for other services (Arc, ARM, AAD) or another cloud do not cover Log Analytics.
  for (const bypass of [["Arc", "ARM", "AAD"], ["opinsights.azure.us"], ["azure.com.evil.example"]]) {
    const choice = resolveProxy(
      settings(),
      arcMachine({ "proxy.url": "http://arc-proxy:8080", "proxy.bypass": bypass }),
      parseProcessEnvironment({}),
      "opinsights.azure.com",
    );
    assert.equal(choice.value, "http://arc-proxy:8080", JSON.stringify(bypass));
  }
});
