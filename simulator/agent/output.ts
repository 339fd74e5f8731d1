// Output capture as the agent does it (read_output, format_stdout_stderr): the first bytes of each stream,
// decoded with backslash escapes, and the two tails joined into one message.
import { readSync } from "node:fs";
import { OUTPUT_MAX_LEN } from "./contract.ts";

/** bytes.decode("utf-8", errors="backslashreplace"). */
export function decodeBackslashReplace(buf: Buffer): string {
  const strict = new TextDecoder("utf-8", { fatal: true });
  try {
    return strict.decode(buf);
  } catch {
    // fall through to the byte-wise path
  }
  let out = "";
  let i = 0;
  while (i < buf.length) {
    const b = buf[i]!;
    const n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (n > 0 && i + n <= buf.length) {
      try {
        out += strict.decode(buf.subarray(i, i + n));
        i += n;
        continue;
      } catch {
        // invalid sequence: escape the lead byte, resync on the next one
      }
    }
    out += `\\x${b.toString(16).padStart(2, "0")}`;
    i++;
  }
  return out;
}

/** format_stdout_stderr: "[stdout]\n…\n\n[stderr]\n…", at most 3200 code points, keeping the tails. */
export function formatStdoutStderr(stdout: string, stderr: string): string {
  const template = (o: string, e: string) => `[stdout]\n${o}\n\n[stderr]\n${e}`;
  const templateLength = "[stdout]\n{0}\n\n[stderr]\n{1}".length;
  const maxLen = OUTPUT_MAX_LEN;
  const maxLenEach = Math.trunc((maxLen - templateLength + 6) / 2);
  // Python counts code points, not UTF-16 units.
  const out = Array.from(stdout);
  const err = Array.from(stderr);
  const tail = (chars: string[], offset: number) => chars.slice(offset).join(""); // offset <= 0, as in s[-n:]
  if (out.length + err.length < maxLen) return template(stdout, stderr);
  if (out.length < maxLenEach) {
    const bonus = maxLenEach - out.length;
    const errLen = Math.min(maxLenEach + bonus, err.length);
    return template(stdout, tail(err, -errLen));
  }
  if (err.length < maxLenEach) {
    const bonus = maxLenEach - err.length;
    const outLen = Math.min(maxLenEach + bonus, out.length);
    return template(tail(out, -outLen), stderr);
  }
  return template(tail(out, -maxLenEach), tail(err, -maxLenEach));
}

export function readHead(fd: number, max: number): Buffer {
  const buf = Buffer.alloc(max);
  let total = 0;
  while (total < max) {
    const n = readSync(fd, buf, total, max - total, total);
    if (n === 0) break;
    total += n;
  }
  return buf.subarray(0, total);
}
