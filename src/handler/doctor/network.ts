// Can this machine reach the workspace's service the way the agent will? Name resolution, TCP 443 and a
// verified TLS handshake to <workspace>.oms.<domain> and <workspace>.ods.<domain>, through the agent's proxy
// when it has one, and the clock against the service's HTTP Date header (a skewed clock is one cause of the
// service's 403). Every step has a short timeout, every socket is destroyed on every path (an open one would keep
// doctor alive until the far end drops it), and the proxy's credentials are decoded before anything connects.
import { lookup } from "node:dns/promises";
import { readFileSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { proxyEndpoint } from "../secrets.ts";
import { fail, pass, type Check } from "./report.ts";

const STEP_TIMEOUT_MS = 5000;
/** The service's shared-key authentication refuses requests dated this far from its own clock. */
const MAX_SKEW_MS = 5 * 60 * 1000;

export interface NetworkOptions {
  /** `[http://][user:password@]host:port` from the agent's proxy.conf. */
  proxy?: string;
  /** Tests: connect every service name to this host:port instead of resolving it (OMS_HANDLER_SERVICE_ADDRESS). */
  serviceAddress?: string;
  /** Tests: an extra CA file to trust (OMS_HANDLER_SERVICE_CA). */
  caFile?: string;
  now?: () => number;
}

interface Endpoint {
  host: string;
  port: number;
}

/** The proxy's `user:password` is not valid percent-encoding (a `%` not followed by two hex digits). */
export class ProxyCredentialsError extends Error {}

export interface ProxyTarget {
  endpoint: Endpoint;
  /** `Basic …` for Proxy-Authorization, when the proxy URL carries credentials. */
  authorization?: string;
}

/**
 * `[scheme://][user:password@]host[:port]` → where to connect and what to authenticate with. Credentials are
 * percent-decoded as a URL's userinfo is; a malformed escape throws ProxyCredentialsError (never quoting them).
 */
export function parseProxy(proxy: string): ProxyTarget {
  const credentials = /^(?:[a-z]+:\/\/)?([^@/]+)@/i.exec(proxy)?.[1];
  let authorization: string | undefined;
  if (credentials !== undefined) {
    let decoded: string;
    try {
      decoded = credentials
        .split(":")
        .map((part) => decodeURIComponent(part))
        .join(":");
    } catch {
      throw new ProxyCredentialsError(
        "the proxy's user name or password has a '%' that is not followed by two hexadecimal digits, so it cannot be decoded (a URL's user and password are percent-encoded)",
      );
    }
    authorization = `Basic ${Buffer.from(decoded).toString("base64")}`;
  }
  return { endpoint: parseHostPort(proxyEndpoint(proxy), 3128), ...(authorization ? { authorization } : {}) };
}

function parseHostPort(text: string, defaultPort: number): Endpoint {
  const match = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(text);
  return { host: match?.[1] ?? text, port: match?.[2] ? Number(match[2]) : defaultPort };
}

function withTimeout<T>(promise: Promise<T>, what: string, onTimeout: () => void = () => {}): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout();
        reject(new Error(`${what}: no answer within ${STEP_TIMEOUT_MS / 1000} s`));
      }, STEP_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

function tcp(endpoint: Endpoint): Promise<Socket> {
  const socket = netConnect(endpoint.port, endpoint.host);
  // A late error (after the step gave up, or after the caller took the socket) must not crash doctor.
  socket.on("error", () => {});
  return withTimeout(
    new Promise<Socket>((resolve, reject) => {
      socket.once("connect", () => resolve(socket));
      socket.once("error", reject);
    }),
    `TCP ${endpoint.host}:${endpoint.port}`,
    () => socket.destroy(),
  ).catch((error: unknown) => {
    socket.destroy();
    throw error;
  });
}

/** Reads an HTTP response head (status line and headers) from a socket. */
function readHead(socket: Socket): Promise<{ status: number; headers: Map<string, string> }> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString("latin1");
      const end = buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      const [statusLine = "", ...lines] = buffer.slice(0, end).split("\r\n");
      const headers = new Map<string, string>();
      for (const line of lines) {
        const colon = line.indexOf(":");
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      resolve({ status: Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(statusLine)?.[1] ?? 0), headers });
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.once("end", () => reject(new Error("the connection closed before an HTTP answer")));
  });
}

