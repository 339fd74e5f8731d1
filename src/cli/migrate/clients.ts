// The migration's own clients, built from the same connection as the rollout's (endpoint, token audience, TLS
// trust, retry layer): Log Analytics workspaces and their legacy data sources, data collection rules and their
// associations, and the Log Analytics query API, which lives on its own host and token audience.
import type { TokenCredential } from "@azure/identity";
import type { MonitorClient } from "@azure/arm-monitor";
import type { OperationalInsightsManagementClient } from "@azure/arm-operationalinsights";
import type { LogsQueryClient } from "@azure/monitor-query-logs";
import type { ArmConnection } from "../clients.ts";
import { installRetryPolicy, type Pipeline } from "../retry.ts";

/** The Log Analytics query endpoint and token audience of each cloud (Microsoft's "Azure Monitor Logs API" docs). */
export const LOGS_ENDPOINTS: Record<string, string> = {
  "https://management.azure.com": "https://api.loganalytics.io",
  "https://management.usgovcloudapi.net": "https://api.loganalytics.us",
  "https://management.chinacloudapi.cn": "https://api.loganalytics.azure.cn",
};

export interface MonitorConnection {
  /** Query API base, e.g. https://api.loganalytics.io (the client adds /v1). */
  logsEndpoint: string;
  /** Its token scope, e.g. https://api.loganalytics.io/.default. */
  logsScope: string;
}

export interface MonitorClients {
  workspaces(subscriptionId: string): OperationalInsightsManagementClient;
  insights(subscriptionId: string): MonitorClient;
  logs(): LogsQueryClient;
}

export async function createMonitorClients(connection: ArmConnection, credential: TokenCredential, monitor: MonitorConnection): Promise<MonitorClients> {
  // Loaded here, not at the top: `--help` and `validate` must start without the Azure SDK (src/cli/clients.ts).
  const [{ MonitorClient }, { OperationalInsightsManagementClient }, { LogsQueryClient }] = await Promise.all([
    import("@azure/arm-monitor"),
    import("@azure/arm-operationalinsights"),
    import("@azure/monitor-query-logs"),
  ]);
  const endpoint = connection.endpoint.replace(/\/+$/, "");
  const common = {
    retryOptions: { maxRetries: 0 },
    ...(connection.caCertPem ? { tlsOptions: { ca: connection.caCertPem } } : {}),
    userAgentOptions: { userAgentPrefix: "omsagent-fleet" },
  };
  const oi = new Map<string, OperationalInsightsManagementClient>();
  const insights = new Map<string, MonitorClient>();
  let logs: LogsQueryClient | undefined;
  return {
    workspaces(subscriptionId) {
      let client = oi.get(subscriptionId);
      if (!client) {
        // Classic clients: URLs from `$host`, requests through `endpoint`.
        client = new OperationalInsightsManagementClient(credential, subscriptionId, {
          ...common,
          endpoint,
          $host: endpoint,
          credentialScopes: [connection.scope],
        });
        installRetryPolicy(client.pipeline as unknown as Pipeline, connection.retry);
        oi.set(subscriptionId, client);
      }
      return client;
    },
    insights(subscriptionId) {
      let client = insights.get(subscriptionId);
      if (!client) {
        client = new MonitorClient(credential, subscriptionId, { ...common, endpoint, $host: endpoint, credentialScopes: [connection.scope] });
        installRetryPolicy(client.pipeline as unknown as Pipeline, connection.retry);
        insights.set(subscriptionId, client);
      }
      return client;
    },
    logs() {
      if (!logs) {
        // With `endpoint` set the client uses it as the whole base URL, so the API version segment goes here.
        logs = new LogsQueryClient(credential, {
          ...common,
          endpoint: `${monitor.logsEndpoint.replace(/\/+$/, "")}/v1`,
          credentials: { scopes: [monitor.logsScope] },
        });
        installRetryPolicy(logs.pipeline as unknown as Pipeline, connection.retry);
      }
      return logs;
    },
  };
}
