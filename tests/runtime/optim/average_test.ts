// ParamAverage: the recurrence it documents, bit-exact restore, and the
// errors a bad decay, vector or snapshot gets.
import assert from "node:assert/strict";
import { ParamAverage } from "../../../runtime/optim/mod.ts";
import { Rng } from "../../../runtime/rng.ts";

Deno.test("ParamAverage follows A_1 = x_1, A_t = d_t·A_{t−1} + (1 − d_t)·x_t with the warm-up decay", () => {
  const rng = new Rng(1);
  const dim = 5;
  const avg = new ParamAverage(dim, 0.95);
  const ref = new Float64Array(dim);
  for (let t = 1; t <= 300; t++) {
    const x = Float32Array.from({ length: dim }, () => rng.normal());
    avg.update(x);
    const d = t === 1 ? 0 : Math.min(0.95, (1 + t) / (10 + t));
    for (let i = 0; i < dim; i++) ref[i] = d * ref[i] + (1 - d) * x[i];
    if (t === 1) assert.deepEqual(avg.values, Float64Array.from(x), "A_1 = x_1");
  }
  assert.equal(avg.count, 300);
  for (let i = 0; i < dim; i++) assert.ok(Math.abs(avg.values[i] - ref[i]) < 1e-12);
  const f = avg.float32();
  assert.equal(f.length, dim);
  for (let i = 0; i < dim; i++) assert.equal(f[i], Math.fround(avg.values[i]));
});

Deno.test("ParamAverage restores bit-exactly from its state and goes on identically", () => {
  const rng = new Rng(2);
  const xs = Array.from({ length: 40 }, () => Float32Array.from({ length: 7 }, () => rng.normal()));
  const a = new ParamAverage(7, 0.9);
  xs.slice(0, 20).forEach((x) => a.update(x));
  const b = ParamAverage.restore(structuredClone(a.state()));
  for (const x of xs.slice(20)) (a.update(x), b.update(x));
  assert.deepEqual(b.values, a.values);
  assert.equal(b.count, 40);
  assert.equal(b.decay, 0.9);
});

Deno.test("ParamAverage names a bad decay, a vector of another length and a malformed state", () => {
  for (const d of [0, 1, 1.5, -0.1, NaN]) {
    assert.throws(() => new ParamAverage(3, d), /decay must be in \[?\(?0, 1\)/, `decay ${d}`);
  }
  const a = new ParamAverage(3, 0.5);
  assert.throws(() => a.update(new Float32Array(4)), /parameters of length 4, the average has 3/);
  assert.throws(
    () => ParamAverage.restore({ decay: 0.5, count: -1, values: new Float64Array(3) }),
    /count must be a non-negative integer/,
  );
  assert.throws(
    () =>
      ParamAverage.restore({
        decay: 0.5,
        count: 1,
        values: [1, 2, 3] as unknown as Float64Array,
      }),
    /values must be a Float64Array/,
  );
});
