import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { domainForEnvironment, metadataUrl } from "../../src/handler/metadata.ts";
import { systemPaths } from "../../src/handler/paths.ts";
import { parseProcessEnvironment } from "../../src/handler/process-env.ts";
import { makeTempDir } from "../../simulator/system-root.ts";

test("Azure VMs ask 169.254.169.254; Arc machines ask HIMDS from azcmagent.conf or IMDS_ENDPOINT", () => {
  const root = makeTempDir();
  assert.equal(metadataUrl(systemPaths(root), parseProcessEnvironment({})), "http://169.254.169.254/metadata/instance?api-version=2021-02-01");
  mkdirSync(join(root, "lib/systemd/system.conf.d"), { recursive: true });
  writeFileSync(
    join(root, "lib/systemd/system.conf.d/azcmagent.conf"),
    '[Manager]\nDefaultEnvironment="IMDS_ENDPOINT=http://localhost:40342" "IDENTITY_ENDPOINT=http://localhost:40342/metadata/identity/oauth2/token"\n',
  );
  assert.equal(metadataUrl(systemPaths(root), parseProcessEnvironment({})), "http://localhost:40342/metadata/instance?api-version=2020-06-01");
  assert.equal(
    metadataUrl(systemPaths(root), parseProcessEnvironment({ IMDS_ENDPOINT: "http://127.0.0.1:9/" })),
    "http://127.0.0.1:9/metadata/instance?api-version=2020-06-01",
  );
  assert.equal(metadataUrl(systemPaths(root), parseProcessEnvironment({ OMS_HANDLER_IMDS_ENDPOINT: "off" })), undefined);
});

test("cloud names map to service domains, case-insensitively", () => {
  assert.equal(domainForEnvironment("AzurePublicCloud"), "opinsights.azure.com");
  assert.equal(domainForEnvironment("azureusgovernmentcloud"), "opinsights.azure.us");
  assert.equal(domainForEnvironment("AzureChinaCloud"), "opinsights.azure.cn");
  assert.equal(domainForEnvironment("USNat"), "opinsights.azure.eaglex.ic.gov");
  assert.equal(domainForEnvironment("USSec"), "opinsights.azure.microsoft.scloud");
  assert.equal(domainForEnvironment("Mars"), undefined);
  assert.equal(domainForEnvironment(undefined), undefined);
});