/** A TCP connection to host:443, direct or tunnelled through the proxy with CONNECT. */
async function openTunnel(host: string, options: NetworkOptions): Promise<{ socket: Socket; via: string }> {
  if (!options.proxy) {
    const target = options.serviceAddress ? parseHostPort(options.serviceAddress, 443) : { host, port: 443 };
    return { socket: await tcp(target), via: `${target.host}:${target.port}` };
  }
  // Parsed before connecting: nothing below may throw with a socket left open.
  const { endpoint: proxy, authorization } = parseProxy(options.proxy);
  const socket = await tcp(proxy);
  try {
    const target = options.serviceAddress ?? `${host}:443`;
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n` + (authorization ? `Proxy-Authorization: ${authorization}\r\n` : "") + "\r\n");
    const answer = await withTimeout(readHead(socket), `CONNECT through the proxy ${proxy.host}:${proxy.port}`);
    if (answer.status !== 200) {
      throw new Error(
        `the proxy ${proxy.host}:${proxy.port} answered CONNECT with HTTP ${answer.status}${answer.status === 407 ? " (proxy authentication required)" : ""}`,
      );
    }
    return { socket, via: `proxy ${proxy.host}:${proxy.port}` };
  } catch (error) {
    socket.destroy();
    throw error;
  }
}

function tls(socket: Socket, host: string, options: NetworkOptions): Promise<TLSSocket> {
  let secure: TLSSocket;
  try {
    secure = tlsConnect({ socket, servername: host, ...(options.caFile ? { ca: readFileSync(options.caFile) } : {}) });
  } catch (error) {
    return Promise.reject(error as Error);
  }
  secure.on("error", () => {});
  return withTimeout(
    new Promise<TLSSocket>((resolve, reject) => {
      secure.once("secureConnect", () => resolve(secure));
      secure.once("error", reject);
    }),
    `TLS with ${host}`,
  ).catch((error: unknown) => {
    secure.destroy();
    throw error;
  });
}

/** The checks for one service host: resolution (direct only), TCP 443, TLS, and the clock against its Date header. */
export async function endpointChecks(area: string, label: string, host: string, options: NetworkOptions): Promise<Check[]> {
  const checks: Check[] = [];
  const unreachable =
    "allow outbound TCP 443 to *.oms.<domain> and *.ods.<domain> (firewall, NSG) or configure the proxy in the extension's protected settings";
  if (options.proxy) {
    try {
      parseProxy(options.proxy);
    } catch (error) {
      checks.push(
        fail(
          area,
          `${label} proxy`,
          (error as Error).message,
          "write a literal '%' in the proxy's user or password as %25 in the extension's protected settings (proxy), and redeploy",
        ),
      );
      return checks;
    }
    checks.push(pass(area, `${label} name`, `${host}: resolved by the proxy ${proxyEndpoint(options.proxy)}`));
  } else if (options.serviceAddress) {
    checks.push(pass(area, `${label} name`, `${host}: mapped to ${options.serviceAddress} (OMS_HANDLER_SERVICE_ADDRESS)`));
  } else {
    try {
      const found = await withTimeout(lookup(host), `resolving ${host}`);
      checks.push(pass(area, `${label} name`, `${host} → ${found.address}`));
    } catch (error) {
      checks.push(
        fail(
          area,
          `${label} name`,
          `${host} does not resolve (${(error as Error).message})`,
          "check the machine's DNS servers (/etc/resolv.conf) and that they resolve public Azure names",
        ),
      );
      return checks;
    }
  }

  let tunnel: { socket: Socket; via: string };
  try {
    tunnel = await openTunnel(host, options);
    checks.push(pass(area, `${label} tcp 443`, `connected to ${host}:443 via ${tunnel.via}`));
  } catch (error) {
    checks.push(fail(area, `${label} tcp 443`, `cannot connect to ${host}:443 (${(error as Error).message})`, unreachable));
    return checks;
  }

  let secure: TLSSocket;
  try {
    secure = await tls(tunnel.socket, host, options);
    checks.push(pass(area, `${label} tls`, `verified ${host}'s certificate (${secure.getProtocol() ?? "TLS"})`));
  } catch (error) {
    tunnel.socket.destroy();
    checks.push(
      fail(
        area,
        `${label} tls`,
        `the TLS handshake with ${host} failed (${(error as Error).message})`,
        "a proxy or firewall that inspects TLS must let *.opinsights.azure.com through untouched; check the machine's CA certificates",
      ),
    );
    return checks;
  }

  try {
    secure.write(`HEAD / HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: OmsAgentForLinux-doctor\r\nConnection: close\r\n\r\n`);
    const answer = await withTimeout(readHead(secure), `HTTP from ${host}`);
    const date = Date.parse(answer.headers.get("date") ?? "");
    if (Number.isNaN(date)) {
      checks.push(fail(area, `${label} clock`, `${host} sent no usable Date header`, "retry; if it persists, check for a proxy rewriting answers"));
    } else {
      const skew = (options.now ?? Date.now)() - date;
      const text = `${Math.abs(Math.round(skew / 1000))} s ${skew >= 0 ? "ahead of" : "behind"} ${host}`;
      checks.push(
        Math.abs(skew) <= MAX_SKEW_MS
          ? pass(area, `${label} clock`, text)
          : fail(
              area,
              `${label} clock`,
              `this machine's clock is ${text}; the service refuses requests more than 5 minutes off (403)`,
              "synchronise the clock (chrony or ntpd, or Hyper-V time sync) and retry",
            ),
      );
    }
  } catch (error) {
    checks.push(fail(area, `${label} clock`, `no HTTP answer from ${host} (${(error as Error).message})`, unreachable));
  } finally {
    // The TLS socket and the TCP (or proxy tunnel) socket under it: neither may outlive the check.
    secure.destroy();
    tunnel.socket.destroy();
  }
  return checks;
}
