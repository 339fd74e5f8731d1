// Once per run, before any machine: is the endpoint trusted, and does it serve the api-versions this CLI's SDKs
// send? A sovereign cloud or an Azure Stack Hub may lag the public cloud (Compute's SDK pins 2026-03-01), and a
// missing --ca-cert fails TLS: either way every machine would fail with the same error, so it is said once.
import type { ArmClients } from "./clients.ts";
import { ARC_RUN_COMMAND_API } from "./diagnose.ts";
import type { Target } from "./targets.ts";

/** What the SDKs in package.json send (@azure/arm-compute 24.1.0, @azure/arm-hybridcompute 3.0.0) and diagnose's Arc run commands. */
const SDK_API_VERSIONS = {
  compute: "2026-03-01",
  hybrid: "2021-05-20",
  arcRunCommands: ARC_RUN_COMMAND_API,
};

/** Microsoft.Resources' provider registration API (GET /subscriptions/{s}/providers/{namespace}). */
const PROVIDERS_API_VERSION = "2021-04-01";

const TLS_TRUST_ERRORS = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_UNTRUSTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** The TLS trust error anywhere in an error's cause chain. */
export function tlsTrustError(error: unknown): string | undefined {
  for (let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === "string" && TLS_TRUST_ERRORS.has(e.code)) return e.code;
  }
  return undefined;
}

interface Needed {
  namespace: "Microsoft.Compute" | "Microsoft.HybridCompute";
  resourceType: string;
  version: string;
}

function needed(targets: Target[], diagnose: boolean): Needed[] {
  const kinds = new Set(targets.map((t) => t.kind));
  const list: Needed[] = [];
  if (kinds.has("vm")) list.push({ namespace: "Microsoft.Compute", resourceType: "virtualMachines/extensions", version: SDK_API_VERSIONS.compute });
  if (kinds.has("vmss")) list.push({ namespace: "Microsoft.Compute", resourceType: "virtualMachineScaleSets/extensions", version: SDK_API_VERSIONS.compute });
  if (kinds.has("arc")) {
    list.push({ namespace: "Microsoft.HybridCompute", resourceType: "machines/extensions", version: SDK_API_VERSIONS.hybrid });
    if (diagnose) list.push({ namespace: "Microsoft.HybridCompute", resourceType: "machines/runCommands", version: SDK_API_VERSIONS.arcRunCommands });
  }
  return list;
}

/**
 * One GET of each provider's registration in the first target subscription. Returns a problem that stops the
 * run (TLS trust, an api-version the endpoint does not serve), or warnings when the check itself could not be
 * made (the run goes on: the per-machine errors will say what is wrong).
 */
export async function checkEndpoint(
  clients: ArmClients,
  endpoint: string,
  targets: Target[],
  diagnose: boolean,
  signal: AbortSignal | undefined,
): Promise<{ problem?: string; warnings: string[] }> {
  const subscription = targets[0]?.subscriptionId;
  if (!subscription) return { warnings: [] };
  const warnings: string[] = [];
  const { createPipelineRequest } = await import("@azure/core-rest-pipeline");
  const client = clients.hybrid(subscription);
  const byNamespace = new Map<string, Needed[]>();
  for (const n of needed(targets, diagnose)) byNamespace.set(n.namespace, [...(byNamespace.get(n.namespace) ?? []), n]);
  for (const [namespace, wanted] of byNamespace) {
    let body: { resourceTypes?: { resourceType?: string; apiVersions?: string[] }[] };
    try {
      const response = await client.sendRequest(
        createPipelineRequest({
          url: `${endpoint}/subscriptions/${subscription}/providers/${namespace}?api-version=${PROVIDERS_API_VERSION}`,
          method: "GET",
          ...(signal ? { abortSignal: signal } : {}),
        }),
      );
      if (response.status >= 400) {
        warnings.push(`could not read ${namespace}'s api-versions from ${endpoint} (HTTP ${response.status}); going on without the check`);
        continue;
      }
      body = JSON.parse(response.bodyAsText ?? "{}") as typeof body;
    } catch (e) {
      const tls = tlsTrustError(e);
      if (tls)
        return {
          problem: `the TLS certificate of ${endpoint} is not trusted (${tls}); nothing was sent — if the endpoint uses its own CA (Azure Stack Hub, a proxy that inspects TLS), pass it with --ca-cert <pem>`,
          warnings,
        };
      warnings.push(`could not read ${namespace}'s api-versions from ${endpoint} (${(e as Error).message.split("\n")[0]}); going on without the check`);
      continue;
    }
    for (const n of wanted) {
      const type = body.resourceTypes?.find((r) => r.resourceType?.toLowerCase() === n.resourceType.toLowerCase());
      const versions = type?.apiVersions ?? [];
      if (type && !versions.includes(n.version)) {
        const newest =
          [...versions]
            .filter((v) => !v.includes("preview"))
            .sort()
            .at(-1) ?? "none";
        return {
          problem: `${endpoint} serves ${n.namespace}/${n.resourceType} up to api-version ${newest}, but this CLI sends ${n.version}; nothing was sent — use the public cloud or a sovereign cloud that serves ${n.version} (this CLI's floor; see docs/fleet-cli.md), or deploy with az/templates at the endpoint's own version`,
          warnings,
        };
      }
    }
  }
  return { warnings };
}
