// Optimistic Adam (Daskalakis et al. 2018), the GAN baseline with extrapolation from the past.
import assert from "node:assert/strict";
import { Adam, createOptimizer, restoreOptimizer } from "../../../runtime/optim/mod.ts";

/** The bilinear game min_x max_y x·y as an operator: F(x, y) = (y, −x). */
const bilinear = (p: Float32Array, g: Float32Array) => {
  g[0] = p[1];
  g[1] = -p[0];
};
const single = async () => {};

async function distance(name: "adam" | "oadam", steps: number): Promise<number> {
  const opt = createOptimizer(name, Float32Array.of(1, 1), { lr: 0.05, beta1: 0.5, beta2: 0.9 });
  for (let i = 0; i < steps; i++) await opt.step(bilinear, single);
  return Math.hypot(opt.params[0], opt.params[1]);
}

Deno.test("oadam steps by 2u − u_prev: closer to the bilinear game's solution than Adam", async () => {
  // Measured (deterministic): Adam 0.80, optimistic Adam 0.48 after 3,000 steps from distance 1.41.
  const adam = await distance("adam", 3000), oadam = await distance("oadam", 3000);
  assert.ok(oadam < 0.6, `oadam ${oadam}`);
  assert.ok(oadam < 0.75 * adam, `oadam ${oadam}, adam ${adam}`);
});

Deno.test("oadam's first step is Adam's; later steps differ; restore is bit-exact", async () => {
  const a = new Adam(Float32Array.of(1, 1), { lr: 0.01 });
  const o = createOptimizer("oadam", Float32Array.of(1, 1), { lr: 0.01 });
  assert.equal(o.name, "oadam");
  await a.step(bilinear, single);
  await o.step(bilinear, single);
  // u_prev = 0 at the first step: x − lr·(2u − 0) moves twice as far.
  assert.deepEqual(
    [...o.params].map((v) => 1 - v),
    [...a.params].map((v) => 2 * (1 - v)).map((v) => Math.fround(v)),
  );
  for (let i = 0; i < 4; i++) await o.step(bilinear, single);
  const b = restoreOptimizer(structuredClone(o.state()));
  assert.equal(b.name, "oadam");
  for (let i = 0; i < 5; i++) {
    await Promise.all([o.step(bilinear, single), b.step(bilinear, single)]);
  }
  assert.deepEqual(b.params, o.params);
  const s = o.state() as { prev?: Float64Array };
  assert.ok(s.prev instanceof Float64Array && s.prev.length === 2);
  assert.throws(
    () => restoreOptimizer({ ...o.state(), prev: undefined } as never),
    /adam state: prev/,
  );
});
