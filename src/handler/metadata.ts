// The instance metadata service tells us the cloud (for the service domain) and this machine's ARM
// resource id when the settings do not. Azure VMs answer at 169.254.169.254; Arc machines at the local
// HIMDS endpoint. Calls are short and never go through a proxy (node:http ignores proxy variables).
import { existsSync, readFileSync } from "node:fs";
import type { Logger } from "./log-line.ts";
import type { SystemPaths } from "./paths.ts";
import type { ProcessEnvironment } from "./process-env.ts";

export interface InstanceMetadata {
  azEnvironment?: string;
  resourceId?: string;
}

const AZURE_IMDS = "http://169.254.169.254";
const ARC_IMDS = "http://localhost:40342";
const TIMEOUT_MS = 3000;

const CLOUD_DOMAINS: Record<string, string> = {
  azurepubliccloud: "opinsights.azure.com",
  azureusgovernmentcloud: "opinsights.azure.us",
  azurechinacloud: "opinsights.azure.cn",
  usnat: "opinsights.azure.eaglex.ic.gov",
  ussec: "opinsights.azure.microsoft.scloud",
};
export const DEFAULT_DOMAIN = "opinsights.azure.com";

export function isArcMachine(paths: SystemPaths): boolean {
  return existsSync(paths.arcHimds) || existsSync(paths.arcAgentConf);
}

/** Where the environment says the metadata service is. */
export type MetadataEnvironment = Pick<ProcessEnvironment, "arcImdsEndpoint"> & { tuning: Pick<ProcessEnvironment["tuning"], "imdsEndpoint"> };

/** The metadata URL to ask, or undefined when metadata lookups are turned off (OMS_HANDLER_IMDS_ENDPOINT=off). */
export function metadataUrl(paths: SystemPaths, processEnv: MetadataEnvironment): string | undefined {
  const override = processEnv.tuning.imdsEndpoint;
  if (override === "off") return undefined;
  if (override) return `${override.replace(/\/$/, "")}/metadata/instance?api-version=2021-02-01`;
  if (isArcMachine(paths)) {
    let endpoint = processEnv.arcImdsEndpoint;
    if (!endpoint) {
      try {
        endpoint = /IMDS_ENDPOINT=([^"\s]+)/.exec(readFileSync(paths.arcAgentConf, "utf8"))?.[1];
      } catch {
        // Fall back to HIMDS's default address.
      }
    }
    return `${(endpoint ?? ARC_IMDS).replace(/\/$/, "")}/metadata/instance?api-version=2020-06-01`;
  }
  return `${AZURE_IMDS}/metadata/instance?api-version=2021-02-01`;
}

async function getJson(url: string, timeoutMs: number): Promise<unknown> {
  // node:http is the costliest built-in to load, and only a full enable asks the metadata service.
  const { request } = await import("node:http");
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Metadata: "true" }, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new Error("the answer is not JSON"));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** Never throws: metadata only fills gaps, so a machine without it still onboards with defaults. */
export async function fetchInstanceMetadata(paths: SystemPaths, log: Logger, processEnv: MetadataEnvironment): Promise<InstanceMetadata> {
  const url = metadataUrl(paths, processEnv);
  if (!url) return {};
  try {
    const document = (await getJson(url, TIMEOUT_MS)) as { compute?: Record<string, unknown> };
    const compute = document.compute ?? {};
    const metadata: InstanceMetadata = {
      azEnvironment: typeof compute.azEnvironment === "string" ? compute.azEnvironment : undefined,
      resourceId: typeof compute.resourceId === "string" && compute.resourceId ? compute.resourceId : undefined,
    };
    log.info({ azEnvironment: metadata.azEnvironment, resourceId: metadata.resourceId }, `instance metadata from ${url}`);
    return metadata;
  } catch (error) {
    log.warn(`instance metadata unavailable at ${url}: ${(error as Error).message}`);
    return {};
  }
}

export function domainForEnvironment(azEnvironment: string | undefined): string | undefined {
  return azEnvironment ? CLOUD_DOMAINS[azEnvironment.toLowerCase()] : undefined;
}
