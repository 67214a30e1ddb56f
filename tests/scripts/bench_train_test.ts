import assert from "node:assert/strict";
import { runScript } from "../_support/run_script.ts";
import { exchangeCeiling, heldQuality, timeToTarget } from "../../scripts/bench_train.ts";

Deno.test("bench:train time to target: the first evaluation from which the target holds", () => {
  const fid = [361, 290, 313, 300, 279, 283, 272, 266].map((q, i) => ({
    seconds: 10 * i,
    quality: q,
  }));
  // 290 at 10 s is an early dip that does not hold; 279 at 40 s is undone at 50 s.
  assert.equal(timeToTarget(fid, 280, true), 60);
  assert.equal(timeToTarget(fid, 250, true), null);
  assert.equal(timeToTarget(fid, 400, true), 0);
  const modes = [0, 1, 0, 2, 3, 3].map((q, i) => ({ seconds: i, quality: q }));
  assert.equal(timeToTarget(modes, 2, false), 3);
  assert.equal(timeToTarget([], 1, false), null);
});

Deno.test("bench:train default target: float32's worst quality from 70% of its steps on", () => {
  const fid = [361, 290, 250, 200, 180, 150, 160, 140, 155, 130, 135].map((q, i) => ({
    step: 40 * i,
    quality: q,
  }));
  // Steps 280..400 (70% of 400 and later): 140, 155, 130, 135 → the worst is 155.
  assert.equal(heldQuality(fid, 400, true), 155);
  // The run reaches and holds it at step 280 (the 8th evaluation), 70% of its budget.
  const timed = fid.map((e) => ({ seconds: e.step / 10, quality: e.quality }));
  assert.equal(timeToTarget(timed, heldQuality(fid, 400, true)!, true), 28);
  const modes = [0, 2, 5, 7, 6, 8].map((q, i) => ({ step: 100 * i, quality: q }));
  assert.equal(heldQuality(modes, 500, false), 6, "higher is better: the fewest modes");
  assert.equal(heldQuality(modes.slice(0, 2), 500, false), null, "no evaluation that late");
});

Deno.test("bench:train ceiling: float32's step over its step without the exchange", () => {
  // The 2026-12-07 MLP rows: 100 Mbit/s (255 of 366 ms exchanging), 1 Gbit/s (31 of 133 ms).
  assert.equal(exchangeCeiling({ step_ms: 366.1, communicate_ms: 254.5 })!.toFixed(2), "3.28");
  assert.equal(exchangeCeiling({ step_ms: 132.7, communicate_ms: 31.4 })!.toFixed(2), "1.31");
  assert.equal(exchangeCeiling({ step_ms: 100, communicate_ms: 0 }), 1, "no exchange, no gain");
  assert.equal(exchangeCeiling({ step_ms: 10, communicate_ms: 10 }), null);
  assert.equal(exchangeCeiling({ step_ms: 10, communicate_ms: -1 }), null);
});

Deno.test("bench:train on loopback: float32 sets the target, both settings are timed to it", async () => {
  const out = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const r = await runScript("bench_train.ts", [
      "--links",
      "loopback",
      "--workers",
      "2",
      "--dataset",
      "gaussians8",
      "--configs",
      "qoda-none,qoda-layerwise4",
      "--collective", // named: `auto` (the default) would take float32 on loopback
      "allgather",
      "--steps",
      "300",
      "--eval-every",
      "50",
      "--out",
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const { rows } = JSON.parse(await Deno.readTextFile(out));
    assert.deepEqual(rows.map((x: { config: string }) => x.config), [
      "qoda-none",
      "qoda-layerwise4",
    ]);
    const [fp32, q4] = rows;
    assert.equal(fp32.optimizer, "qoda-adagrad", "the dataset's QODA");
    assert.equal(fp32.target, heldQuality(fp32.evals, 300, false));
    assert.equal(q4.target, fp32.target, "one target for the link");
    assert.ok(fp32.bytes_sent > 3 * q4.bytes_sent, `${fp32.bytes_sent} vs ${q4.bytes_sent} bytes`);
    assert.deepEqual([fp32.collective, q4.collective], ["fp32", "allgather"], "what ran");
    assert.match(r.stdout, /float32 QODA's from 70% of its steps on/);
    assert.match(r.stdout, /qoda-layerwise4 +loopback +allgather/);
    assert.equal(q4.ceiling, exchangeCeiling(fp32), "the link's float32 row sets the ceiling");
    assert.ok(q4.ceiling >= 1, `ceiling ${q4.ceiling}`);
    assert.match(r.stdout, / ceiling\n/);
  } finally {
    await Deno.remove(out);
  }
});
