// `omsagent-shim doctor` on the simulated VM, run through the shim on the shipped runtime: a healthy machine
// is reported healthy, and each broken thing is named with its fix. A loopback TLS server (and a loopback
// CONNECT proxy) stand in for the Log Analytics service.
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chownSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { join } from "node:path";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { after, before, test } from "node:test";
import { createSimulatedVm, WORKSPACE_ID, WORKSPACE_KEY, type SimulatedVm } from "../../simulator/vm.ts";
import { makeTempDir } from "../../simulator/system-root.ts";

const SETTINGS = { publicSettings: { workspaceId: WORKSPACE_ID }, protectedSettings: { workspaceKey: WORKSPACE_KEY } };

interface Check {
  area: string;
  name: string;
  ok: boolean;
  skipped?: true;
  detail: string;
  fix?: string;
}

let tlsDir: string;
let service: TlsServer;
let servicePort: number;
/** What the fake service's Date header is offset by (ms). */
let serviceClockOffset = 0;
const vms: SimulatedVm[] = [];

before(async () => {
  // A certificate for *.oms and *.ods of the public cloud's domain, trusted through OMS_HANDLER_SERVICE_CA.
  tlsDir = makeTempDir("doctor-tls-");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=opinsights test",
      "-addext",
      "subjectAltName=DNS:*.oms.opinsights.azure.com,DNS:*.ods.opinsights.azure.com",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-keyout",
      join(tlsDir, "key.pem"),
      "-out",
      join(tlsDir, "cert.pem"),
    ],
    { stdio: "ignore" },
  );
  service = createTlsServer({ key: readFileSync(join(tlsDir, "key.pem")), cert: readFileSync(join(tlsDir, "cert.pem")) }, (socket) => {
    socket.once("data", () => {
      socket.end(
        `HTTP/1.1 404 Not Found\r\nDate: ${new Date(Date.now() + serviceClockOffset).toUTCString()}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => service.listen(0, "127.0.0.1", resolve));
  servicePort = (service.address() as AddressInfo).port;
});

after(async () => {
  await Promise.all(vms.map((vm) => vm.close()));
  service?.close();
});

/**
 * A VM with the agent installed and onboarded (the simulated packages create the omsagent account and the
 * handler gives it the workspace's files) on an OpenSSL 1.1 machine; `onboardingFault` makes the first enable
 * fail instead.
 */
async function healthyVm(onboardingFault?: string): Promise<{ vm: SimulatedVm; version: string }> {
  const vm = await createSimulatedVm();
  vms.push(vm);
  const version = [...vm.staged.keys()][0]!;
  vm.agent.setup({ dir: vm.staged.get(version)!.dir }, { seq: 0, settings: SETTINGS });
  if (onboardingFault) vm.fault("omsadmin-onboard", onboardingFault, 1);
  const result = await vm.agent.firstInstall(version);
  assert.equal(result.ok, !onboardingFault, JSON.stringify(result.error));
  // This build machine has OpenSSL 3; the machine being simulated has the 1.1 the agent needs.
  const openssl = join(vm.root, "usr/bin/openssl");
  const real = execFileSync("sh", ["-c", "command -v openssl"], { encoding: "utf8" }).trim();
  unlinkSync(openssl);
  writeFileSync(openssl, `#!/bin/sh\nif [ "$1" = version ]; then echo "OpenSSL 1.1.1f  31 Mar 2020"; exit 0; fi\nexec ${real} "$@"\n`, { mode: 0o755 });
  return { vm, version };
}

/** Runs doctor through the shim, asynchronously: the fake service and proxy live in this process. */
async function doctor(vm: SimulatedVm, version: string, args: string[] = [], env: Record<string, string> = {}) {
  const spec = vm.agent.launchSpec(version, "enable");
  const child = spawn("/bin/sh", [join(vm.agent.baseDir(version), "omsagent-shim"), "doctor", "--json", ...args], {
    cwd: spec.cwd,
    env: { ...spec.env, OMS_HANDLER_SERVICE_ADDRESS: `127.0.0.1:${servicePort}`, OMS_HANDLER_SERVICE_CA: join(tlsDir, "cert.pem"), ...env },
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 60_000,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const report = JSON.parse(stdout) as { healthy: boolean; checks: Check[] };
  const failed = report.checks.filter((c) => !c.ok);
  return { status, stderr, report, failed, text: stdout };
}

const named = (checks: Check[], name: string) => checks.find((c) => c.name === name);

test("a healthy machine is reported healthy: every check passes, exit 0", async () => {
  const { vm, version } = await healthyVm();
  const r = await doctor(vm, version);
  assert.deepEqual(r.failed, [], JSON.stringify(r.failed, null, 2));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.report.healthy, true);
  const names = r.report.checks.map((c) => `${c.area}/${c.name}`);
  for (const expected of [
    "machine/runtime",
    "machine/architecture",
    "machine/kernel",
    "machine/cpu",
    "machine/glibc",
    "machine/distribution",
    "machine/free space",
    "machine/tools",
    "machine/openssl",
    "machine/package manager",
    "agent/installed",
    `workspace ${WORKSPACE_ID}/onboarded`,
    `workspace ${WORKSPACE_ID}/key and certificate`,
    `workspace ${WORKSPACE_ID}/service`,
    "agent/proxy",
    "agent/scom",
    "history/Enable",
    "history/extension.log",
    `network ${WORKSPACE_ID}/target`,
    `network ${WORKSPACE_ID}/oms name`,
    `network ${WORKSPACE_ID}/oms tcp 443`,
    `network ${WORKSPACE_ID}/oms tls`,
    `network ${WORKSPACE_ID}/oms clock`,
    `network ${WORKSPACE_ID}/ods tls`,
    `network ${WORKSPACE_ID}/ods clock`,
  ]) {
    assert.ok(names.includes(expected), `${expected} missing from ${names.join(", ")}`);
  }
  assert.match(named(r.report.checks, "runtime")!.detail, /^bun \d/);
  assert.match(named(r.report.checks, "oms tls")!.detail, new RegExp(`verified ${WORKSPACE_ID}\\.oms\\.opinsights\\.azure\\.com's certificate`));

  // The text form: one line per check, then a verdict.
  const text = spawnSync("/bin/sh", [join(vm.agent.baseDir(version), "omsagent-shim"), "doctor", "--offline"], {
    env: vm.agent.launchSpec(version, "enable").env,
    encoding: "utf8",
  });
  assert.equal(text.status, 0, text.stdout);
  assert.match(text.stdout, /^PASS {2}machine +runtime +bun /m);
  assert.match(text.stdout, /^healthy: \d+ checks passed, 1 not checked \(SKIP\)$/m);
  assert.match(text.stdout, /^SKIP {2}network +endpoints +--offline: name resolution, TCP 443, TLS and the clock against the service were not checked$/m);
  assert.doesNotMatch(text.stdout, /^PASS {2}network/m, "--offline looks at no network");
});

test("a broken onboarding: the failed enable is explained with its code, meaning and fix", async () => {
  const { vm, version } = await healthyVm("5-key");
  const r = await doctor(vm, version, ["--offline"]);
  assert.equal(r.status, 1);
  const failed = named(r.failed, "Enable");
  assert.ok(failed, JSON.stringify(r.failed));
  assert.match(failed.detail, /^error 53 \(Configuration rejected by the service\), seq 0/);
  assert.match(failed.fix!, /key/);
  assert.match(named(r.failed, "extension.log")!.detail, /last errors: .*ERROR/);
});

test("a missing tool is named with its fix", async () => {
  const { vm, version } = await healthyVm();
  rmSync(join(vm.root, "usr/bin/curl"));
  const r = await doctor(vm, version, ["--offline"]);
  assert.equal(r.status, 1);
  assert.deepEqual(
    r.failed.map((c) => c.name),
    ["tools"],
  );
  assert.match(r.failed[0]!.detail, /needs curl.*52 CurlMissing/);
  assert.match(r.failed[0]!.fix!, /install curl/);

  // What the fleet CLI asks for through Run Command (which keeps 4 KB of output): the failures and the count.
  const brief = await doctor(vm, version, ["--offline", "--failed-only"]);
  assert.equal(brief.status, 1);
  assert.deepEqual(brief.report.checks, r.failed);
  assert.equal((brief.report as { total?: number }).total, r.report.checks.length);
});

test("a held package-manager lock names its holder", async () => {
  const { vm, version } = await healthyVm();
  const lock = join(vm.root, "var/lib/dpkg/lock-frontend");
  mkdirSync(join(vm.root, "var/lib/dpkg"), { recursive: true });
  writeFileSync(lock, "");
  const holder = spawn("flock", [lock, "sleep", "30"], { stdio: "ignore" });
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const r = await doctor(vm, version, ["--offline"]);
    assert.equal(r.status, 1);
    assert.deepEqual(
      r.failed.map((c) => c.name),
      ["package manager"],
    );
    assert.equal(r.failed[0]!.detail, `/var/lib/dpkg/lock-frontend is held by pid ${holder.pid} (flock)`);
    assert.match(r.failed[0]!.fix!, /wait for that package operation to finish/);
  } finally {
    holder.kill("SIGKILL");
  }
});

test("a full disk is named with its fix", async () => {
  const { vm, version } = await healthyVm();
  const r = await doctor(vm, version, ["--offline"], { OMS_HANDLER_MIN_FREE_MB: String(1024 * 1024 * 1024) });
  assert.equal(r.status, 1);
  assert.deepEqual(
    r.failed.map((c) => c.name),
    ["free space"],
  );
  assert.match(r.failed[0]!.detail, /\/var has \d+ MB free.*52 InsufficientDiskSpace/);
  assert.match(r.failed[0]!.fix!, /free up space/);
});

test("an unreachable endpoint, a skewed clock, a stopped agent and a key the agent cannot read are each named", async () => {
  const { vm, version } = await healthyVm();
  const closed = await new Promise<number>((resolve) => {
    const probe = createHttpServer();
    probe.listen(0, "127.0.0.1", () => {
      const port = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
  let r = await doctor(vm, version, [], { OMS_HANDLER_SERVICE_ADDRESS: `127.0.0.1:${closed}` });
  assert.equal(r.status, 1);
  assert.deepEqual(
    r.failed.map((c) => c.name),
    ["oms tcp 443", "ods tcp 443"],
  );
  assert.match(r.failed[0]!.detail, /cannot connect to .*\.oms\.opinsights\.azure\.com:443/);
  assert.match(r.failed[0]!.fix!, /allow outbound TCP 443/);

  serviceClockOffset = -10 * 60 * 1000;
  try {
    r = await doctor(vm, version);
    assert.deepEqual(
      r.failed.map((c) => c.name),
      ["oms clock", "ods clock"],
    );
    assert.match(r.failed[0]!.detail, /this machine's clock is 6\d\d s ahead of/);
    assert.match(r.failed[0]!.fix!, /synchronise the clock/);
  } finally {
    serviceClockOffset = 0;
  }

  execFileSync(join(vm.root, "opt/microsoft/omsagent/bin/service_control"), ["stop", WORKSPACE_ID], {
    env: { PATH: process.env.PATH, OMS_HANDLER_ROOT: vm.root },
  });
  chownSync(join(vm.root, "etc/opt/microsoft/omsagent", WORKSPACE_ID, "certs/oms.key"), 0, 0);
  r = await doctor(vm, version, ["--offline"]);
  assert.deepEqual(
    r.failed.map((c) => c.name),
    ["key and certificate", "service"],
  );
  assert.match(r.failed[0]!.detail, /certs\/oms\.key is owned by uid 0, not omsagent/);
  assert.match(r.failed[1]!.fix!, new RegExp(`service_control start ${WORKSPACE_ID}`));
});

test("through the agent's proxy: CONNECT tunnels, and the proxy's credentials are never printed", async () => {
  const { vm, version } = await healthyVm();
  const seen: string[] = [];
  const proxy: HttpServer = createHttpServer();
  proxy.on("connect", (req, client) => {
    seen.push(`${req.url} ${req.headers["proxy-authorization"] ?? ""}`);
    const upstream = connect(servicePort, "127.0.0.1", () => {
      client.write("HTTP/1.1 200 Connection established\r\n\r\n");
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  try {
    const port = (proxy.address() as AddressInfo).port;
    writeFileSync(join(vm.root, "etc/opt/microsoft/omsagent/proxy.conf"), `http://doctor-user:Pr0xy-Secret-9@127.0.0.1:${port}\n`);
    const r = await doctor(vm, version, [], { OMS_HANDLER_SERVICE_ADDRESS: "" });
    assert.deepEqual(r.failed, [], JSON.stringify(r.failed, null, 2));
    assert.match(named(r.report.checks, "proxy")!.detail, new RegExp(`^127\\.0\\.0\\.1:${port} \\(from /etc/opt/microsoft/omsagent/proxy\\.conf\\)$`));
    assert.match(named(r.report.checks, "oms tcp 443")!.detail, new RegExp(`via proxy 127\\.0\\.0\\.1:${port}`));
    assert.deepEqual(seen.sort(), [
      `${WORKSPACE_ID}.ods.opinsights.azure.com:443 Basic ${Buffer.from("doctor-user:Pr0xy-Secret-9").toString("base64")}`,
      `${WORKSPACE_ID}.oms.opinsights.azure.com:443 Basic ${Buffer.from("doctor-user:Pr0xy-Secret-9").toString("base64")}`,
    ]);
    assert.doesNotMatch(r.text, /Pr0xy-Secret-9|doctor-user/);
  } finally {
    proxy.close();
  }
});

test("a proxy password with a malformed '%' is reported as such before anything connects, and doctor exits", async () => {
  const { vm, version } = await healthyVm();
  let connections = 0;
  // A proxy that accepts and then says nothing: a socket left open by doctor would keep it alive.
  const silent = createNetServer((socket) => {
    connections++;
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  try {
    const port = (silent.address() as AddressInfo).port;
    writeFileSync(join(vm.root, "etc/opt/microsoft/omsagent/proxy.conf"), `http://doctor-user:50%off-Secret@127.0.0.1:${port}\n`);
    const r = await doctor(vm, version, [], { OMS_HANDLER_SERVICE_ADDRESS: "" });
    assert.equal(r.status, 1);
    assert.deepEqual(
      r.failed.map((c) => c.name),
      ["oms proxy", "ods proxy"],
    );
    assert.match(r.failed[0]!.detail, /has a '%' that is not followed by two hexadecimal digits, so it cannot be decoded/);
    assert.match(r.failed[0]!.fix!, /%25/);
    assert.equal(connections, 0, "nothing connected with credentials that cannot be sent");
    assert.doesNotMatch(r.text + r.stderr, /50%off-Secret|doctor-user/);
  } finally {
    silent.close();
  }
});

test("the whole run is bounded: a proxy that never answers CONNECT cannot hold doctor past its budget", async () => {
  const { vm, version } = await healthyVm();
  const sockets = new Set<Socket>();
  const silent = createNetServer((socket) => {
    sockets.add(socket);
    socket.resume();
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  try {
    const port = (silent.address() as AddressInfo).port;
    writeFileSync(join(vm.root, "etc/opt/microsoft/omsagent/proxy.conf"), `http://127.0.0.1:${port}\n`);
    const r = await doctor(vm, version, [], { OMS_HANDLER_SERVICE_ADDRESS: "", OMS_HANDLER_DEADLINE_SECONDS: "3" });
    assert.equal(r.status, 1);
    const stopped = r.failed.find((c) => c.area === "doctor" && c.name === "time");
    assert.ok(stopped, JSON.stringify(r.failed));
    assert.match(stopped.detail, /stopped after 3 s with checks still running/);
    // The machine's own checks were still reported.
    assert.ok(named(r.report.checks, "openssl"));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(sockets.size, 0, "no connection to the proxy outlives doctor");
  } finally {
    silent.close();
  }
});

test("a failed onboarding: doctor probes the workspace the settings name, with the domain and proxy enable would use", async () => {
  const { vm, version } = await healthyVm("5-key");
  const r = await doctor(vm, version);
  assert.equal(r.status, 1);
  const target = r.report.checks.find((c) => c.area === `network ${WORKSPACE_ID}` && c.name === "target");
  assert.ok(target, r.report.checks.map((c) => `${c.area}/${c.name}`).join(", "));
  assert.match(target.detail, /not onboarded: .*(its onboarding failed|named by the settings)/);
  assert.match(target.detail, /domain opinsights\.azure\.com/);
  for (const name of ["oms tcp 443", "oms tls", "ods tls", "oms clock"]) {
    const check = r.report.checks.find((c) => c.area === `network ${WORKSPACE_ID}` && c.name === name);
    assert.equal(check?.ok, true, `${name}: ${JSON.stringify(check)}`);
  }
  // The failed onboarding's directory is explained with the enable status that exists.
  assert.match(named(r.failed, "onboarded")!.fix!, /fix what the Enable status says \(history Enable below: error 53\)/);
});

test("what doctor cannot check is SKIP with the reason; fixes fit the fault", async () => {
  const { vm, version } = await healthyVm();
  const base = vm.agent.baseDir(version);
  // No HandlerEnvironment.json: the history is not read, and says so.
  const handlerEnvironment = readFileSync(join(base, "HandlerEnvironment.json"));
  unlinkSync(join(base, "HandlerEnvironment.json"));
  let r = await doctor(vm, version, ["--offline"]);
  const history = r.report.checks.filter((c) => c.area === "history");
  assert.deepEqual(
    history.map((c) => [c.name, c.skipped ?? false, c.ok]),
    [["status and log", true, true]],
  );
  assert.match(history[0]!.detail, /no HandlerEnvironment\.json in .* so the extension's status files and extension\.log were not read/);
  writeFileSync(join(base, "HandlerEnvironment.json"), handlerEnvironment);

  // A missing certificate is not fixed by chown.
  unlinkSync(join(vm.root, "etc/opt/microsoft/omsagent", WORKSPACE_ID, "certs/oms.crt"));
  r = await doctor(vm, version, ["--offline"]);
  const identity = named(r.failed, "key and certificate")!;
  assert.match(identity.detail, /certs\/oms\.crt is missing/);
  assert.doesNotMatch(identity.fix!, /chown/);
  assert.match(identity.fix!, /onboard the workspace again/);
});

test("--help exits 0, a bad option 2, and --failed-only works without --json", async () => {
  const { vm, version } = await healthyVm();
  const shim = join(vm.agent.baseDir(version), "omsagent-shim");
  const env = vm.agent.launchSpec(version, "enable").env;
  const help = spawnSync("/bin/sh", [shim, "doctor", "--help"], { env, encoding: "utf8" });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^usage: omsagent-shim doctor /);
  const bad = spawnSync("/bin/sh", [shim, "doctor", "--jsno"], { env, encoding: "utf8" });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown option --jsno/);

  rmSync(join(vm.root, "usr/bin/curl"));
  const brief = spawnSync("/bin/sh", [shim, "doctor", "--offline", "--failed-only"], { env, encoding: "utf8" });
  assert.equal(brief.status, 1);
  const lines = brief.stdout.trim().split("\n");
  assert.equal(lines.length, 2, brief.stdout);
  assert.match(lines[0]!, /^FAIL {2}machine {2}tools {2}.*curl/);
  assert.match(lines[1]!, /^1 of \d+ checks failed, 1 not checked \(SKIP\)$/);
});
