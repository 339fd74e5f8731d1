// Secret values known to this invocation (workspace key, proxy credentials, decrypted settings). Every
// text that leaves the process — log lines, status messages, stdout/stderr, telemetry — passes through
// redact(), so a secret echoed by a child or embedded in an exception cannot leak. The masking itself is the
// shared Redactor's (src/shared/redact.ts), the same as the operator CLI's.
import { proxyCredentials, Redactor } from "../shared/redact.ts";

export { proxyEndpoint } from "../shared/redact.ts";

const secrets = new Set<string>();
let redactor = Redactor.none();

export function registerSecret(value: string | undefined): void {
  // Very short values would mask ordinary words; nothing we treat as secret is that short.
  if (!value || value.length < 4 || secrets.has(value)) return;
  secrets.add(value);
  redactor = new Redactor(secrets);
}

/** A proxy URL with credentials is a secret, and so are its `user:password` and password (the Redactor splits them). */
export function registerProxySecrets(proxy: string | undefined): void {
  if (proxy && proxyCredentials(proxy).length > 0) registerSecret(proxy);
}

export function redact(text: string): string {
  return redactor.redact(text);
}
