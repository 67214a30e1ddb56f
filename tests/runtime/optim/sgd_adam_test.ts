import assert from "node:assert/strict";
import { Adam, NonFiniteStepError, Sgd } from "../../../runtime/optim/mod.ts";
import { Rng } from "../../../runtime/rng.ts";
import { barrier, bits, counting, identity, lockstep, norm, tamper } from "./_support.ts";
import type { Oracle } from "../../../runtime/optim/mod.ts";

const DIM = 16;
const rng = new Rng(3);
const center = Float64Array.from({ length: DIM }, () => 3 * rng.normal());

/** Gradient of ½‖x − c‖², plus σ·N(0, I) from `noise` when given. */
function quadratic(sigma = 0, noise?: Rng): Oracle {
  return (x, g) => {
    for (let i = 0; i < DIM; i++) g[i] = x[i] - center[i] + (noise ? sigma * noise.normal() : 0);
  };
}

function dist(x: Float32Array): number {
  return norm(Array.from(x, (v, i) => v - center[i]));
}

// lr: SGD 0.1 (contraction 0.9 per step: 1e-9 after 200 steps, float32 floor);
// Adam 0.05 (its step is ≈ lr per coordinate, so it needs ≈ |c_i|/lr steps to
// arrive, then the bias-corrected ratio settles).
const CASES = [
  { name: "sgd", make: (x0: Float32Array) => new Sgd(x0, { lr: 0.1 }), steps: 200 },
  { name: "adam", make: (x0: Float32Array) => new Adam(x0, { lr: 0.05 }), steps: 2000 },
] as const;

for (const { name, make, steps } of CASES) {
  Deno.test(`${name}: minimises ½‖x − c‖² (distance falls ≥ 100×), one collective per step`, async () => {
    const opt = make(new Float32Array(DIM));
    const d0 = dist(opt.params);
    const c = counting(identity);
    for (let i = 0; i < steps; i++) {
      const info = await opt.step(quadratic(), c.collective);
      assert.equal(info.collectives, 1);
    }
    const d = dist(opt.params);
    assert.ok(d < d0 / 100, `${name}: ‖x − c‖ ${d0} → ${d}`);
    assert.equal(c.calls, steps);
    assert.equal(opt.collectiveCalls, steps);
    assert.equal(opt.collectivesPerStep, 1);
  });

  Deno.test(`${name}: 4 noisy workers in lockstep agree bit for bit and converge`, async () => {
    const K = 4;
    const opts = Array.from({ length: K }, () => make(new Float32Array(DIM)));
    const oracles = Array.from({ length: K }, (_, k) => quadratic(0.5, new Rng(60 + k)));
    await lockstep(opts, oracles, barrier(K).collectives, steps);
    for (let k = 1; k < K; k++) assert.deepEqual(bits(opts[k].params), bits(opts[0].params));
    assert.ok(dist(opts[0].params) < dist(new Float32Array(DIM)) / 10);
  });

  Deno.test(`${name}: state()/restore() resumes bit-exactly; skipStep() and NaN change nothing`, async () => {
    const opt = make(new Float32Array(DIM));
    const noise = new Rng(9);
    for (let i = 0; i < 50; i++) await opt.step(quadratic(0.3, noise), identity);
    const snap = structuredClone(opt.state());
    const r1 = new Rng(77), r2 = new Rng(77);
    for (let i = 0; i < 50; i++) await opt.step(quadratic(0.3, r1), identity);
    const restored = name === "sgd"
      ? Sgd.restore(snap as ReturnType<Sgd["state"]>)
      : Adam.restore(snap as ReturnType<Adam["state"]>);
    for (let i = 0; i < 50; i++) await restored.step(quadratic(0.3, r2), identity);
    assert.deepEqual(bits(restored.params), bits(opt.params));
    assert.deepEqual(restored.state(), opt.state());

    const before = opt.state();
    opt.skipStep();
    const info = await opt.step(quadratic(), tamper((v) => void (v[7] = NaN)));
    assert.equal(info.nonFinite, true);
    const after = opt.state();
    assert.deepEqual(bits(after.x), bits(before.x));
    assert.deepEqual({ ...after, skipped: 0, collectiveCalls: 0 }, {
      ...before,
      skipped: 0,
      collectiveCalls: 0,
    });
    assert.equal(after.skipped, before.skipped + 2);
  });
}

Deno.test("sgd: an update that overflows float32 is refused without touching x", async () => {
  const opt = new Sgd(new Float32Array([3e38, 0]), { lr: 1, onNonFinite: "throw" });
  await assert.rejects(
    opt.step((_x, g) => void g.set([-3e38, 1]), identity),
    (e: unknown) =>
      e instanceof NonFiniteStepError &&
      /sgd step 1: update of x has non-finite value Infinity at index 0/
        .test(e.message),
  );
  assert.deepEqual(Array.from(opt.params), [3e38 as number, 0].map(Math.fround));
  assert.equal(opt.t, 0);
});

Deno.test("adam: first step moves every coordinate by lr (bias correction)", async () => {
  const opt = new Adam(new Float32Array(DIM), { lr: 0.01 });
  await opt.step(quadratic(), identity);
  for (let i = 0; i < DIM; i++) {
    // m̂ = g, v̂ = g², step = lr·g/(|g| + ε) ≈ lr·sign(g)
    assert.ok(Math.abs(opt.params[i] - 0.01 * Math.sign(center[i])) < 1e-6);
  }
  assert.throws(
    () => new Adam(new Float32Array(1), { lr: 0.1, beta2: 1 }),
    /beta2 must be in \[0, 1\)/,
  );
  assert.throws(() => new Sgd(new Float32Array(1), { lr: -1 }), /sgd: lr must be/);
});
