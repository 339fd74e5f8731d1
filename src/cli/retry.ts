// The one retry layer of the fleet CLI.
//
// Both SDKs build their pipelines with core-rest-pipeline's `defaultRetryPolicy` (3 retries of 429/5xx and
// transport errors). That policy never retries 409, cannot see the per-machine deadline, and stacked under an
// operation-level retry loop it would multiply attempts (3 × N). So every client gets `retryOptions:
// {maxRetries: 0}` and has the SDK policy removed, and this policy takes its place in the pipeline's "Retry"
// phase. Because it sits inside the pipeline it retries every HTTP request the SDK makes, including LRO
// polls and final GETs, with no operation-level retry on top.
import { AsyncLocalStorage } from "node:async_hooks";
import type { ComputeManagementClient } from "@azure/arm-compute";

// Derived from the client so this module needs no direct import of the transitive @azure/core-rest-pipeline.
export type Pipeline = ComputeManagementClient["pipeline"];
export type PipelinePolicy = Parameters<Pipeline["addPolicy"]>[0];
type PipelineRequest = Parameters<PipelinePolicy["sendRequest"]>[0];
type PipelineResponse = Awaited<ReturnType<PipelinePolicy["sendRequest"]>>;

export const FLEET_RETRY_POLICY = "fleetRetryPolicy";
const SDK_RETRY_POLICY = "defaultRetryPolicy";

export interface RetryOptions {
  /** Retries per HTTP request after the first attempt. */
  maxRetries: number;
  /** First backoff delay; doubles per attempt (with jitter) up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { maxRetries: 10, baseDelayMs: 2_000, maxDelayMs: 60_000 };

/** What the policy reports about each retry to whoever runs the machine's operation. */
export interface RetryEvent {
  method: string;
  status: number | undefined;
  /** Short reason, e.g. "409", "429", "ECONNRESET". */
  reason: string;
  delayMs: number;
  attempt: number;
}

export interface RetryScope {
  onRetry(event: RetryEvent): void;
  /** The machine's region once known: Compute throttles extension writes per subscription and region. */
  region?: string;
}

/**
 * The machine whose operation is running. The rollout enters this scope per machine; the policy is shared by
 * every machine on a client, and async context is how a retry deep in an LRO poll finds its machine.
 */
export const retryScope = new AsyncLocalStorage<RetryScope>();

/** Writes conflict with an operation already running on the extension (ARM answers 409); reads do not. */
const WRITE_METHODS = new Set(["PUT", "PATCH", "DELETE", "POST"]);

export function isRetryableStatus(method: string, status: number): boolean {
  if (status === 409) return WRITE_METHODS.has(method.toUpperCase());
  if (status === 408 || status === 429) return true;
  // 501 Not Implemented and 505 HTTP Version Not Supported will not change on a retry.
  return status >= 500 && status !== 501 && status !== 505;
}

const TRANSIENT_ERROR_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "REQUEST_SEND_ERROR",
  "UND_ERR_SOCKET",
]);

function transientErrorCode(error: unknown): string | undefined {
  if (!error || typeof error !== "object") return undefined;
  const e = error as { name?: string; code?: unknown; cause?: unknown };
  if (e.name === "AbortError") return undefined;
  if (typeof e.code === "string" && TRANSIENT_ERROR_CODES.has(e.code)) return e.code;
  return transientErrorCode(e.cause);
}

/**
 * Delay the server asked for: `retry-after-ms` / `x-ms-retry-after-ms` (milliseconds, Azure extensions), else
 * `Retry-After` as seconds or an HTTP date. Undefined when absent or unparseable.
 */
export function retryAfterMs(get: (name: string) => string | undefined, now = Date.now()): number | undefined {
  for (const name of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const raw = get(name)?.trim();
    if (raw && /^\d+(\.\d+)?$/.test(raw)) return Number(raw);
  }
  const header = get("retry-after")?.trim();
  if (!header) return undefined;
  if (/^\d+(\.\d+)?$/.test(header)) return Number(header) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Resource Graph's 429 carries no Retry-After: its quota header `x-ms-user-quota-resets-after` (hh:mm:ss) says
 * when the user's quota refills (governance/resource-graph/concepts/guidance-for-throttled-requests).
 */
export function quotaResetMs(get: (name: string) => string | undefined): number | undefined {
  const match = /^\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)\s*$/.exec(get("x-ms-user-quota-resets-after") ?? "");
  if (!match) return undefined;
  return Math.round((Number(match[1]) * 3600 + Number(match[2]) * 60 + Number(match[3])) * 1000);
}

