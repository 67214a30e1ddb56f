// Tests for scripts/gloo_allreduce.py (reference Gloo all-reduce). Ignored
// when no python3 with torch.distributed is available (Debian: python3-torch).
import assert from "node:assert/strict";
import { findTorchPython } from "../../scripts/_python.ts";

const SCRIPT = new URL("../../scripts/gloo_allreduce.py", import.meta.url).pathname;

const found = await findTorchPython();
const PY = "python" in found ? found.python : null;

Deno.test({
  name: "gloo_allreduce.py --launch 2 prints a valid JSON line",
  ignore: PY === null,
  async fn() {
    const r = await new Deno.Command(PY!, {
      args: [SCRIPT, "--launch", "2", "--mib", "1", "--iters", "2", "--warmup", "1", "--json"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(r.stdout);
    assert.deepEqual(r.code, 0, new TextDecoder().decode(r.stderr));
    const lines = out.trim().split("\n").filter((l) => l.startsWith("{"));
    assert.deepEqual(lines.length, 1, out);
    const j = JSON.parse(lines[0]);
    assert.deepEqual(j.impl, "gloo");
    assert.deepEqual(j.ranks, 2);
    assert.deepEqual(j.mib, 1);
    assert.deepEqual(j.mode, "fp32");
    assert.deepEqual(j.bits, 32);
    assert(j.time_ms > 0 && j.algbw_gbps > 0 && j.busbw_gbps > 0, lines[0]);
    // N=2: busbw = algbw * 2(N-1)/N = algbw
    assert(Math.abs(j.busbw_gbps - j.algbw_gbps) < 1e-3, lines[0]);
    const bytes = 1 << 20;
    assert(
      Math.abs(bytes / (j.time_ms / 1e3) / 1e9 - j.algbw_gbps) / j.algbw_gbps < 0.01,
      lines[0],
    );
  },
});
