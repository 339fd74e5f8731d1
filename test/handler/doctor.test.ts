// doctor's rules that need no simulated machine: the OMS bundle's OpenSSL rule, the runtime's floors, proxy
// credentials, and the warning when not run as root.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { bundleAcceptsOpenSsl, cpuCheck, kernelCheck } from "../../src/handler/doctor/checks.ts";
import { runDoctor } from "../../src/handler/doctor/index.ts";
import { parseProxy, ProxyCredentialsError } from "../../src/handler/doctor/network.ts";

const dir = mkdtempSync(join(tmpdir(), "doctor-unit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("OpenSSL: the 1.19.0 bundle's rule (bundle_skel.sh ulinux_detect_openssl_version): 1.0.1+, 1.1.x and 3.0.x", () => {
  for (const version of ["1.0.1e", "1.0.2k", "1.1.0l", "1.1.1f", "3.0.2", "3.0.13"]) assert.equal(bundleAcceptsOpenSsl(version), true, version);
  for (const version of ["0.9.8", "1.0.0", "1.0.0t", "3.1.4", "3.2.2", "3.5.0"]) assert.equal(bundleAcceptsOpenSsl(version), false, version);
});

test("runtime floors: Linux 3.10 and a CPU with SSE4.2; unreadable facts are SKIP, not PASS", () => {
  assert.equal(kernelCheck("3.10.0-1160.el7.x86_64").ok, true);
  assert.equal(kernelCheck("5.15.0-1019-azure").ok, true);
  const old = kernelCheck("2.6.32-754.el6.x86_64");
  assert.equal(old.ok, false);
  assert.match(old.detail, /older than 3\.10/);
  assert.equal(kernelCheck("weird").skipped, true);

  const modern = join(dir, "cpuinfo-modern");
  writeFileSync(modern, "processor\t: 0\nflags\t\t: fpu vme sse sse2 ssse3 sse4_1 sse4_2 popcnt avx avx2\n");
  assert.equal(cpuCheck(modern).ok, true);
  const core2 = join(dir, "cpuinfo-core2");
  writeFileSync(core2, "processor\t: 0\nflags\t\t: fpu vme sse sse2 ssse3 sse4_1\n");
  const failed = cpuCheck(core2);
  assert.equal(failed.ok, false);
  assert.match(failed.detail, /no SSE4\.2 \(older than Nehalem\)/);
  const missing = cpuCheck(join(dir, "nope"));
  assert.deepEqual([missing.ok, missing.skipped], [true, true]);
});

test("proxy credentials are percent-decoded before any connection; a malformed escape is its own error", () => {
  assert.deepEqual(parseProxy("http://user:p%40ss@proxy.contoso.com:3128"), {
    endpoint: { host: "proxy.contoso.com", port: 3128 },
    authorization: `Basic ${Buffer.from("user:p@ss").toString("base64")}`,
  });
  assert.deepEqual(parseProxy("proxy.contoso.com"), { endpoint: { host: "proxy.contoso.com", port: 3128 } });
  assert.throws(
    () => parseProxy("http://user:50%off@proxy:3128"),
    (error: unknown) => {
      assert.ok(error instanceof ProxyCredentialsError);
      assert.doesNotMatch(error.message, /50%off/);
      return true;
    },
  );
});

test("not run as root: a warning on stderr, and the checks still run", async () => {
  const root = mkdtempSync(join(dir, "root-"));
  let stdout = "";
  let stderr = "";
  const code = await runDoctor(
    ["--offline"],
    join(root, "ext"),
    { OMS_HANDLER_ROOT: root, PATH: process.env.PATH },
    {
      stdout: (text) => (stdout += text),
      stderr: (text) => (stderr += text),
    },
    { uid: 1000 },
  );
  assert.equal(code, 1, stdout);
  assert.match(stderr, /warning: not running as root \(uid 1000\).*run it with sudo/);
  assert.match(stdout, /^FAIL {2}agent +installed +the Log Analytics agent is not installed/m);
  // No install has failed on record: the fix does not send the reader to a status that does not exist.
  assert.doesNotMatch(stdout, /install status/);
  assert.match(stdout, /^SKIP {2}history +status and log +no HandlerEnvironment\.json/m);

  let quiet = "";
  await runDoctor(["--help"], root, {}, { stdout: () => {}, stderr: (text) => (quiet += text) }, { uid: 0 });
  assert.equal(quiet, "", "no warning for root");
});
