// Checks a real OMS shell bundle before it goes into a package, so that a truncated or wrong download fails here
// and not on every VM with 30.
//
// The format is the one microsoft/OMS-Agent-for-Linux builds (installer/bundle/create_bundle.sh, 1.19.0):
// bundle_skel.sh with its placeholders filled in — `TAR_FILE=<name>.tar`, `OMS_PKG=omsagent-<ver>-<build>.universal.x64`,
// `SCRIPT_LEN=<lines of the script>`, `SCRIPT_LEN_PLUS_ONE=<that + 1>` — followed directly by `gzip -c <tar>`. The
// script extracts itself with `tail -n +${SCRIPT_LEN_PLUS_ONE} "${SCRIPT}" | tar xzf -` (bundle_skel.sh, "Extract the
// binary here") and installs `$TMPBINDIR/${OMS_PKG}.rpm|.deb` from the 100/, 110/ or 300/ directory that matches the
// machine's OpenSSL (ulinux_detect_openssl_version, pkg_add/pkg_upd). So a bundle is sound when the header parses,
// the gzip stream starts exactly after line SCRIPT_LEN and decompresses to its end, the tar inside is complete
// (every header's checksum holds, the end-of-archive block is there) and it holds the omsagent package OMS_PKG names.
import { createHash } from "node:crypto";
import { createReadStream, openSync, readSync, closeSync, statSync } from "node:fs";
import { basename } from "node:path";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { createGunzip } from "node:zlib";

export interface BundleFacts {
  sha256: string;
  /** Lines of the script before the payload. */
  scriptLines: number;
  omsPackage: string;
  /** Entries of the embedded tar (files and directories), in archive order. */
  entries: string[];
}

/** What a bundle's first lines must say; read from at most this many bytes (bundle_skel.sh is ~60 KB). */
const HEADER_LIMIT = 1024 * 1024;

function fail(path: string, problem: string): never {
  throw new Error(
    `${basename(path)} is not a complete OMS shell bundle: ${problem} — download it again from the OMS-Agent-for-Linux release page and compare its sha256 with the one published there (README: "The real OMS bundle")`,
  );
}

function readHead(path: string): Buffer {
  const fd = openSync(path, "r");
  try {
    const buffer = Buffer.alloc(Math.min(HEADER_LIMIT, statSync(path).size));
    const read = readSync(fd, buffer, 0, buffer.length, 0);
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/** Byte offset just past the `lines`-th newline, or -1 when the file has fewer lines in `head`. */
function offsetAfterLines(head: Buffer, lines: number): number {
  let offset = 0;
  for (let line = 0; line < lines; line++) {
    const newline = head.indexOf(0x0a, offset);
    if (newline < 0) return -1;
    offset = newline + 1;
  }
  return offset;
}

function octal(field: Buffer): number {
  const text = field.toString("latin1").replace(/\0.*$/s, "").trim();
  return text === "" ? 0 : Number.parseInt(text, 8);
}

/** Walks a tar stream block by block: header checksums, sizes, GNU long names; notes the end-of-archive block. */
class TarWalker extends Writable {
  entries: string[] = [];
  ended = false;
  private pending: Buffer = Buffer.alloc(0);
  private skip = 0;
  private longName: string | undefined;
  private readingLongName = 0;
  private longNameParts: Buffer[] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.ended) return done();
    try {
      this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
      let at = 0;
      while (!this.ended) {
        if (this.skip > 0) {
          const take = Math.min(this.skip, this.pending.length - at);
          if (this.readingLongName > 0) this.longNameParts.push(this.pending.subarray(at, at + Math.min(take, this.readingLongName)));
          this.readingLongName = Math.max(0, this.readingLongName - take);
          this.skip -= take;
          at += take;
          if (this.skip > 0) break;
          if (this.longNameParts.length > 0 && this.readingLongName === 0) {
            this.longName = Buffer.concat(this.longNameParts).toString("utf8").replace(/\0.*$/s, "");
            this.longNameParts = [];
          }
          continue;
        }
        if (this.pending.length - at < 512) break;
        const header = this.pending.subarray(at, at + 512);
        at += 512;
        if (header.every((byte) => byte === 0)) {
          this.ended = true;
          break;
        }
        let sum = 0;
        for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
        if (sum !== octal(header.subarray(148, 156))) throw new Error(`a tar header after entry ${this.entries.length} has a wrong checksum`);
        const size = octal(header.subarray(124, 136));
        const type = String.fromCharCode(header[156]!);
        const prefix = header.subarray(257, 263).toString("latin1").startsWith("ustar")
          ? header.subarray(345, 500).toString("latin1").replace(/\0.*$/s, "")
          : "";
        const plain = header.subarray(0, 100).toString("latin1").replace(/\0.*$/s, "");
        const padded = Math.ceil(size / 512) * 512;
        if (type === "L") {
          this.readingLongName = size;
        } else if (type !== "x" && type !== "g") {
          this.entries.push(this.longName ?? (prefix ? `${prefix}/${plain}` : plain));
          this.longName = undefined;
        }
        this.skip = padded;
      }
      this.pending = this.pending.subarray(at);
      done();
    } catch (error) {
      done(error as Error);
    }
  }
}

