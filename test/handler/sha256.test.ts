// sha256Hex takes Bun's native hasher on the shipped runtime and node:crypto elsewhere: both must give the
// digest node:crypto gives, or a no-op enable after an update would not recognise the settings file it applied.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { shippedRuntime } from "../../scripts/runtime.ts";
import { REPO_ROOT } from "../../scripts/stage.ts";
import { sha256Hex } from "../../src/handler/sha256.ts";

const SAMPLES = ["", "abc", '{"runtimeSettings":[{"handlerSettings":{}}]}\n', "ü€𝄞".repeat(1000)];

test("under Node: the digest of node:crypto, for strings and bytes", () => {
  for (const text of SAMPLES) {
    const expected = createHash("sha256").update(text).digest("hex");
    assert.equal(sha256Hex(text), expected);
    assert.equal(sha256Hex(Buffer.from(text)), expected);
  }
});

test("on the shipped Bun: the same digests, through Bun's own hasher", { skip: process.arch !== "x64" }, () => {
  const script = `import { sha256Hex } from ${JSON.stringify(join(REPO_ROOT, "src", "handler", "sha256.ts"))};
const samples = ${JSON.stringify(SAMPLES)};
console.log(JSON.stringify({ bun: typeof Bun, digests: samples.flatMap((s) => [sha256Hex(s), sha256Hex(new TextEncoder().encode(s))]) }));`;
  const out = JSON.parse(execFileSync(shippedRuntime().binPath, ["--no-env-file", "--config=/dev/null", "-e", script], { encoding: "utf8" })) as {
    bun: string;
    digests: string[];
  };
  assert.equal(out.bun, "object");
  assert.deepEqual(
    out.digests,
    SAMPLES.flatMap((s) => [createHash("sha256").update(s).digest("hex"), createHash("sha256").update(s).digest("hex")]),
  );
});
