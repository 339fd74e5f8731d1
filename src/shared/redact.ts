// Masking secrets in everything the handler and the operator CLI write. Secrets reach output by routes we do not
// control — a child echoing its input, an exception quoting a value, ARM error bodies that echo the request, SDK
// debug logs — so every outgoing text passes through a Redactor that knows them in every encoded form.

export const REDACTED = "***";

/** Every string (and number) inside a protected-settings value, however deeply nested. */
function collect(value: unknown, into: Set<string>): void {
  if (typeof value === "string") {
    if (value !== "") into.add(value);
  } else if (typeof value === "number" || typeof value === "bigint") {
    into.add(String(value));
  } else if (Array.isArray(value)) {
    for (const item of value) collect(item, into);
  } else if (value && typeof value === "object") {
    for (const item of Object.values(value)) collect(item, into);
  }
}

/** The proxy's `user:password` and `password` are secrets on their own, wherever the URL gets split up. */
export function proxyCredentials(proxy: string): string[] {
  const match = /^(?:[a-z]+:\/\/)?([^@/\s]+)@/i.exec(proxy);
  if (!match?.[1]) return [];
  const userInfo = match[1];
  const colon = userInfo.indexOf(":");
  const password = colon >= 0 ? userInfo.slice(colon + 1) : "";
  return [userInfo, password].filter((s) => s !== "");
}

/** The forms a secret takes after JSON encoding, URL encoding, or a serializer that escapes slashes. */
function variants(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  const out = new Set([secret, json, json.replace(/\//g, "\\/"), encodeURIComponent(secret)]);
  try {
    out.add(decodeURIComponent(secret));
  } catch {
    // not URL-encoded: nothing more to add
  }
  return [...out].filter((s) => s !== "");
}

/**
 * Below this length a secret is only replaced where it stands alone (not inside a word): a 1-letter proxy
 * password must still vanish from `user:p@host`, but not every "p" in every message.
 */
const SHORT_SECRET = 6;

/**
 * A short secret that is a plain lower-case word ("pass", "to") is only replaced where it stands as a value:
 * after `:`, `=` or a quote, or before `@` or a quote (a URL's userinfo, a JSON or shell value). Anywhere else
 * it is the program's own wording ("pass a JSON file"): rewriting that would garble the message and, worse,
 * show which word the password is.
 */
const VALUE_CONTEXT_BEFORE = `(?<=[:="'])`;
const VALUE_CONTEXT_AFTER = `(?=[@"'])`;

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export class Redactor {
  private readonly needles: string[];
  private readonly short: RegExp | undefined;

  constructor(secrets: Iterable<string>) {
    const all = new Set<string>();
    for (const secret of secrets) {
      if (!secret) continue;
      for (const v of variants(secret)) all.add(v);
      for (const part of proxyCredentials(secret)) for (const v of variants(part)) all.add(v);
    }
    // Longest first, so a secret that contains another is replaced whole.
    const sorted = [...all].sort((a, b) => b.length - a.length);
    this.needles = sorted.filter((s) => s.length >= SHORT_SECRET);
    const short = sorted.filter((s) => s.length < SHORT_SECRET);
    const words = short.filter((s) => /^[a-z]+$/.test(s));
    const others = short.filter((s) => !/^[a-z]+$/.test(s));
    const alternatives: string[] = [];
    if (others.length > 0) alternatives.push(`(?:${others.map(escapeRegExp).join("|")})`);
    if (words.length > 0) {
      const word = `(?:${words.map(escapeRegExp).join("|")})`;
      alternatives.push(`${VALUE_CONTEXT_BEFORE}${word}`, `${word}${VALUE_CONTEXT_AFTER}`);
    }
    this.short = alternatives.length > 0 ? new RegExp(`(?<![A-Za-z0-9])(?:${alternatives.join("|")})(?![A-Za-z0-9])`, "g") : undefined;
  }

  static none(): Redactor {
    return new Redactor([]);
  }

  /** Treat every value in the protected settings as secret (the key, proxy credentials, and the rest). */
  static fromProtectedSettings(value: unknown): Redactor {
    const secrets = new Set<string>();
    collect(value, secrets);
    return new Redactor(secrets);
  }

  get size(): number {
    return this.needles.length + (this.short ? 1 : 0);
  }

  redact(text: string): string {
    let out = text;
    for (const needle of this.needles) {
      if (out.includes(needle)) out = out.split(needle).join(REDACTED);
    }
    return this.short ? out.replace(this.short, REDACTED) : out;
  }
}

/** host[:port] of a proxy, never its credentials: what status, logs and doctor may show. */
export function proxyEndpoint(proxy: string): string {
  return proxy
    .replace(/^[a-z]+:\/\//i, "")
    .replace(/^[^@/]*@/, "")
    .replace(/\/$/, "");
}
