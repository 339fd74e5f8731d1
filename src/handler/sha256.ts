// SHA-256 as hex. On the shipped runtime node:crypto is a JavaScript module that takes 10–20 ms to load, a
// large share of a no-op enable (which hashes its settings file); Bun's own hasher is native and costs nothing
// to reach. Under Node (the tests that run the handler in-process) node:crypto does the same work.
import { createRequire } from "node:module";

interface Hasher {
  update(data: Uint8Array | string): Hasher;
  digest(encoding: "hex"): string;
}

const bun = (globalThis as { Bun?: { CryptoHasher: new (algorithm: "sha256") => Hasher } }).Bun;

export function sha256Hex(data: Uint8Array | string): string {
  if (bun) return new bun.CryptoHasher("sha256").update(data).digest("hex");
  const { createHash } = createRequire(import.meta.url)("node:crypto") as typeof import("node:crypto");
  return createHash("sha256").update(data).digest("hex");
}
