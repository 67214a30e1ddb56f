// bench:allreduce on 2 loopback ranks, 0.25 MiB, float32 and layer-wise 4-bit:
// --trace gives every rank's phases, present, non-negative, and adding up to at
// most the operation's wall time; auto, the default collective, runs training's
// trials on the compressed row and names the mode the ranks agreed on; --layers cuts the
// buffer into a model's layers.
import assert from "node:assert/strict";
import { runScript } from "../_support/run_script.ts";
import { TRACE_PHASES } from "../../runtime/collective/trace.ts";
import type { AllreduceRow } from "../../scripts/bench_allreduce.ts";

/** Runs the benchmark with `extra` flags; its printed table and its JSON rows. */
async function bench(extra: string[]): Promise<{ text: string; rows: AllreduceRow[] }> {
  const out = await Deno.makeTempFile({ suffix: ".jsonl" });
  try {
    const r = await runScript("bench_allreduce.ts", [
      ...["--ranks", "2", "--mib", "0.25", "--modes", "fp32,layerwise4", "--compare", "none"],
      ...["--iters", "2", "--out", out, ...extra],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rows = (await Deno.readTextFile(out)).trim().split("\n").map((l) => JSON.parse(l));
    return { text: r.stdout, rows };
  } finally {
    await Deno.remove(out);
  }
}

Deno.test("bench:allreduce --trace on loopback: 2 ranks, phases per rank in the JSON", async () => {
  const { text, rows } = await bench(["--warmup", "1", "--trace", "--collective", "ring"]);
  assert.match(text, /trace: qoda-ring layerwise 4-bit/);
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
});

Deno.test("bench:allreduce (auto, the default) on loopback: the row names the choice and its ratio to float32", async () => {
  const { text, rows } = await bench([]);
  assert.match(text, /auto collective/);
  assert.deepEqual(rows.map((row) => row.mode), ["fp32", "layerwise"]);
  assert.equal(rows[0].collective, "ring", "float32 rows are the plain ring");
  assert.match(rows[1].collective, /^auto: (fp32|integer|allgather)$/);
  assert.ok(rows[1].time_vs_fp32! > 0, JSON.stringify(rows[1]));
  assert.match(text, new RegExp(`layerwise +${rows[1].collective}`));
});

Deno.test("bench:allreduce --layers: one buffer of the layers' sum, reduced in every mode", async () => {
  // 5,000 + 40 + 3,000 + 20 elements: the flags' --mib is replaced by the layers' sum.
  const layers = ["--layers", "5000,40,3000,20"];
  for (const collective of ["integer", "allgather"]) {
    const { rows } = await bench([...layers, "--collective", collective]);
    assert.deepEqual(rows.map((row) => row.mode), ["fp32", "layerwise"]);
    for (const row of rows) {
      assert.equal(row.mib, (4 * 8060) / 2 ** 20, JSON.stringify(row));
      assert.ok(row.time_ms > 0);
    }
    assert.equal(rows[1].collective, collective);
  }
});
