// A small Azure Resource Manager on 127.0.0.1 for the fleet CLI's tests and benchmark. It speaks HTTPS with a
// throwaway self-signed certificate because the Azure SDK's bearer-token policy refuses plain http outright
// (core-rest-pipeline: "Bearer token authentication is not permitted for non-TLS protected (non-https) URLs",
// with no allowInsecureConnection escape), and the point is to run the real SDK clients unmodified.
//
// Implemented: VM, scale-set and Arc machine GETs; extension PUT/GET/DELETE on all three; scale-set instance
// lists with instance views; Run Command (VMs: the runCommand action; Arc: runCommands resources); long-running operations through Azure-AsyncOperation, Location, or the resource
// body (provisioningState Creating/Updating → Succeeded/Failed); per-machine fault injection and latency;
// provider registrations (GET /subscriptions/{s}/providers/{namespace}) with each type's api-versions.
//
// As strict as Azure where Azure is less kind than a naive fake (each cited where it is implemented):
// - unknown api-versions are refused (400 NoRegisteredProviderFound), as ARM refuses them;
// - Arc reports the full installed version ("1.10" PUT → "1.10.3") and a word status code ("success");
// - VM Run Command answers 202 and is polled, refuses a second script while one runs (409), and keeps only the
//   last 4,096 bytes of output; Arc runCommands answer 201 "Creating" and succeed later;
// - VM extension writes, scale-set extension writes and each VM's own operations are separate buckets, Run
//   Command counts against the VM; deletes carry ARM's deletes counter; Resource Graph throttles per user.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TokenCredential } from "@azure/identity";
import { armIdentity, createFakeMonitor, type AmaBehaviour, type FakeMonitor, type FakeMonitorOptions, type MachineIdentity } from "./fake-monitor.ts";

export type Kind = "vm" | "vmss" | "arc";

/** What our handler would have written on failure (the README's error codes): code, reason, and the `cause — action` text. */
export interface HandlerFailure {
  code: number;
  reason: string;
  operation?: string;
  text: string;
}

export function handlerMessage(f: HandlerFailure): string {
  return `${f.operation ?? "Enable"} failed (${f.code} ${f.reason}): ${f.text}`;
}

export interface MachineConfig {
  location?: string;
  os?: "Linux" | "Windows";
  /** Arc only. */
  agentStatus?: "Connected" | "Disconnected" | "Expired";
  /** Added to every request about this machine (and its operations). */
  latencyMs?: number;
  /** The first N extension writes (PUT/DELETE) answer 409 Conflict. */
  conflicts?: number;
  /** The first N extension writes answer 429 with `Retry-After: retryAfter`. */
  throttles?: number;
  retryAfter?: string;
  /** The first N extension writes answer 500. */
  serverErrors?: number;
  /** The first N polls of this machine's operations answer 500. */
  pollErrors?: number;
  /** The extension's handler fails with this status (VMs, Arc). */
  failure?: HandlerFailure;
  /** Every PUT is refused with this HTTP error. */
  reject?: { status: number; code: string; message: string };
  /** Error bodies quote the request body, protected settings included, as some real services do. */
  echoSecrets?: boolean;
  /** Scale sets: number of instances (default 2) and per-instance failures by instance id. */
  instances?: number;
  failedInstances?: Record<string, HandlerFailure>;
  upgradeMode?: "Automatic" | "Manual" | "Rolling";
  /** Resource tags, for Resource Graph queries. */
  tags?: Record<string, string>;
  /** What `omsagent-shim doctor` prints on this machine when a run command runs it (default: healthy). */
  doctorOutput?: string;
  /** Scale sets: what doctor prints on particular instances (by instance id). */
  instanceDoctorOutput?: Record<string, string>;
  /** Scale sets: instances whose Run Command never finishes (the script hangs). */
  hangingInstances?: string[];
  /** VMs and scale sets: the managed identity (none when absent). */
  identity?: MachineIdentity;
  /** How the Azure Monitor Agent extension behaves here (fake-monitor.ts). */
  ama?: AmaBehaviour;
}

/** A token bucket: `capacity` requests, refilled continuously at `refillPerMinute`. */
export interface BucketConfig {
  capacity: number;
  refillPerMinute: number;
}

export interface Extension {
  name: string;
  properties: Record<string, unknown>;
  provisioningState: string;
  instanceView?: { state: "succeeded" | "failed"; message: string; code: number };
}

export interface Machine {
  kind: Kind;
  id: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  config: MachineConfig;
  extensions: Map<string, Extension>;
  /** Scale sets: instanceId → the extension status each instance reports. */
  instanceViews: Map<string, Map<string, { state: "succeeded" | "failed"; message: string; code: number }>>;
  activeOp?: Operation;
  faults: { conflicts: number; throttles: number; serverErrors: number; pollErrors: number };
  /** The last PUT body as received (protected settings included), for assertions; refused PUTs included. */
  lastPut?: Record<string, unknown>;
  /** The protected settings of the last PUT ARM accepted: what the machine actually got. */
  appliedProtectedSettings?: unknown;
  puts: number;
  deletes: number;
  /** Scripts run on this machine through Run Command. */
  runCommands: string[];
  /** Arc: names of the run-command resources that exist on this machine now. */
  arcRunCommandNames: Set<string>;
  /** Arc: every run-command name ever PUT on this machine. */
  arcRunCommandHistory: string[];
  /** VM Run Command executing on this machine or instance (by instance id, "" for a VM). */
  runningScripts: Set<string>;
}

export interface Operation {
  id: string;
  machine: Machine;
  extension: string;
  action: "put" | "delete" | "runCommand";
  /** Run Command: the result the Location URL returns once the script has run, and which instance ran it. */
  result?: unknown;
  instance?: string;
  pollsLeft: number;
  status: "InProgress" | "Succeeded" | "Failed";
  error?: { code: string; message: string };
  rawBody: string;
}

export type LroStyle = "azure-async" | "location" | "body";

