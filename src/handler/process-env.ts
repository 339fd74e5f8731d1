// The process environment, read once at the entry (invocation.ts, doctor/index.ts) and parsed into typed values,
// one rule each. Nothing below the entry reads process.env: it gets these values, and children start from
// `childEnv`, the environment as the entry received it.

/** The environment a child starts from (process.ts sets LC_ALL, LANG and PATH on top). */
export type ChildEnvironment = Readonly<Record<string, string>>;

/** Proxy variables, in the order they are honoured. */
const PROXY_VARIABLES = ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"] as const;
type ProxyVariable = (typeof PROXY_VARIABLES)[number];

/**
 * Knobs the guest agent never sets; they exist so tests and the simulated VM can re-root system paths, point
 * at a fake metadata service and shorten waits.
 */
export interface Tuning {
  /** OMS_HANDLER_ROOT: prefix for every system path (default /). */
  systemRoot: string;
  /** OMS_HANDLER_DEADLINE_SECONDS: replaces the operation's budget when it is a positive number. */
  deadlineSeconds?: number;
  /** OMS_HANDLER_PACKAGE_LOCK_WAIT_SECONDS: how long install/uninstall wait for apt/dpkg/rpm locks (default 600). */
  packageLockWaitMs: number;
  /** OMS_HANDLER_MIN_FREE_MB: free space required on /var, /etc and /opt (default 500). */
  minFreeMb: number;
  /** OMS_HANDLER_RETRY_DELAY_SECONDS: first back-off between onboarding attempts (default 10). */
  retryDelayMs: number;
  /** OMS_HANDLER_IMDS_ENDPOINT: another instance metadata service, or "off" for none. */
  imdsEndpoint?: string;
  /** OMS_HANDLER_SERVICE_ADDRESS: where doctor's network probes connect instead of the service's address. */
  serviceAddress?: string;
  /** OMS_HANDLER_SERVICE_CA: a CA file doctor's probes trust besides the system's. */
  serviceCa?: string;
}

export interface ProcessEnvironment {
  /** ConfigSequenceNumber, when it is a decimal number (surrounding blanks ignored). */
  configSequenceNumber?: number;
  /** VERSION: the version the guest agent is updating to (update, uninstall). */
  version?: string;
  /** AZURE_GUEST_AGENT_UPDATING_FROM_VERSION: set, even empty, while an update runs. */
  updatingFromVersion?: string;
  /** AZURE_GUEST_AGENT_EXTENSION_VERSION: this extension's version as the guest agent knows it. */
  extensionVersion?: string;
  /** The proxy variables that are set and not empty, in the order they are honoured. */
  proxies: ReadonlyArray<{ name: ProxyVariable; value: string }>;
  /** IMDS_ENDPOINT: the Arc agent's metadata service, when it hands it down. */
  arcImdsEndpoint?: string;
  tuning: Tuning;
  childEnv: ChildEnvironment;
}

type RawEnvironment = Readonly<Record<string, string | undefined>>;

function number(value: string | undefined, fallback: number): number {
  const parsed = Number(value);
  return value !== undefined && value !== "" && Number.isFinite(parsed) && parsed >= 0 ? parsed : fallback;
}

function positive(value: string | undefined): number | undefined {
  const parsed = Number(value);
  return value !== undefined && value !== "" && Number.isFinite(parsed) && parsed > 0 ? parsed : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value ? value : undefined;
}

export function parseProcessEnvironment(raw: RawEnvironment): ProcessEnvironment {
  const sequence = raw.ConfigSequenceNumber?.trim();
  return {
    configSequenceNumber: sequence && /^\d+$/.test(sequence) ? Number(sequence) : undefined,
    version: raw.VERSION,
    updatingFromVersion: raw.AZURE_GUEST_AGENT_UPDATING_FROM_VERSION,
    extensionVersion: raw.AZURE_GUEST_AGENT_EXTENSION_VERSION,
    proxies: PROXY_VARIABLES.flatMap((name) => (raw[name] ? [{ name, value: raw[name] }] : [])),
    arcImdsEndpoint: nonEmpty(raw.IMDS_ENDPOINT),
    tuning: {
      systemRoot: raw.OMS_HANDLER_ROOT || "/",
      deadlineSeconds: positive(raw.OMS_HANDLER_DEADLINE_SECONDS),
      packageLockWaitMs: number(raw.OMS_HANDLER_PACKAGE_LOCK_WAIT_SECONDS, 600) * 1000,
      minFreeMb: number(raw.OMS_HANDLER_MIN_FREE_MB, 500),
      retryDelayMs: number(raw.OMS_HANDLER_RETRY_DELAY_SECONDS, 10) * 1000,
      imdsEndpoint: nonEmpty(raw.OMS_HANDLER_IMDS_ENDPOINT),
      serviceAddress: nonEmpty(raw.OMS_HANDLER_SERVICE_ADDRESS),
      serviceCa: nonEmpty(raw.OMS_HANDLER_SERVICE_CA),
    },
    childEnv: Object.fromEntries(Object.entries(raw).filter((entry): entry is [string, string] => entry[1] !== undefined)),
  };
}
