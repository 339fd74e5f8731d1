// Where the agent's traffic goes: the Log Analytics cloud domain and the proxy, each with the source it came
// from (for the status and extension.log). Settings win; then the machine (instance metadata, the Arc agent's
// configuration, the environment the guest agent hands down).
import { readFileSync } from "node:fs";
import { DEFAULT_DOMAIN, domainForEnvironment, isArcMachine, type InstanceMetadata } from "./metadata.ts";
import type { SystemPaths } from "./paths.ts";
import type { ProcessEnvironment } from "./process-env.ts";
import { proxyEndpoint } from "./secrets.ts";
import type { Settings } from "./settings.ts";

export interface Resolved<T> {
  value: T;
  source: string;
}

export interface ProxyChoice {
  value?: string;
  source: string;
  /** Sources that offered a proxy and were passed over, and why (for extension.log). */
  skipped?: string[];
}

/** The host an Arc proxy.bypass entry names: a URL, `*.domain`, `.domain` or a plain host (or a service tag). */
function bypassHost(entry: string): string {
  return entry
    .trim()
    .toLowerCase()
    .replace(/^[a-z]+:\/\//, "")
    .replace(/[/:].*$/, "")
    .replace(/^\*?\./, "");
}

/**
 * Whether an Arc proxy.bypass list covers the Log Analytics service of `domain` (its endpoints are
 * <workspace>.oms.<domain> and <workspace>.ods.<domain>): an entry `*`, or the domain or one of its parents.
 * Service tags (Arc, ARM, AAD) name other services.
 */
function bypassCoversLogAnalytics(bypass: unknown, domain: string): boolean {
  const entries = Array.isArray(bypass) ? bypass : typeof bypass === "string" ? bypass.split(/[,;\s]+/) : [];
  const service = domain.toLowerCase();
  return entries.some((entry) => {
    if (typeof entry !== "string") return false;
    if (entry.trim() === "*") return true;
    const host = bypassHost(entry);
    return host.includes(".") && (service === host || service.endsWith(`.${host}`));
  });
}

/**
 * Protected settings first, then the Arc agent's configured proxy (unless its proxy.bypass covers the Log
 * Analytics service), then the guest agent's environment.
 */
export function resolveProxy(
  settings: Settings,
  paths: SystemPaths,
  processEnv: Pick<ProcessEnvironment, "proxies">,
  domain: string = DEFAULT_DOMAIN,
): ProxyChoice {
  if (settings.protected?.proxy) return { value: settings.protected.proxy, source: "protected settings" };
  const skipped: string[] = [];
  let bypassed: string | undefined;
  if (isArcMachine(paths)) {
    let config: Record<string, unknown> = {};
    try {
      const parsed = JSON.parse(readFileSync(paths.arcLocalConfig, "utf8")) as { config?: Record<string, unknown> } & Record<string, unknown>;
      config = { ...parsed, ...parsed.config };
    } catch {
      // No Arc proxy configured.
    }
    const url = config["proxy.url"];
    if (typeof url === "string" && url) {
      if (!bypassCoversLogAnalytics(config["proxy.bypass"], domain)) return { value: url, source: "Azure Arc agent configuration" };
      bypassed = url;
      skipped.push(`Azure Arc proxy.url ${proxyEndpoint(url)}: the Arc agent's proxy.bypass covers ${domain}`);
    }
  }
  for (const { name, value } of processEnv.proxies) {
    // The Arc agent hands its own proxy down in the environment; bypassed there, it is bypassed here too.
    if (bypassed !== undefined && value.replace(/\/$/, "") === bypassed.replace(/\/$/, "")) {
      skipped.push(`${name} ${proxyEndpoint(value)}: it is the Arc proxy that proxy.bypass excludes`);
      continue;
    }
    return { value, source: `environment (${name})`, ...(skipped.length > 0 ? { skipped } : {}) };
  }
  return { source: "none", ...(skipped.length > 0 ? { skipped } : {}) };
}

export function resolveDomain(settings: Settings, metadata: InstanceMetadata): Resolved<string> {
  if (settings.protected?.domain) return { value: settings.protected.domain, source: "protected settings" };
  const fromCloud = domainForEnvironment(metadata.azEnvironment);
  if (fromCloud) return { value: fromCloud, source: `instance metadata (${metadata.azEnvironment})` };
  return { value: DEFAULT_DOMAIN, source: metadata.azEnvironment ? `default (unknown cloud ${metadata.azEnvironment})` : "default" };
}
