import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorCodes, ExtensionError, isExtensionCode, toExtensionError } from "../../src/handler/errors.ts";
import { failureMessage, safeExitCode } from "../../src/handler/invocation.ts";

test("every published code lies in 9–63", () => {
  for (const code of Object.keys(ErrorCodes).map(Number)) {
    assert.ok(code >= 9 && code <= 63, `code ${code}`);
  }
});

test("exit codes outside the table become 30", () => {
  assert.equal(safeExitCode(0), 0);
  assert.equal(safeExitCode(52), 52);
  for (const code of [1, 2, 8, 12, 64, 127, -1, 255]) assert.equal(safeExitCode(code), 30);
  assert.ok(isExtensionCode(10));
  assert.ok(!isExtensionCode(12));
});

test("failure messages follow '<Operation> failed (<code> <Reason>): <cause> — <action>'", () => {
  const error = new ExtensionError(
    "PackageManagerLocked",
    "dpkg lock held by pid 812 (unattended-upgr) for 600 s",
    "wait for it to finish or stop it, then retry",
  );
  assert.equal(
    failureMessage("install", error),
    "Install failed (55 PackageManagerLocked): dpkg lock held by pid 812 (unattended-upgr) for 600 s — wait for it to finish or stop it, then retry",
  );
});

test("unexpected exceptions become 30 with a readable message", () => {
  const error = toExtensionError(new TypeError("x is undefined\n    at somewhere"));
  assert.equal(error.code, 30);
  assert.equal(error.reason, "UnexpectedError");
  assert.match(error.problem, /x is undefined/);
  assert.doesNotMatch(error.problem, /somewhere/);
});
