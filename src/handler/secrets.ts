// Secret values known to this invocation (workspace key, proxy credentials, decrypted settings). Every
// text that leaves the process — log lines, status messages, stdout/stderr, telemetry — passes through
// redact(), so a secret echoed by a child or embedded in an exception cannot leak.

const MASK = "***";
/** Longest first, so a secret that contains another (a proxy URL and its password) is masked whole. */
let secrets: string[] = [];

export function registerSecret(value: string | undefined): void {
  // Very short values would mask ordinary words; nothing we treat as secret is that short.
  if (!value || value.length < 4 || secrets.includes(value)) return;
  secrets = [...secrets, value].sort((a, b) => b.length - a.length);
}

/** Registers the credentials part of a proxy URL `[scheme://]user:password@host:port`. */
export function registerProxySecrets(proxy: string | undefined): void {
  if (!proxy) return;
  const match = /^(?:[a-z]+:\/\/)?([^@/]+)@/i.exec(proxy);
  if (!match) return;
  const credentials = match[1]!;
  registerSecret(credentials);
  const colon = credentials.indexOf(":");
  if (colon >= 0) registerSecret(credentials.slice(colon + 1));
  registerSecret(proxy);
}

export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) {
    if (out.includes(secret)) out = out.split(secret).join(MASK);
  }
  return out;
}

/** host[:port] of a proxy, never its credentials: what status and logs may show. */
export function proxyEndpoint(proxy: string): string {
  return proxy.replace(/^[a-z]+:\/\//i, "").replace(/^[^@/]*@/, "").replace(/\/$/, "");
}
