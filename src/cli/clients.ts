// Building the ARM clients: endpoint, token audience, TLS trust and credential in one place, so a sovereign
// cloud, an Azure Stack Hub endpoint, or the tests' loopback server differ only in these options.
import type { TokenCredential } from "@azure/identity";
import type { ComputeManagementClient, ComputeManagementClientOptionalParams } from "@azure/arm-compute";
import type { HybridComputeManagementClient, HybridComputeManagementClientOptionalParams } from "@azure/arm-hybridcompute";
import type { ResourceGraphClient } from "@azure/arm-resourcegraph";
import { installRetryPolicy, type Pipeline, type RetryOptions } from "./retry.ts";
import { installThrottlePolicy, Pacer, type PacingOptions } from "./throttle.ts";

export interface Cloud {
  endpoint: string;
  authorityHost: string;
}

export const CLOUDS: Record<string, Cloud> = {
  public: { endpoint: "https://management.azure.com", authorityHost: "https://login.microsoftonline.com" },
  usgov: { endpoint: "https://management.usgovcloudapi.net", authorityHost: "https://login.microsoftonline.us" },
  china: { endpoint: "https://management.chinacloudapi.cn", authorityHost: "https://login.chinacloudapi.cn" },
};

export interface ArmConnection {
  /** Resource Manager endpoint, e.g. https://management.azure.com. */
  endpoint: string;
  /** Token scope. Both SDKs default to the public cloud's audience whatever the endpoint, so always set it. */
  scope: string;
  /** Entra ID authority for DefaultAzureCredential (sovereign clouds). */
  authorityHost?: string;
  /** An injected credential (tests, embedding); DefaultAzureCredential when absent. */
  credential?: TokenCredential;
  /** CA certificate(s) in PEM that sign the endpoint, trusted instead of the system roots (Azure Stack Hub, test servers). */
  caCertPem?: string;
  retry: RetryOptions;
  /** Tuning of the pacer that slows writes before ARM's limits are reached. */
  pacing?: Partial<PacingOptions>;
}

export interface ArmClients {
  credential: TokenCredential;
  compute(subscriptionId: string): ComputeManagementClient;
  hybrid(subscriptionId: string): HybridComputeManagementClient;
  /** One client for every subscription: Resource Graph queries span subscriptions. */
  graph(): ResourceGraphClient;
  /** The write pacer shared by every client (see throttle.ts). */
  pacer: Pacer;
}

// The stable API version of the Resource Graph query; the SDK's default is a preview.
const RESOURCE_GRAPH_API_VERSION = "2021-03-01";

/** `${endpoint}/.default`, the audience ARM accepts in the public and sovereign clouds. */
export function defaultScope(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, "")}/.default`;
}

/**
 * DefaultAzureCredential is imported lazily: @azure/identity (and MSAL under it) is the slowest part of
 * start-up, and validate, --dry-run and tests with an injected credential never need it.
 */
async function defaultCredential(authorityHost: string | undefined): Promise<TokenCredential> {
  const { DefaultAzureCredential } = await import("@azure/identity");
  return new DefaultAzureCredential(authorityHost ? { authorityHost } : {});
}

export async function createArmClients(connection: ArmConnection): Promise<ArmClients> {
  const credential = connection.credential ?? (await defaultCredential(connection.authorityHost));
  // The SDKs load only when a command talks to Azure: --help and validate never pay for them (~1–2 s, ~70 MB).
  const [{ ComputeManagementClient }, { HybridComputeManagementClient }, { ResourceGraphClient }] = await Promise.all([
    import("@azure/arm-compute"),
    import("@azure/arm-hybridcompute"),
    import("@azure/arm-resourcegraph"),
  ]);
  const endpoint = connection.endpoint.replace(/\/+$/, "");
  // `ca` replaces the system roots for this client, which only talks to the one endpoint. Appending the ~140
  // Mozilla roots instead would cost a 200 KB string per request: https.Agent keys its socket pool by
  // concatenating `ca` (measured: half the CPU of a 1,000-machine run).
  const tlsOptions = connection.caCertPem ? { ca: connection.caCertPem } : undefined;
  const common = {
    // The SDKs' own retries are off: retry.ts is the only retry layer (see there).
    retryOptions: { maxRetries: 0 },
    ...(tlsOptions ? { tlsOptions } : {}),
    userAgentOptions: { userAgentPrefix: "omsagent-fleet" },
  };
  const computeClients = new Map<string, ComputeManagementClient>();
  const hybridClients = new Map<string, HybridComputeManagementClient>();
  let graphClient: ResourceGraphClient | undefined;
  const pacer = new Pacer(connection.pacing);

  return {
    credential,
    pacer,
    graph() {
      if (!graphClient) {
        // A classic client like the Arc one: URLs from `$host`, requests through `endpoint`.
        graphClient = new ResourceGraphClient(credential, {
          ...common,
          endpoint,
          $host: endpoint,
          credentialScopes: [connection.scope],
          apiVersion: RESOURCE_GRAPH_API_VERSION,
        });
        installRetryPolicy(graphClient.pipeline as unknown as Pipeline, connection.retry);
      }
      return graphClient;
    },
    compute(subscriptionId) {
      let client = computeClients.get(subscriptionId);
      if (!client) {
        const options: ComputeManagementClientOptionalParams = {
          ...common,
          endpoint,
          credentials: { scopes: [connection.scope] },
        };
        client = new ComputeManagementClient(credential, subscriptionId, options);
        installRetryPolicy(client.pipeline, connection.retry);
        installThrottlePolicy(client.pipeline, pacer, subscriptionId);
        computeClients.set(subscriptionId, client);
      }
      return client;
    },
    hybrid(subscriptionId) {
      let client = hybridClients.get(subscriptionId);
      if (!client) {
        // This classic client builds URLs from `$host` but sends through `endpoint` (baseUri): set both.
        const options: HybridComputeManagementClientOptionalParams = {
          ...common,
          endpoint,
          $host: endpoint,
          credentialScopes: [connection.scope],
        };
        client = new HybridComputeManagementClient(credential, subscriptionId, options);
        installRetryPolicy(client.pipeline, connection.retry);
        installThrottlePolicy(client.pipeline as unknown as Pipeline, pacer, subscriptionId);
        hybridClients.set(subscriptionId, client);
      }
      return client;
    },
  };
}