/** Exponential backoff with jitter in [50 %, 100 %] so a fleet of retries does not arrive in lockstep. */
export function backoffMs(attempt: number, options: RetryOptions, random = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** attempt);
  return Math.round(ceiling * (0.5 + random() * 0.5));
}

// A server-sent Retry-After above this is treated as a typo; the per-machine deadline still bounds the wait.
const MAX_HONOURED_RETRY_AFTER_MS = 10 * 60_000;

function abortError(signal: AbortSignal | undefined): Error {
  const reason = signal?.reason;
  if (reason instanceof Error) return reason;
  const error = new Error("The operation was aborted.");
  error.name = "AbortError";
  return error;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    function onAbort(): void {
      clearTimeout(timer);
      reject(abortError(signal));
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

type AbortSignalLike = { aborted: boolean; addEventListener?: unknown };

function asSignal(signal: unknown): AbortSignal | undefined {
  return signal && typeof (signal as AbortSignalLike).aborted === "boolean" ? (signal as AbortSignal) : undefined;
}

/**
 * Retries 409 (writes only: another operation on the extension is in progress), 408, 429, 5xx and transport
 * errors. Honours Retry-After. A 429 also pauses every other request through this policy (one policy per
 * subscription client) until the server's Retry-After has passed: ARM throttles per subscription and caller,
 * so hammering it from the other workers would only extend the throttling.
 */
export function fleetRetryPolicy(options: RetryOptions): PipelinePolicy {
  let pausedUntil = 0;
  return {
    name: FLEET_RETRY_POLICY,
    async sendRequest(request: PipelineRequest, next): Promise<PipelineResponse> {
      const signal = asSignal(request.abortSignal);
      for (let attempt = 0; ; attempt++) {
        const wait = pausedUntil - Date.now();
        if (wait > 0) await sleep(wait, signal);

        let response: PipelineResponse | undefined;
        let error: unknown;
        try {
          response = await next(request);
        } catch (e) {
          error = e;
        }
        const status = response?.status;
        const transient = error ? transientErrorCode(error) : undefined;
        const retryable = response ? isRetryableStatus(request.method, response.status) : transient !== undefined;
        if (!retryable || attempt >= options.maxRetries || signal?.aborted) {
          if (error) throw error;
          return response as PipelineResponse;
        }

        const get = (name: string): string | undefined => response?.headers.get(name);
        const quota = status === 429 ? quotaResetMs(get) : undefined;
        // A quota that "resets after 00:00:00" has not reset yet when the answer arrives: wait a little anyway.
        const asked = response ? (retryAfterMs(get) ?? (quota !== undefined ? Math.max(quota, 500) : undefined)) : undefined;
        const delayMs = asked !== undefined ? Math.min(asked, MAX_HONOURED_RETRY_AFTER_MS) : backoffMs(attempt, options);
        if (status === 429) pausedUntil = Math.max(pausedUntil, Date.now() + delayMs);
        retryScope.getStore()?.onRetry({
          method: request.method,
          status,
          reason: status !== undefined ? String(status) : (transient ?? "error"),
          delayMs,
          attempt: attempt + 1,
        });
        await sleep(delayMs, signal);
      }
    },
  };
}

/**
 * Swap the SDK's retry policy for ours. Returns how many SDK retry policies were removed; the clients are also
 * built with `maxRetries: 0`, so even if a future SDK renamed its policy, requests would not be retried twice.
 */
export function installRetryPolicy(pipeline: Pipeline, options: RetryOptions): number {
  const removed = pipeline.removePolicy({ name: SDK_RETRY_POLICY });
  pipeline.removePolicy({ name: FLEET_RETRY_POLICY });
  pipeline.addPolicy(fleetRetryPolicy(options), { phase: "Retry" });
  return removed.length;
}
