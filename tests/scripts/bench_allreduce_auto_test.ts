// bench:allreduce --collective auto: the compressed rows run training's trials
// and name the mode the ranks agreed on; the ratio to float32 is reported.
import assert from "node:assert/strict";
import { runScript } from "../_support/run_script.ts";
import type { AllreduceRow } from "../../scripts/bench_allreduce.ts";

Deno.test("bench:allreduce --collective auto on loopback: the row names the choice and its ratio to float32", async () => {
  const out = await Deno.makeTempFile({ suffix: ".jsonl" });
  try {
    const r = await runScript("bench_allreduce.ts", [
      "--ranks",
      "2",
      "--mib",
      "0.25",
      "--modes",
      "fp32,layerwise4",
      "--collective",
      "auto",
      "--compare",
      "none",
      "--iters",
      "2",
      "--out",
      out,
    ]);
    const text = r.stdout;
    assert.equal(r.code, 0, r.stderr);
    assert.match(text, /auto collective/);
    const rows: AllreduceRow[] = (await Deno.readTextFile(out)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.deepEqual(rows.map((row) => row.mode), ["fp32", "layerwise"]);
    assert.equal(rows[0].collective, "ring", "float32 rows are the plain ring");
    assert.match(rows[1].collective, /^auto: (fp32|integer|allgather)$/);
    assert.ok(rows[1].time_vs_fp32! > 0, JSON.stringify(rows[1]));
    assert.match(text, new RegExp(`layerwise +${rows[1].collective}`));
  } finally {
    await Deno.remove(out);
  }
});