export interface FakeArmOptions {
  /** Delay before every response. */
  latencyMs?: number;
  /** Polls answered "in progress" before the operation ends. */
  inProgressPolls?: number;
  lroStyle?: LroStyle;
  token?: string;
  /** Keep a log of every request (off for the benchmark to keep memory flat). */
  logRequests?: boolean;
  /**
   * Compute's limit on extension writes (PUT/DELETE), one bucket per subscription and region; when it is
   * empty a write gets 429 with Retry-After. Default 1,500 requests refilling 500 per minute; null: no limit.
   */
  writeBucket?: BucketConfig | null;
  /** Most rows per Resource Graph page, whatever $top asks for (Resource Graph's own maximum is 1,000). */
  graphPageSize?: number;
  /** Scale-set extension writes: their own bucket per subscription and region (default as writeBucket; null: none). */
  scaleSetWriteBucket?: BucketConfig | null;
  /** Each VM's own bucket (extension writes and Run Command on that VM). Default 12 refilling 4/minute; null: none. */
  vmBucket?: BucketConfig | null;
  /** ARM's subscription deletes limit, reported in x-ms-ratelimit-remaining-subscription-deletes (default 15,000/hour). */
  deleteBucket?: BucketConfig | null;
  /** Resource Graph's per-user quota: `queries` per `windowMs` (default 15 per 5 s); null: none. */
  graphQuota?: { queries: number; windowMs: number } | null;
  /** The api-versions each provider accepts (an Azure Stack Hub or a lagging cloud accepts fewer). */
  apiVersions?: Partial<Record<Provider, string[]>>;
  /** Patch level Arc reports as installed for a PUT of `major.minor` (default 2: "1.19" → "1.19.2"). */
  arcInstalledPatch?: number;
  /** Workspaces, DCRs and the Log Analytics query API (fake-monitor.ts). */
  monitor?: FakeMonitorOptions;
}

export type Provider = "Microsoft.Compute" | "Microsoft.HybridCompute" | "Microsoft.ResourceGraph" | "Microsoft.Resources";

/**
 * What each provider accepts. Compute: the SDK's 2026-03-01 and the stable versions before it
 * (Azure/azure-rest-api-specs specification/compute/resource-manager/Microsoft.Compute/Compute/stable/);
 * HybridCompute: the stable versions the CLI and the policies use (…/Microsoft.HybridCompute/stable/2021-05-20,
 * 2022-12-27, 2024-07-10); Resource Graph 2021-03-01 (…/Microsoft.ResourceGraph/stable/2021-03-01);
 * Microsoft.Resources (provider registrations) 2021-04-01.
 */
export const API_VERSIONS: Record<Provider, string[]> = {
  "Microsoft.Compute": ["2023-09-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-04-01", "2026-03-01"],
  "Microsoft.HybridCompute": ["2021-05-20", "2022-12-27", "2024-07-10"],
  "Microsoft.ResourceGraph": ["2021-03-01"],
  "Microsoft.Resources": ["2021-04-01", "2022-09-01"],
};

export const COMPUTE_WRITE_BUCKET: BucketConfig = { capacity: 1500, refillPerMinute: 500 };
/**
 * A VM's own limit: Compute throttles operations on one VM separately from the subscription's buckets, and Run
 * Command counts against the same VM ("Troubleshooting throttling errors in Azure", learn.microsoft.com
 * troubleshoot/azure/virtual-machines/troubleshooting-throttling-errors; the 12 refilling 4/minute).
 */
export const VM_BUCKET: BucketConfig = { capacity: 12, refillPerMinute: 4 };
/** ARM's documented subscription deletes limit: 15,000 per hour (azure-resource-manager/management/request-limits-and-throttling). */
export const DELETE_BUCKET: BucketConfig = { capacity: 15000, refillPerMinute: 250 };
/** Resource Graph: 15 queries per 5-second window per user (governance/resource-graph/concepts/guidance-for-throttled-requests). */
export const GRAPH_QUOTA = { queries: 15, windowMs: 5000 };
/** The counter names the fake reports in x-ms-ratelimit-remaining-resource. */
export const WRITE_COUNTER = "Microsoft.Compute/PutVMExtensionSubscriptionRegion";
export const SCALE_SET_WRITE_COUNTER = "Microsoft.Compute/PutVMScaleSetExtensionSubscriptionRegion";
/** Per-VM: the name ends in PerVM, which is how the CLI's pacer knows the counter speaks for one machine only. */
export const VM_COUNTER = "Microsoft.Compute/VMOperationsPerVM";
/** Run Command keeps the last 4,096 bytes of a script's output (learn.microsoft.com virtual-machines/linux/run-command: "Output is limited to the last 4,096 bytes"). */
export const RUN_COMMAND_OUTPUT_LIMIT = 4096;

export interface LoggedRequest {
  method: string;
  path: string;
  status: number;
}

export interface FakeArmStats {
  requests: number;
  /** Machines with an operation running, now and at most. */
  activeOps: number;
  maxActiveOps: number;
  /** HTTP requests being handled, now and at most. */
  inFlight: number;
  maxInFlight: number;
  /** 409s caused by a second write while an operation ran (not injected): must stay 0 for the CLI. */
  overlappingWrites: number;
  injected: { conflicts: number; throttles: number; serverErrors: number; pollErrors: number };
  /** Extension PUTs received (throttled ones included). */
  puts: number;
  /** Writes answered 429 because the write bucket was empty. */
  throttled: number;
  /** Lowest remaining count reported by any write bucket. */
  minRemaining: number;
  graphQueries: number;
  /** Resource Graph queries answered 429 for the user's quota. */
  graphThrottled: number;
  /** Requests refused for an api-version the provider does not accept. */
  badApiVersions: number;
  /** VM Run Commands refused with 409 because another script was running on the machine. */
  runCommandConflicts: number;
}

export interface FakeArm {
  /** https://127.0.0.1:<port> */
  endpoint: string;
  /** PEM file of the server's self-signed certificate, for --ca-cert. */
  caCertFile: string;
  token: string;
  credential: TokenCredential & { calls: number };
  stats: FakeArmStats;
  log: LoggedRequest[];
  addMachine(kind: Kind, name: string, config?: MachineConfig, where?: { subscriptionId?: string; resourceGroup?: string }): string;
  machine(id: string): Machine | undefined;
  /** Workspaces, DCRs, associations and heartbeats (fake-monitor.ts). */
  monitor: FakeMonitor;
  close(): Promise<void>;
}

export const SUBSCRIPTION = "00000000-0000-0000-0000-00000000abcd";

const TYPES: Record<Kind, { provider: string; type: string }> = {
  vm: { provider: "Microsoft.Compute", type: "virtualMachines" },
  vmss: { provider: "Microsoft.Compute", type: "virtualMachineScaleSets" },
  arc: { provider: "Microsoft.HybridCompute", type: "machines" },
};

let certificate: { dir: string; cert: string; key: Buffer; certPem: Buffer } | undefined;

/** One throwaway certificate per process, in a temp dir removed at exit. */
function loopbackCertificate(): { cert: string; key: Buffer; certPem: Buffer } {
  if (certificate) return certificate;
  const dir = mkdtempSync(join(tmpdir(), "fake-arm-"));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "2",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
      ],
      { stdio: "pipe" },
    );
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`fake ARM server needs openssl to make its loopback certificate: ${(e as Error).message}`, { cause: e });
  }
  certificate = { dir, cert, key: readFileSync(key), certPem: readFileSync(cert) };
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  return certificate;
}

