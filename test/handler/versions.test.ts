// Update, downgrade and "part of an update" are decided by comparing versions as versions.
import assert from "node:assert/strict";
import { test } from "node:test";
import { uninstall } from "../../src/handler/operations/uninstall.ts";
import { update } from "../../src/handler/operations/update.ts";
import { compareVersions } from "../../src/shared/versions.ts";
import { operationContext } from "../support/operation-context.ts";

test("versions compare numerically, component by component, missing components being 0", () => {
  assert.equal(compareVersions("1.19.0", "1.19.0.0"), 0);
  assert.equal(compareVersions("1.19.0", "1.19"), 0);
  assert.ok(compareVersions("1.9.0", "1.19.0") < 0);
  assert.ok(compareVersions("1.19.10", "1.19.9") > 0);
  assert.ok(compareVersions("2.0", "1.99.99.99") > 0);
});

test("update with VERSION=1.19.0.0 run by 1.19.0 is not a downgrade", async () => {
  const ctx = operationContext({
    version: "1.19.0",
    operation: "update",
    processEnv: { VERSION: "1.19.0.0", AZURE_GUEST_AGENT_UPDATING_FROM_VERSION: "1.18.0" },
  });
  const outcome = await update(ctx);
  assert.match(outcome.message, /from 1\.18\.0 to 1\.19\.0;/);
  assert.deepEqual({ ...ctx.state.updateMarker(), at: undefined }, { fromVersion: "1.18.0", toVersion: "1.19.0", at: undefined });
});

test("the uninstall of the version being updated from recognises itself when the marker spells the version differently", async () => {
  const ctx = operationContext({ version: "1.19.0", operation: "uninstall" });
  ctx.state.markUpdate({ fromVersion: "1.19.0.0", toVersion: "1.19.1", at: new Date().toISOString() });
  const outcome = await uninstall(ctx);
  assert.match(outcome.message, /removed as part of the update to 1\.19\.1/);
  assert.equal(outcome.purgeState, undefined);
});

test("the uninstall of the version being updated to is real even when the marker spells it differently", async () => {
  const ctx = operationContext({ version: "1.19.1", operation: "uninstall" });
  ctx.state.markUpdate({ fromVersion: "unknown", toVersion: "1.19.1.0", at: new Date().toISOString() });
  const outcome = await uninstall(ctx);
  assert.equal(outcome.purgeState, true);
});
