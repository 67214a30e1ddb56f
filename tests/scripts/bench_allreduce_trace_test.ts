// bench:allreduce --trace: every rank's phases are present, non-negative, and
// their wall times add up to at most the operation's.
import assert from "node:assert/strict";
import { runScript } from "../_support/run_script.ts";
import { TRACE_PHASES } from "../../runtime/collective/trace.ts";
import type { AllreduceRow } from "../../scripts/bench_allreduce.ts";

Deno.test("bench:allreduce --trace on loopback: 2 ranks, phases per rank in the JSON", async () => {
  const out = await Deno.makeTempFile({ suffix: ".jsonl" });
  try {
    const r = await runScript("bench_allreduce.ts", [
      "--ranks",
      "2",
      "--mib",
      "0.25",
      "--modes",
      "fp32,layerwise4",
      "--compare",
      "none",
      "--iters",
      "2",
      "--warmup",
      "1",
      "--trace",
      "--out",
      out,
    ]);
    const text = r.stdout;
    assert.equal(r.code, 0, r.stderr);
    assert.match(text, /trace: qoda-ring layerwise 4-bit/);
    const rows: AllreduceRow[] = (await Deno.readTextFile(out)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.equal(rows.length, 2);
    for (const row of rows) {
      assert.equal(row.trace?.length, 2, JSON.stringify(row));
      for (const t of row.trace!) {
        assert.equal(t.ops, 2);
        assert(t.wallMs > 0 && t.cpuMs >= 0, JSON.stringify(t));
        let wall = 0;
        for (const ph of TRACE_PHASES) {
          const p = t.phases[ph];
          assert(p, `phase ${ph} missing`);
          assert(p.wallMs >= 0 && p.cpuMs >= 0, `${ph}: ${JSON.stringify(p)}`);
          wall += p.wallMs;
        }
        // Clock reads at section edges: allow 5% + 1 ms.
        assert(wall <= t.wallMs * 1.05 + 1, `phases ${wall} ms > operation ${t.wallMs} ms`);
      }
      const lw = row.mode === "layerwise";
      const enc = row.trace![0].phases.encode;
      assert(lw ? enc.wallMs > 0 : enc.wallMs === 0, `encode ${JSON.stringify(enc)}`);
    }
  } finally {
    await Deno.remove(out);
  }
});