/** The last `limit` bytes of a text, as Run Command keeps them (a cut may land inside a line). */
function lastBytes(text: string, limit: number): string {
  const bytes = Buffer.from(text, "utf8");
  return bytes.length <= limit ? text : bytes.subarray(bytes.length - limit).toString("utf8");
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

export function fakeCredential(token: string): TokenCredential & { calls: number } {
  const credential = {
    calls: 0,
    async getToken() {
      credential.calls++;
      return { token, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
  return credential;
}

export async function startFakeArm(options: FakeArmOptions = {}): Promise<FakeArm> {
  const { cert, key, certPem } = loopbackCertificate();
  const token = options.token ?? "fake-arm-token";
  const inProgressPolls = options.inProgressPolls ?? 1;
  const style: LroStyle = options.lroStyle ?? "azure-async";
  const machines = new Map<string, Machine>();
  const operations = new Map<string, Operation>();
  const log: LoggedRequest[] = [];
  const stats: FakeArmStats = {
    requests: 0,
    activeOps: 0,
    maxActiveOps: 0,
    inFlight: 0,
    maxInFlight: 0,
    overlappingWrites: 0,
    injected: { conflicts: 0, throttles: 0, serverErrors: 0, pollErrors: 0 },
    puts: 0,
    throttled: 0,
    minRemaining: Number.POSITIVE_INFINITY,
    graphQueries: 0,
    graphThrottled: 0,
    badApiVersions: 0,
    runCommandConflicts: 0,
  };
  const bucketConfig = options.writeBucket === undefined ? COMPUTE_WRITE_BUCKET : options.writeBucket;
  const scaleSetBucketConfig = options.scaleSetWriteBucket === undefined ? bucketConfig : options.scaleSetWriteBucket;
  const vmBucketConfig = options.vmBucket === undefined ? VM_BUCKET : options.vmBucket;
  const deleteBucketConfig = options.deleteBucket === undefined ? DELETE_BUCKET : options.deleteBucket;
  const graphQuota = options.graphQuota === undefined ? GRAPH_QUOTA : options.graphQuota;
  const apiVersions: Record<Provider, string[]> = { ...API_VERSIONS, ...options.apiVersions };
  const buckets = new Map<string, { tokens: number; at: number }>();

  /** Takes one token from a bucket: the remaining count to report, or the Retry-After (seconds) when empty. */
  function take(key: string, config: BucketConfig): { remaining: number } | { retryAfter: number } {
    const now = performance.now();
    const perMs = config.refillPerMinute / 60_000;
    const bucket = buckets.get(key) ?? { tokens: config.capacity, at: now };
    bucket.tokens = Math.min(config.capacity, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    buckets.set(key, bucket);
    if (bucket.tokens < 1) return { retryAfter: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)) };
    bucket.tokens -= 1;
    return { remaining: Math.floor(bucket.tokens) };
  }

  /**
   * A write's tokens (takeWriteTokens): 429 with Retry-After when a bucket is empty, else the remaining-request
   * headers go on the response. `scope` names, as ARM's message does, what was throttled. Returns the status
   * sent when the write is refused.
   */
  function admitTokens(
    m: Machine,
    res: ServerResponse,
    verb: "PUT" | "DELETE" | "POST",
    instance: string | undefined,
    scope: "subscription" | "VM",
  ): number | undefined {
    const token = takeWriteTokens(m, verb, instance);
    if (token.retryAfter === undefined) {
      extraHeaders.set(res, token.headers);
      return undefined;
    }
    stats.throttled++;
    return error(res, 429, "OperationNotAllowed", `The server rejected the request because too many requests have been received for this ${scope}.`, {
      "retry-after": String(token.retryAfter),
      ...token.headers,
    });
  }

  /**
   * Takes a token from every bucket a write on this machine counts against: the subscription-and-region bucket
   * of its kind (VM and scale-set extension writes are separate), the VM's own bucket, and for a DELETE ARM's
   * subscription deletes counter. Returns the headers to report, or the refusal with the longest Retry-After.
   */
  function takeWriteTokens(m: Machine, verb: "PUT" | "DELETE" | "POST", instance?: string): { headers: Record<string, string>; retryAfter?: number } {
    const region = `${m.subscriptionId}|${m.config.location ?? "westeurope"}`.toLowerCase();
    const resource: string[] = [];
    const headers: Record<string, string> = {};
    let retryAfter: number | undefined;
    const count = (counter: string, key: string, config: BucketConfig | null): number | undefined => {
      if (!config) return undefined;
      const got = take(key, config);
      if ("retryAfter" in got) {
        retryAfter = Math.max(retryAfter ?? 0, got.retryAfter);
        resource.push(`${counter};0`);
        return 0;
      }
      resource.push(`${counter};${got.remaining}`);
      return got.remaining;
    };
    if (verb !== "POST") {
      const remaining =
        m.kind === "vmss" ? count(SCALE_SET_WRITE_COUNTER, `vmss|${region}`, scaleSetBucketConfig) : count(WRITE_COUNTER, `vm|${region}`, bucketConfig);
      if (remaining !== undefined) stats.minRemaining = Math.min(stats.minRemaining, remaining);
    }
    // A scale-set instance is a VM of its own; Arc machines are not Compute's.
    if (m.kind === "vm" || instance !== undefined) count(VM_COUNTER, `one|${m.id}|${instance ?? ""}`.toLowerCase(), vmBucketConfig);
    if (verb === "DELETE" && deleteBucketConfig) {
      // ARM's own counter (not a Compute policy), per subscription: x-ms-ratelimit-remaining-subscription-deletes.
      const got = take(`deletes|${m.subscriptionId}`.toLowerCase(), deleteBucketConfig);
      if ("retryAfter" in got) retryAfter = Math.max(retryAfter ?? 0, got.retryAfter);
      headers["x-ms-ratelimit-remaining-subscription-deletes"] = String("remaining" in got ? got.remaining : 0);
    } else if (verb !== "DELETE") {
      headers["x-ms-ratelimit-remaining-subscription-writes"] = "11999";
    }
    if (resource.length > 0) headers["x-ms-ratelimit-remaining-resource"] = resource.join(",");
    return { headers, ...(retryAfter !== undefined ? { retryAfter } : {}) };
  }
  let endpoint = "";
  let nextOp = 1;
  const monitor = createFakeMonitor(
    { machine: (id) => machines.get(id.toLowerCase()), send: (...a) => send(...a), error: (...a) => error(...a) },
    options.monitor,
  );

  /** Rate-limit headers for the response being written, set when a write took a token. */
  const extraHeaders = new WeakMap<ServerResponse, Record<string, string>>();

  function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): number {
    const text = body === undefined ? "" : JSON.stringify(body);
    res.writeHead(status, {
      ...(text ? { "content-type": "application/json; charset=utf-8" } : {}),
      "x-ms-request-id": `req-${stats.requests}`,
      ...extraHeaders.get(res),
      ...headers,
    });
    res.end(text);
    return status;
  }

  function error(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): number {
    return send(res, status, { error: { code, message } }, headers);
  }

  function echo(m: Machine, raw: string): string {
    return m.config.echoSecrets && raw ? ` Request body: ${raw}` : "";
  }

  function extensionBody(m: Machine, ext: Extension, withView: boolean): Record<string, unknown> {
    const id = `${m.id}/extensions/${ext.name}`;
    const properties: Record<string, unknown> = { ...ext.properties, provisioningState: ext.provisioningState };
    if (m.kind === "arc" && ext.instanceView) {
      const v = ext.instanceView;
      properties.instanceView = {
        name: ext.name,
        type: ext.properties.type,
        typeHandlerVersion: ext.properties.typeHandlerVersion,
        status: {
          // A word on success, as Arc reports it (HybridCompute 2024-07-10 examples/extension/Extension_CreateOrUpdate.json:
          // "code": "success"); the handler's number on failure.
          code: v.state === "failed" ? String(v.code) : "success",
          level: v.state === "failed" ? "Error" : "Information",
          displayStatus: v.state === "failed" ? "Provisioning failed" : "Provisioning succeeded",
          message: v.message,
        },
      };
    } else if (m.kind === "vm" && withView && ext.instanceView) {
      properties.instanceView = {
        name: ext.name,
        type: ext.properties.type,
        typeHandlerVersion: ext.properties.typeHandlerVersion,
        statuses: [vmStatus(ext.instanceView)],
      };
    }
    return {
      id,
      name: ext.name,
      type: `${TYPES[m.kind].provider}/${TYPES[m.kind].type}/extensions`,
      ...(m.kind === "vmss" ? {} : { location: m.config.location ?? "westeurope" }),
      properties,
    };
  }

  function vmStatus(v: { state: "succeeded" | "failed"; message: string; code: number }): Record<string, unknown> {
    return v.state === "failed"
      ? { code: `ProvisioningState/failed/${v.code}`, level: "Error", displayStatus: "Provisioning failed", message: v.message }
      : { code: "ProvisioningState/succeeded", level: "Info", displayStatus: "Provisioning succeeded", message: v.message };
  }

  function parentBody(m: Machine): Record<string, unknown> {
    const base = { id: m.id, name: m.name, type: `${TYPES[m.kind].provider}/${TYPES[m.kind].type}`, location: m.config.location ?? "westeurope" };
    const osType = m.config.os ?? "Linux";
    if (m.kind !== "arc" && m.config.identity) Object.assign(base, { identity: armIdentity(m.config.identity) });
    if (m.kind === "vm") return { ...base, properties: { provisioningState: "Succeeded", storageProfile: { osDisk: { osType } } } };
    if (m.kind === "vmss") {
      return {
        ...base,
        properties: {
          provisioningState: "Succeeded",
          upgradePolicy: { mode: m.config.upgradeMode ?? "Automatic" },
          virtualMachineProfile: { storageProfile: { osDisk: { osType } } },
        },
      };
    }
    return { ...base, properties: { provisioningState: "Succeeded", osName: osType.toLowerCase(), status: m.config.agentStatus ?? "Connected" } };
  }

  /** The operation reaches its end: apply the outcome to the machine, as the platform would. */
  function finish(op: Operation): void {
    const m = op.machine;
    if (op.action === "runCommand") {
      op.status = "Succeeded";
      m.runningScripts.delete(op.instance ?? "");
      return;
    }
    const ext = m.extensions.get(op.extension.toLowerCase());
    if (op.action === "delete") {
      m.extensions.delete(op.extension.toLowerCase());
      for (const views of m.instanceViews.values()) views.delete(op.extension.toLowerCase());
      op.status = "Succeeded";
    } else if (ext && monitor.isAma(ext.properties)) {
      monitor.finishAma(m, ext, op);
    } else if (ext) {
      const workspace = String((ext.properties.settings as { workspaceId?: unknown } | undefined)?.workspaceId ?? "?");
      const okMessage = `Enable succeeded: onboarded to workspace ${workspace}`;
      if (m.kind === "vmss") {
        ext.provisioningState = "Succeeded";
        if ((m.config.upgradeMode ?? "Automatic") !== "Manual") {
          for (const [instanceId, views] of m.instanceViews) {
            const f = m.config.failedInstances?.[instanceId];
            views.set(
              op.extension.toLowerCase(),
              f ? { state: "failed", code: f.code, message: handlerMessage(f) } : { state: "succeeded", code: 0, message: okMessage },
            );
          }
        }
        op.status = "Succeeded";
      } else if (m.config.failure) {
        const message = handlerMessage(m.config.failure);
        ext.provisioningState = "Failed";
        ext.instanceView = { state: "failed", code: m.config.failure.code, message };
        op.status = "Failed";
        op.error = {
          code: "VMExtensionProvisioningError",
          message: `VM has reported a failure when processing extension '${op.extension}' (publisher 'Microsoft.EnterpriseCloud.Monitoring' and type 'OmsAgentForLinux'). Error message: '${message}'. More information on troubleshooting is available at https://aka.ms/VMExtensionOMSAgentLinuxTroubleshoot.${echo(m, op.rawBody)}`,
        };
      } else {
        ext.provisioningState = "Succeeded";
        ext.instanceView = { state: "succeeded", code: 0, message: okMessage };
        op.status = "Succeeded";
      }
      // Arc reports the version installed, not the one asked for: a PUT of "1.10" reads back "1.10.3"
      // (HybridCompute 2024-07-10 examples/extension/Extension_CreateOrUpdate.json, request vs 200 body).
      const asked = String(ext.properties.typeHandlerVersion ?? "");
      if (m.kind === "arc" && /^\d+\.\d+$/.test(asked)) ext.properties.typeHandlerVersion = `${asked}.${options.arcInstalledPatch ?? 2}`;
    }
    m.activeOp = undefined;
    stats.activeOps--;
  }

  function startOperation(m: Machine, extension: string, action: "put" | "delete", rawBody: string): Operation {
    const op: Operation = { id: `op-${nextOp++}`, machine: m, extension, action, pollsLeft: inProgressPolls, status: "InProgress", rawBody };
    operations.set(op.id, op);
    m.activeOp = op;
    stats.activeOps++;
    stats.maxActiveOps = Math.max(stats.maxActiveOps, stats.activeOps);
    if (op.pollsLeft <= 0) finish(op);
    return op;
  }

  function operationUrls(m: Machine, op: Operation): { async: string; location: string } {
    const base = `${endpoint}/subscriptions/${m.subscriptionId}/providers/${TYPES[m.kind].provider}/locations/${m.config.location ?? "westeurope"}`;
    // Real operation URLs carry the provider's api-version (and are checked like any other request).
    const version = apiVersions[TYPES[m.kind].provider as Provider].at(-1) ?? "";
    return { async: `${base}/operations/${op.id}?api-version=${version}`, location: `${base}/operationResults/${op.id}?api-version=${version}` };
  }

  /** Injected faults for a write, in order: 409, 429, 500. Returns the status sent, or undefined to go on. */
  function injectWriteFault(m: Machine, res: ServerResponse, raw: string): number | undefined {
    if (m.faults.conflicts > 0) {
      m.faults.conflicts--;
      stats.injected.conflicts++;
      return error(res, 409, "Conflict", `Operation on extension is not allowed since a previous operation on this VM is still in progress.${echo(m, raw)}`);
    }
    if (m.faults.throttles > 0) {
      m.faults.throttles--;
      stats.injected.throttles++;
      return error(res, 429, "TooManyRequests", `The request is being throttled.${echo(m, raw)}`, { "retry-after": m.config.retryAfter ?? "1" });
    }
    if (m.faults.serverErrors > 0) {
      m.faults.serverErrors--;
      stats.injected.serverErrors++;
      return error(res, 500, "InternalServerError", `An internal execution error occurred.${echo(m, raw)}`);
    }
    return undefined;
  }

  /**
   * What every extension write meets before it is served: the write bucket (429), injected faults, and another
   * operation still in flight on the machine (409). Returns the status sent when the write is refused.
   */
  function admitWrite(m: Machine, res: ServerResponse, raw: string, verb: "PUT" | "DELETE"): number | undefined {
    const throttled = admitTokens(m, res, verb, undefined, "subscription");
    if (throttled !== undefined) return throttled;
    const fault = injectWriteFault(m, res, raw);
    if (fault !== undefined) return fault;
    if (m.activeOp) {
      stats.overlappingWrites++;
      return error(
        res,
        409,
        "Conflict",
        `Operation '${verb}' is not allowed since a previous operation on extension '${m.activeOp.extension}' is in progress.`,
      );
    }
    return undefined;
  }

  function putExtension(m: Machine, name: string, raw: string, res: ServerResponse): number {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return error(res, 400, "InvalidRequestContent", "The request content was not valid JSON.");
    }
    m.puts++;
    stats.puts++;
    m.lastPut = body;
    const refused = admitWrite(m, res, raw, "PUT");
    if (refused !== undefined) return refused;
    if (m.config.reject) return error(res, m.config.reject.status, m.config.reject.code, `${m.config.reject.message}${echo(m, raw)}`);
    const props = (body.properties ?? {}) as Record<string, unknown>;
    // What real ARM insists on; catches the SDK's flattened-name gotcha (typePropertiesType vs type).
    if ((props.type !== "OmsAgentForLinux" || props.publisher !== "Microsoft.EnterpriseCloud.Monitoring") && !monitor.isAma(props)) {
      return error(
        res,
        400,
        "InvalidParameter",
        `Extension type/publisher missing or wrong: got type '${String(props.type)}' publisher '${String(props.publisher)}'.`,
      );
    }
    if (m.kind !== "vmss" && typeof body.location !== "string")
      return error(res, 400, "LocationRequired", "The location property is required for this definition.");
    const { protectedSettings: secret, ...visible } = props;
    m.appliedProtectedSettings = secret;
    const existing = m.extensions.get(name.toLowerCase());
    const ext: Extension = { name, properties: visible, provisioningState: existing ? "Updating" : "Creating" };
    m.extensions.set(name.toLowerCase(), ext);
    const op = startOperation(m, name, "put", raw);
    const urls = operationUrls(m, op);
    if (style === "azure-async") return send(res, existing ? 200 : 201, extensionBody(m, ext, false), { "azure-asyncoperation": urls.async });
    if (style === "location") return send(res, 202, undefined, { location: urls.location });
    return send(res, existing ? 200 : 201, extensionBody(m, ext, false));
  }

  function deleteExtension(m: Machine, name: string, res: ServerResponse): number {
    m.deletes++;
    const refused = admitWrite(m, res, "", "DELETE");
    if (refused !== undefined) return refused;
    if (!m.extensions.has(name.toLowerCase())) return send(res, 204);
    if (style === "body") {
      m.extensions.delete(name.toLowerCase());
      return send(res, 200);
    }
    const ext = m.extensions.get(name.toLowerCase());
    if (ext) ext.provisioningState = "Deleting";
    const op = startOperation(m, name, "delete", "");
    const urls = operationUrls(m, op);
    return send(res, 202, undefined, style === "azure-async" ? { "azure-asyncoperation": urls.async, location: urls.location } : { location: urls.location });
  }

  function poll(op: Operation, kind: "operations" | "operationresults", res: ServerResponse): number {
    const m = op.machine;
    if (m.faults.pollErrors > 0) {
      m.faults.pollErrors--;
      stats.injected.pollErrors++;
      return error(res, 500, "InternalServerError", "Polling failed transiently.");
    }
    if (op.status === "InProgress") {
      op.pollsLeft--;
      if (op.pollsLeft <= 0) finish(op);
    }
    if (kind === "operations") {
      return send(res, 200, { name: op.id, status: op.status, ...(op.error ? { error: op.error } : {}) });
    }
    if (op.status === "InProgress") return send(res, 202, undefined, { location: operationUrls(m, op).location });
    if (op.action === "runCommand") return send(res, 200, op.result);
    if (op.action === "delete") return send(res, 204);
    const ext = m.extensions.get(op.extension.toLowerCase());
    return ext ? send(res, 200, extensionBody(m, ext, false)) : error(res, 404, "NotFound", "gone");
  }

  const HEALTHY_DOCTOR = JSON.stringify({ healthy: true, total: 24, checks: [] });

  /** The script a run command carries; doctor's verdict is whatever the machine is configured to print. */
  function runScript(m: Machine, script: string, instanceId?: string): { output: string; exitCode: number } {
    m.runCommands.push(script);
    const output = (instanceId !== undefined ? m.config.instanceDoctorOutput?.[instanceId] : undefined) ?? m.config.doctorOutput ?? HEALTHY_DOCTOR;
    let healthy = false;
    try {
      healthy = (JSON.parse(output.trim().split("\n").at(-1) ?? "") as { healthy?: boolean }).healthy === true;
    } catch {
      // Not a verdict: a failed run.
    }
    return { output: lastBytes(`${output}\n`, RUN_COMMAND_OUTPUT_LIMIT), exitCode: healthy ? 0 : 1 };
  }

  /**
   * POST …/runCommand (RunShellScript) on a VM or a scale-set instance. Like Compute: 202 with
   * Azure-AsyncOperation and Location (VirtualMachines_RunCommand, x-ms-long-running-operation with final state
   * via location, azure-rest-api-specs …/Microsoft.Compute/Compute/stable/2026-03-01), the result read from the
   * Location URL once the script has run; a second script while one runs is refused with 409 ("Run command
   * extension execution is in progress"); it counts against the VM's own bucket.
   */
  function vmRunCommand(m: Machine, raw: string, res: ServerResponse, instanceId?: string): number {
    const body = JSON.parse(raw || "{}") as { commandId?: string; script?: string[] };
    if (body.commandId !== "RunShellScript") return error(res, 400, "InvalidParameter", `The fake serves RunShellScript only, not ${body.commandId}.`);
    if (instanceId !== undefined && !m.instanceViews.has(instanceId)) return error(res, 404, "NotFound", `No instance ${instanceId}.`);
    const throttled = admitTokens(m, res, "POST", instanceId, "VM");
    if (throttled !== undefined) return throttled;
    const key = instanceId ?? "";
    if (m.runningScripts.has(key)) {
      stats.runCommandConflicts++;
      return error(res, 409, "Conflict", "Run command extension execution is in progress. Please wait for completion before invoking a run command.");
    }
    const { output } = runScript(m, (body.script ?? []).join("\n"), instanceId);
    m.runningScripts.add(key);
    const op: Operation = {
      id: `op-${nextOp++}`,
      machine: m,
      extension: "runCommand",
      action: "runCommand",
      pollsLeft: instanceId !== undefined && m.config.hangingInstances?.includes(instanceId) ? Number.POSITIVE_INFINITY : inProgressPolls,
      status: "InProgress",
      rawBody: "",
      instance: key,
      result: {
        value: [
          {
            code: "ProvisioningState/succeeded",
            level: "Info",
            displayStatus: "Provisioning succeeded",
            message: `Enable succeeded: \n[stdout]\n${output}\n[stderr]\n`,
          },
        ],
      },
    };
    operations.set(op.id, op);
    if (op.pollsLeft <= 0) finish(op);
    const urls = operationUrls(m, op);
    return send(res, 202, undefined, { "azure-asyncoperation": urls.async, location: urls.location });
  }

  /**
   * Arc run commands are resources, one per name: PUT answers 201 with provisioningState "Creating" (HybridCompute
   * 2024-07-10 examples/runCommand/RunCommands_CreateOrUpdate.json, response 201) and the script has run after a
   * few GETs (Succeeded, with instanceView); DELETE removes it. A second PUT of the same name overwrites it.
   */
  const arcCommands = new Map<string, { resource: Record<string, unknown>; pollsLeft: number; output: string; exitCode: number }>();
  function arcRunCommand(m: Machine, name: string, method: string, raw: string, res: ServerResponse): number {
    const key = `${m.id}/runCommands/${name}`.toLowerCase();
    if (method === "PUT") {
      const body = JSON.parse(raw || "{}") as { location?: string; properties?: { source?: { script?: string } } };
      if (!body.location) return error(res, 400, "LocationRequired", "The location property is required for this definition.");
      const { output, exitCode } = runScript(m, body.properties?.source?.script ?? "");
      const resource = {
        id: `${m.id}/runCommands/${name}`,
        name,
        type: "Microsoft.HybridCompute/machines/runcommands",
        location: body.location,
        properties: { ...body.properties, provisioningState: "Creating" },
      };
      const existed = arcCommands.has(key);
      arcCommands.set(key, { resource, pollsLeft: Math.max(1, inProgressPolls), output, exitCode });
      m.arcRunCommandNames.add(name);
      m.arcRunCommandHistory.push(name);
      return send(res, existed ? 200 : 201, resource);
    }
    const entry = arcCommands.get(key);
    if (method === "GET") {
      if (!entry) return error(res, 404, "NotFound", "No such run command.");
      if (m.faults.pollErrors > 0) {
        m.faults.pollErrors--;
        stats.injected.pollErrors++;
        return error(res, 500, "InternalServerError", "Polling failed transiently.");
      }
      if (--entry.pollsLeft <= 0) {
        entry.resource.properties = {
          ...(entry.resource.properties as Record<string, unknown>),
          provisioningState: "Succeeded",
          instanceView: { executionState: "Succeeded", exitCode: entry.exitCode, output: entry.output, error: "" },
        };
      }
      return send(res, 200, entry.resource);
    }
    if (method === "DELETE") {
      arcCommands.delete(key);
      m.arcRunCommandNames.delete(name);
      return send(res, entry ? 200 : 204);
    }
    return error(res, 405, "MethodNotAllowed", `${method} on a run command is not faked.`);
  }

  function listInstances(m: Machine, res: ServerResponse): number {
    const value = [...m.instanceViews.entries()].map(([instanceId, views]) => ({
      id: `${m.id}/virtualMachines/${instanceId}`,
      name: `${m.name}_${instanceId}`,
      instanceId,
      type: "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
      location: m.config.location ?? "westeurope",
      properties: {
        provisioningState: "Succeeded",
        instanceView: {
          extensions: [...views.entries()].map(([extName, v]) => ({
            name: m.extensions.get(extName)?.name ?? extName,
            type: "Microsoft.EnterpriseCloud.Monitoring.OmsAgentForLinux",
            statuses: [vmStatus(v)],
          })),
        },
      },
    }));
    return send(res, 200, { value });
  }

  /**
   * Resource Graph, for the subset of KQL the CLI writes (src/cli/graph.ts): `type in~ (…)`, `resourceGroup
   * in~ (…)`, `tagsLower['k'] == 'v'`, `isnotempty(tagsLower['k'])` over lower-cased tags; rows ordered by id,
   * paged with $skipToken.
   */
  const graphWindow = { start: 0, used: 0 };
  /**
   * Resource Graph's per-user quota: every answer carries x-ms-user-quota-remaining and
   * x-ms-user-quota-resets-after (hh:mm:ss); past the quota it answers 429 with those headers and no
   * Retry-After (governance/resource-graph/concepts/guidance-for-throttled-requests).
   */
  function graphThrottle(res: ServerResponse): number | undefined {
    if (!graphQuota) return undefined;
    const now = performance.now();
    if (now - graphWindow.start >= graphQuota.windowMs) {
      graphWindow.start = now;
      graphWindow.used = 0;
    }
    const left = Math.max(0, graphQuota.windowMs - (now - graphWindow.start));
    const resetsAfter = new Date(Math.ceil(left / 1000) * 1000).toISOString().slice(11, 19);
    if (graphWindow.used >= graphQuota.queries) {
      stats.graphThrottled++;
      return error(res, 429, "RateLimiting", "Please provide below info when asking for support: timestamp = …, correlationId = …. Rate limit exceeded.", {
        "x-ms-user-quota-remaining": "0",
        "x-ms-user-quota-resets-after": resetsAfter,
      });
    }
    graphWindow.used++;
    extraHeaders.set(res, { "x-ms-user-quota-remaining": String(graphQuota.queries - graphWindow.used), "x-ms-user-quota-resets-after": resetsAfter });
    return undefined;
  }

  function graphQuery(raw: string, res: ServerResponse): number {
    stats.graphQueries++;
    const throttled = graphThrottle(res);
    if (throttled !== undefined) return throttled;
    let body: { query?: string; subscriptions?: string[]; options?: { $top?: number; $skipToken?: string; resultFormat?: string } };
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      return error(res, 400, "InvalidRequestContent", "The request content was not valid JSON.");
    }
    const query = body.query ?? "";
    const literals = (text: string): string[] => [...text.matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((m) => (m[1] ?? "").replace(/\\(.)/g, "$1"));
    const listAfter = (field: string): string[] | undefined => {
      const match = new RegExp(`\\| where ${field} in~ \\(([^)]*)\\)`).exec(query);
      return match ? literals(match[1] ?? "").map((x) => x.toLowerCase()) : undefined;
    };
    const types = listAfter("type");
    const groups = listAfter("resourceGroup");
    if (!types) return error(res, 400, "BadRequest", "The fake Resource Graph needs a `type in~ (…)` filter.");
    const tagEquals = [...query.matchAll(/\| where tagsLower\['((?:[^'\\]|\\.)*)'\] == '((?:[^'\\]|\\.)*)'/g)].map(
      (m) => [(m[1] ?? "").replace(/\\(.)/g, "$1"), (m[2] ?? "").replace(/\\(.)/g, "$1")] as const,
    );
    const tagPresent = [...query.matchAll(/\| where isnotempty\(tagsLower\['((?:[^'\\]|\\.)*)'\]\)/g)].map((m) => (m[1] ?? "").replace(/\\(.)/g, "$1"));
    const subscriptions = body.subscriptions?.map((x) => x.toLowerCase());
    const typeName = (m: Machine): string => `${TYPES[m.kind].provider}/${TYPES[m.kind].type}`.toLowerCase();
    const tagOf = (m: Machine, key: string): string | undefined =>
      Object.entries(m.config.tags ?? {}).find(([k]) => k.toLowerCase() === key.toLowerCase())?.[1];
    const rows = [...machines.values()]
      .filter((m) => types.includes(typeName(m)))
      .filter((m) => !subscriptions || subscriptions.includes(m.subscriptionId.toLowerCase()))
      .filter((m) => !groups || groups.includes(m.resourceGroup.toLowerCase()))
      .filter((m) => tagEquals.every(([k, v]) => tagOf(m, k)?.toLowerCase() === v.toLowerCase()))
      .filter((m) => tagPresent.every((k) => (tagOf(m, k) ?? "") !== ""))
      .sort((a, b) => (a.id.toLowerCase() < b.id.toLowerCase() ? -1 : 1));
    const offset = body.options?.$skipToken ? Number(Buffer.from(body.options.$skipToken, "base64").toString("utf8")) : 0;
    const size = Math.min(body.options?.$top ?? 100, options.graphPageSize ?? 1000);
    const page = rows.slice(offset, offset + size).map((m) => ({
      id: m.id,
      type: typeName(m),
      location: m.config.location ?? "westeurope",
      osType: m.kind === "arc" ? (m.config.os ?? "Linux").toLowerCase() : (m.config.os ?? "Linux"),
    }));
    const more = offset + size < rows.length;
    return send(res, 200, {
      totalRecords: rows.length,
      count: page.length,
      resultTruncated: "false",
      data: page,
      facets: [],
      ...(more ? { $skipToken: Buffer.from(String(offset + size)).toString("base64") } : {}),
    });
  }

  /** The provider a path belongs to: the last `/providers/<namespace>` in it (Microsoft.Resources when none). */
  function providerOf(lowerPath: string): Provider | undefined {
    // The Log Analytics query API (/v1/workspaces/{id}/query, fake-monitor.ts) is another service
    // (api.loganalytics.io) that this server also plays: it takes no api-version.
    if (lowerPath.startsWith("/v1/")) return undefined;
    const namespaces = [...lowerPath.matchAll(/\/providers\/([^/]+)/g)].map((x) => x[1] ?? "");
    const last = namespaces.at(-1);
    if (last === undefined) return "Microsoft.Resources";
    // GET /subscriptions/{s}/providers/{namespace} is Microsoft.Resources' own API.
    if (/^\/subscriptions\/[^/]+\/providers\/[^/]+$/.test(lowerPath)) return "Microsoft.Resources";
    return (Object.keys(apiVersions) as Provider[]).find((p) => p.toLowerCase() === last);
  }

  /**
   * ARM refuses a request without an api-version or with one the provider does not serve, with the versions
   * it does serve in the message (the error every caller of an unsupported version sees, e.g. on an Azure
   * Stack Hub that lags the public cloud).
   */
  function checkApiVersion(lowerPath: string, version: string | null, m: Machine | undefined, res: ServerResponse): number | undefined {
    const provider = providerOf(lowerPath);
    if (!provider) return undefined;
    if (!version) {
      stats.badApiVersions++;
      return error(res, 400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.");
    }
    const supported = apiVersions[provider];
    if (supported.includes(version)) return undefined;
    stats.badApiVersions++;
    const type = m ? TYPES[m.kind].type : (lowerPath.split("/").at(-1) ?? "");
    return error(
      res,
      400,
      "NoRegisteredProviderFound",
      `No registered resource provider found for location '${m?.config.location ?? "westeurope"}' and API version '${version}' for type '${type}'. The supported api-versions are '${supported.join(", ")}'. The supported locations are 'westeurope, eastus'.`,
    );
  }

  /** GET /subscriptions/{s}/providers/{namespace}: the provider's resource types and their api-versions. */
  function providerRegistration(namespace: string, res: ServerResponse): number {
    const provider = (Object.keys(apiVersions) as Provider[]).find((p) => p.toLowerCase() === namespace);
    if (!provider || provider === "Microsoft.Resources")
      return error(res, 404, "InvalidResourceNamespace", `The resource namespace '${namespace}' is invalid.`);
    const types: Record<Provider, string[]> = {
      "Microsoft.Compute": [
        "virtualMachines",
        "virtualMachines/extensions",
        "virtualMachineScaleSets",
        "virtualMachineScaleSets/extensions",
        "locations/operations",
      ],
      "Microsoft.HybridCompute": ["machines", "machines/extensions", "machines/runCommands", "locations/operationStatus"],
      "Microsoft.ResourceGraph": ["resources"],
      "Microsoft.Resources": [],
    };
    return send(res, 200, {
      id: `/subscriptions/${SUBSCRIPTION}/providers/${provider}`,
      namespace: provider,
      registrationState: "Registered",
      resourceTypes: types[provider].map((resourceType) => ({
        resourceType,
        locations: ["West Europe", "East US"],
        apiVersions: [...apiVersions[provider]].reverse(),
      })),
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<number> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", endpoint);
    const path = decodeURIComponent(url.pathname).replace(/\/+$/, "");
    const lower = path.toLowerCase();
    const method = req.method ?? "GET";

    const opMatch = /^\/subscriptions\/[^/]+\/providers\/[^/]+\/locations\/[^/]+\/(operations|operationresults)\/([^/]+)$/.exec(lower);
    const op = opMatch ? operations.get(opMatch[2] ?? "") : undefined;
    const resMatch =
      /^(\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/(?:microsoft\.compute\/virtualmachines|microsoft\.compute\/virtualmachinescalesets|microsoft\.hybridcompute\/machines)\/[^/]+)(\/.*)?$/.exec(
        lower,
      );
    const m = op?.machine ?? (resMatch ? machines.get(resMatch[1] ?? "") : undefined);

    await sleep((options.latencyMs ?? 0) + (m?.config.latencyMs ?? 0));

    if (req.headers.authorization !== `Bearer ${token}`) {
      return error(res, 401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing or invalid.");
    }
    const refused = checkApiVersion(lower, url.searchParams.get("api-version"), m, res);
    if (refused !== undefined) return refused;
    if (lower === "/providers/microsoft.resourcegraph/resources") {
      return method === "POST" ? graphQuery(raw, res) : error(res, 405, "MethodNotAllowed", `${method} on Resource Graph is not faked.`);
    }
    const providerMatch = /^\/subscriptions\/[^/]+\/providers\/([^/]+)$/.exec(lower);
    if (providerMatch && method === "GET") return providerRegistration(providerMatch[1] ?? "", res);
    const monitorServed = monitor.route(req, url, raw, res);
    if (monitorServed !== undefined) return monitorServed;
    if (opMatch) {
      if (!op || method !== "GET") return error(res, 404, "NotFound", `No operation ${opMatch[2]}.`);
      return poll(op, opMatch[1] as "operations" | "operationresults", res);
    }
    if (!resMatch) return error(res, 404, "InvalidResourceType", `The fake ARM server does not serve ${path}.`);
    if (!m) return error(res, 404, "ResourceNotFound", `The Resource '${path.split("/providers/")[1] ?? path}' under resource group was not found.`);

    const rest = path.slice(resMatch[1]?.length ?? 0);
    if (rest === "") {
      return method === "GET" ? send(res, 200, parentBody(m)) : error(res, 405, "MethodNotAllowed", `${method} on a machine is not faked.`);
    }
    if (m.kind === "vmss" && rest.toLowerCase() === "/virtualmachines" && method === "GET") return listInstances(m, res);
    if (m.kind === "vm" && rest.toLowerCase() === "/runcommand" && method === "POST") return vmRunCommand(m, raw, res);
    const instanceRun = /^\/virtualmachines\/([^/]+)\/runcommand$/i.exec(rest);
    if (m.kind === "vmss" && instanceRun && method === "POST") return vmRunCommand(m, raw, res, instanceRun[1]);
    const arcRun = /^\/runcommands\/([^/]+)$/i.exec(rest);
    if (m.kind === "arc" && arcRun) return arcRunCommand(m, arcRun[1] ?? "", method, raw, res);
    const extMatch = /^\/extensions\/([^/]+)$/i.exec(rest);
    if (!extMatch) return error(res, 404, "NotFound", `The fake ARM server does not serve ${path}.`);
    const name = extMatch[1] ?? "";
    if (method === "PUT") return putExtension(m, name, raw, res);
    if (method === "DELETE") return deleteExtension(m, name, res);
    if (method !== "GET") return error(res, 405, "MethodNotAllowed", `${method} on an extension is not faked.`);
    const ext = m.extensions.get(name.toLowerCase());
    if (!ext) return error(res, 404, "NotFound", `The entity '${name}' was not found in this Azure location.`);
    // The operation moves on whoever looks: in body-style LROs the SDK polls the resource itself, and a
    // resumed run polls the resource of an operation an earlier process started (a DELETE too: migrate --resume
    // waits for an interrupted removal of the legacy agent by reading the extension until it is gone).
    if (m.activeOp?.status === "InProgress" && (m.activeOp.action === "put" || m.activeOp.extension.toLowerCase() === name.toLowerCase())) {
      m.activeOp.pollsLeft--;
      if (m.activeOp.pollsLeft <= 0) finish(m.activeOp);
    }
    if (!m.extensions.has(name.toLowerCase())) return error(res, 404, "NotFound", `The entity '${name}' was not found in this Azure location.`);
    const expand = url.searchParams.get("$expand") ?? "";
    return send(res, 200, extensionBody(m, ext, expand.toLowerCase() === "instanceview"));
  }

  const server: Server = createServer({ cert: certPem, key }, (req, res) => {
    stats.requests++;
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    const method = req.method ?? "GET";
    handle(req, res)
      .then((status) => {
        if (options.logRequests !== false) log.push({ method, path: (req.url ?? "").split("?")[0] ?? "", status });
      })
      .catch((e: unknown) => {
        if (!res.headersSent) error(res, 500, "FakeArmBug", String(e));
      })
      .finally(() => {
        stats.inFlight--;
      });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    endpoint,
    caCertFile: cert,
    token,
    credential: fakeCredential(token),
    stats,
    log,
    addMachine(kind, name, config = {}, where = {}) {
      const subscriptionId = where.subscriptionId ?? SUBSCRIPTION;
      const resourceGroup = where.resourceGroup ?? "rg-fleet";
      const id = `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/${TYPES[kind].provider}/${TYPES[kind].type}/${name}`;
      const instanceViews = new Map<string, Map<string, { state: "succeeded" | "failed"; message: string; code: number }>>();
      if (kind === "vmss") for (let i = 0; i < (config.instances ?? 2); i++) instanceViews.set(String(i), new Map());
      machines.set(id.toLowerCase(), {
        kind,
        id,
        subscriptionId,
        resourceGroup,
        name,
        config,
        extensions: new Map(),
        instanceViews,
        faults: {
          conflicts: config.conflicts ?? 0,
          throttles: config.throttles ?? 0,
          serverErrors: config.serverErrors ?? 0,
          pollErrors: config.pollErrors ?? 0,
        },
        puts: 0,
        deletes: 0,
        runCommands: [],
        arcRunCommandNames: new Set(),
        arcRunCommandHistory: [],
        runningScripts: new Set(),
      });
      return id;
    },
    machine(id) {
      return machines.get(id.toLowerCase());
    },
    monitor,
    close() {
      return new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