/**
 * Verifies a real OMS shell bundle (see the top of this file). With `expectedSha256`, the bytes must hash to it
 * first: the release page's checksum is the stronger check; the structure catches what a checksum from the same
 * truncated download would not.
 */
export async function verifyBundle(path: string, expectedSha256?: string): Promise<BundleFacts> {
  if (expectedSha256 !== undefined && !/^[0-9a-f]{64}$/i.test(expectedSha256)) {
    throw new Error(`--bundle-sha256 must be 64 hexadecimal digits (sha256sum's output), got ${JSON.stringify(expectedSha256)}`);
  }
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  const sha256 = hash.digest("hex");
  if (expectedSha256 !== undefined && sha256 !== expectedSha256.toLowerCase()) {
    throw new Error(
      `${basename(path)} has sha256 ${sha256}, not the expected ${expectedSha256.toLowerCase()} — the file is not the published bundle (a partial or different download); download it again`,
    );
  }

  const head = readHead(path);
  if (!/^#! ?\/bin\/(ba)?sh\b/.test(head.subarray(0, 16).toString("latin1"))) fail(path, "it does not start with #!/bin/sh");
  const text = head.toString("latin1");
  const value = (name: string) => new RegExp(`^${name}=(.*)$`, "m").exec(text)?.[1]?.trim();
  const scriptLen = value("SCRIPT_LEN");
  const plusOne = value("SCRIPT_LEN_PLUS_ONE");
  if (!scriptLen || !/^\d+$/.test(scriptLen)) fail(path, `no SCRIPT_LEN=<number> line (found ${JSON.stringify(scriptLen ?? null)})`);
  if (plusOne !== String(Number(scriptLen) + 1)) fail(path, `SCRIPT_LEN_PLUS_ONE is ${JSON.stringify(plusOne ?? null)}, not ${Number(scriptLen) + 1}`);
  const omsPackage = value("OMS_PKG");
  if (!omsPackage || !/^omsagent-\d+\.\d+\.\d+-\d+\.universal\.x64$/.test(omsPackage)) fail(path, `OMS_PKG is ${JSON.stringify(omsPackage ?? null)}`);
  const expectedPrefix = basename(path).replace(/\.sh$/, "");
  if (omsPackage !== expectedPrefix) fail(path, `its OMS_PKG (${omsPackage}) is not the package its name says (${expectedPrefix})`);
  const tarFile = value("TAR_FILE");
  if (!tarFile || !/\.tar$/.test(tarFile)) fail(path, `TAR_FILE is ${JSON.stringify(tarFile ?? null)}`);

  const payloadStart = offsetAfterLines(head, Number(scriptLen));
  if (payloadStart < 0) fail(path, `it has fewer than SCRIPT_LEN=${scriptLen} lines`);
  if (head[payloadStart] !== 0x1f || head[payloadStart + 1] !== 0x8b) fail(path, `no gzip stream starts after line ${scriptLen}`);

  const walker = new TarWalker();
  try {
    await pipeline(createReadStream(path, { start: payloadStart }), createGunzip(), walker);
  } catch (error) {
    fail(path, `the embedded archive is damaged or cut short (${(error as Error).message})`);
  }
  if (!walker.ended) fail(path, `the embedded tar ends without its end-of-archive block after ${walker.entries.length} entries (cut short)`);
  const packages = walker.entries.filter((entry) => entry.endsWith(`/${omsPackage}.rpm`) || entry.endsWith(`/${omsPackage}.deb`));
  if (packages.length === 0) fail(path, `the embedded tar has no ${omsPackage}.rpm or .deb`);
  return { sha256, scriptLines: Number(scriptLen), omsPackage, entries: walker.entries };
}
