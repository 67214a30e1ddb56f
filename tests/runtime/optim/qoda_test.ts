import assert from "node:assert/strict";
import { NonFiniteStepError, Qoda, restoreOptimizer } from "../../../runtime/optim/mod.ts";
import { Rng } from "../../../runtime/rng.ts";
import {
  barrier,
  bilinear,
  bits,
  counting,
  identity,
  lockstep,
  norm,
  operator,
  oracle,
  replayableOracle,
  tamper,
  unitStart,
} from "./_support.ts";

// Base learning rate of the noiseless runs. On this game (singular values of
// A in [0.7, 1.3], ‖z0‖ = 1) QODA reaches ‖z‖ ≈ 4e-5 after 500 steps and
// ≈ 3e-16 after 2,000 at lr 0.5; lr 0.1 would only reach ≈ 8e-2.
const LR = 0.5;
const game = bilinear(1);

Deno.test("qoda: bilinear game, noiseless: ‖z − z*‖ falls ≥ 100× in 2,000 steps; GDA diverges", async () => {
  const z0 = unitStart(game.dim, 2);
  assert.ok(Math.abs(norm(z0) - 1) < 1e-6);
  const opt = new Qoda(z0, { lr: LR });
  const c = counting(identity);
  const o = oracle(game);
  for (let i = 0; i < 2000; i++) {
    const info = await opt.step(o, c.collective);
    assert.equal(info.collectives, 1);
    assert.equal(info.nonFinite, false);
    assert.equal(info.t, i + 1);
  }
  const dist = norm(opt.params);
  assert.ok(dist < 1e-2, `‖z_2000‖ = ${dist}, wanted < 1e-2 (100× below 1)`);
  // One collective per step, counted through the collective and by the optimiser.
  assert.equal(c.calls, 2000);
  assert.equal(opt.collectiveCalls, 2000);
  assert.equal(opt.collectivesPerStep, 1);
  assert.equal(opt.t, 2000);

  // Simultaneous gradient descent–ascent with the same step: z ← z − lr F(z).
  let z = Float64Array.from(z0);
  for (let i = 0; i < 2000; i++) {
    const f = operator(game, z);
    z = z.map((v, j) => v - LR * f[j]);
  }
  assert.ok(norm(z) > 10, `GDA ‖z_2000‖ = ${norm(z)}, expected growth`);
});

Deno.test("qoda: step sizes follow lr·(1 + Σ‖V̄_{s+1/2} − V̄_{s−1/2}‖²)^{-1/2} with V̄_{1/2} = 0", async () => {
  const opt = new Qoda(unitStart(game.dim, 2), { lr: LR });
  const o = oracle(game);
  let s = 0, prev = new Float64Array(game.dim);
  let x = Float64Array.from(opt.params);
  let vPrev = new Float64Array(game.dim);
  for (let t = 1; t <= 20; t++) {
    // Reference computation in float64 from the formulas.
    const gamma = LR / Math.sqrt(1 + s);
    const xh = new Float32Array(x.map((v, i) => v - gamma * vPrev[i]));
    const v = new Float32Array(game.dim);
    o(xh, v);
    const info = await opt.step(o, identity);
    const d = v.reduce((acc, vi, i) => acc + (vi - prev[i]) ** 2, 0);
    assert.ok(Math.abs(info.gamma - gamma) <= 1e-12 * gamma, `γ_${t}`);
    assert.ok(
      Math.abs(info.sqDiff - d) <= 1e-5 * d + 1e-12,
      `sqDiff at ${t}: ${info.sqDiff} vs ${d}`,
    );
    s += info.sqDiff;
    assert.ok(Math.abs(info.eta - LR / Math.sqrt(1 + s)) <= 1e-12, `η_${t + 1}`);
    assert.equal(opt.sumSq, s);
    prev = Float64Array.from(v);
    vPrev = prev;
    x = Float64Array.from(opt.params);
  }
  assert.ok(Math.abs(opt.nextGamma - LR / Math.sqrt(1 + s)) <= 1e-15);
});

Deno.test("qoda: first step extrapolates nowhere (V̄_{1/2} = 0) and puts ‖V̄_{3/2}‖² into S", async () => {
  const z0 = unitStart(game.dim, 2);
  const opt = new Qoda(z0, { lr: LR });
  let seen: Float32Array | undefined;
  const info = await opt.step((x, out) => {
    seen = x.slice();
    oracle(game)(x, out);
  }, identity);
  assert.deepEqual(bits(seen!), bits(z0));
  const f = operator(game, z0);
  const f32 = new Float32Array(f);
  assert.equal(info.gamma, LR);
  assert.ok(Math.abs(info.sqDiff - norm(f32) ** 2) < 1e-12);
  // X_2 = X_1 − η_2 V̄_{3/2}
  for (let i = 0; i < game.dim; i++) {
    assert.equal(opt.params[i], Math.fround(z0[i] + info.eta * -f32[i]));
  }
});

Deno.test("qoda: relative noise over 4 workers: ‖F(z)‖ ends far below its start", async () => {
  // σ_rel = 0.5 per worker. Over seeds 100..600 the final ‖F‖ was 0.007–0.044
  // (start 0.95), so the 10× bar has a margin of 2× or more.
  const K = 4, sigmaRel = 0.5;
  const z0 = unitStart(game.dim, 2);
  const opts = Array.from({ length: K }, () => new Qoda(z0, { lr: LR }));
  const oracles = Array.from({ length: K }, (_, k) => oracle(game, sigmaRel, new Rng(100 + k)));
  const b = barrier(K);
  await lockstep(opts, oracles, b.collectives, 2000);
  const start = norm(operator(game, z0));
  const end = norm(operator(game, opts[0].params));
  assert.ok(end < 0.1 * start, `‖F(z_2000)‖ = ${end}, start ${start}`);
  assert.equal(b.rounds(), 2000);
  for (const o of opts) assert.equal(o.collectiveCalls, 2000);
});

Deno.test("qoda: K = 4 noisy workers in lockstep end with bit-identical parameters", async () => {
  const K = 4;
  const z0 = unitStart(game.dim, 3);
  const opts = Array.from({ length: K }, () => new Qoda(z0, { lr: LR }));
  const oracles = Array.from({ length: K }, (_, k) => oracle(game, 1, new Rng(7 + k)));
  await lockstep(opts, oracles, barrier(K).collectives, 300);
  for (let k = 1; k < K; k++) assert.deepEqual(bits(opts[k].params), bits(opts[0].params));
  for (let k = 1; k < K; k++) {
    const a = opts[k].state(), b = opts[0].state();
    assert.deepEqual(a, b);
  }
  // The workers' samples differed: a single-worker run does not land on the same point.
  const solo = new Qoda(z0, { lr: LR });
  const o = oracle(game, 1, new Rng(7));
  for (let i = 0; i < 300; i++) await solo.step(o, identity);
  assert.notDeepEqual(bits(solo.params), bits(opts[0].params));
});

Deno.test("qoda: state()/restore() resumes bit-exactly", async () => {
  const z0 = unitStart(game.dim, 4);
  const opt = new Qoda(z0, { lr: LR, lrEta: 0.4, exponentGamma: 0.4 });
  const a = replayableOracle(game, 0.5, 9);
  for (let i = 0; i < 50; i++) await opt.step(a.oracle, identity);
  const snap = opt.state();
  const callsAtSnap = a.calls;
  for (let i = 0; i < 50; i++) await opt.step(a.oracle, identity);

  const copy = structuredClone(snap); // plain data survives a structured clone
  const restored = Qoda.restore(copy);
  copy.x.fill(0); // restore copied the arrays
  const b = replayableOracle(game, 0.5, 9);
  b.calls = callsAtSnap;
  for (let i = 0; i < 50; i++) await restored.step(b.oracle, identity);
  assert.deepEqual(bits(restored.params), bits(opt.params));
  assert.deepEqual(restored.state(), opt.state());
  assert.equal(restored.t, 100);
  assert.equal(restored.collectiveCalls, 100);

  // Through the generic entry point too.
  const again = restoreOptimizer(snap);
  assert.ok(again instanceof Qoda);
  // A snapshot does not alias the live arrays.
  const s1 = opt.state();
  s1.x[0] = 123;
  s1.y[0] = 123;
  assert.notEqual(opt.params[0], 123);
  assert.notEqual(opt.state().y[0], 123);
});

Deno.test("qoda: restore() rejects a malformed state", () => {
  const s = new Qoda(unitStart(game.dim, 4), { lr: LR }).state();
  assert.throws(() => Qoda.restore({ ...s, y: new Float64Array(3) }), /y has length 3, expected 8/);
  assert.throws(() => Qoda.restore({ ...s, y: new Float32Array(8) as never }), /Float64Array/);
  assert.throws(() => Qoda.restore({ ...s, name: "adam" } as never), /not a qoda state/);
});

Deno.test("qoda: skipStep() changes nothing but the skip counter", async () => {
  const opt = new Qoda(unitStart(game.dim, 5), { lr: LR });
  for (let i = 0; i < 10; i++) await opt.step(oracle(game), identity);
  const before = opt.state();
  opt.skipStep();
  const after = opt.state();
  assert.equal(after.skipped, 1);
  assert.deepEqual({ ...after, skipped: 0 }, before);
  assert.equal(opt.t, 10);
});

Deno.test("qoda: a non-finite average is reported as nonFinite and leaves the state intact", async () => {
  const opt = new Qoda(unitStart(game.dim, 5), { lr: LR });
  const twin = new Qoda(unitStart(game.dim, 5), { lr: LR });
  const o = oracle(game);
  for (let i = 0; i < 10; i++) {
    await opt.step(o, identity);
    await twin.step(o, identity);
  }
  const before = opt.state();
  for (const bad of [NaN, Infinity, -Infinity, 1e38]) {
    // 1e38 is finite, but with η = 10 X_{t+1} = X_1 + η Y overflows float32.
    // (The adaptive η would shrink to ≈ 1/‖V̄‖ and keep X finite.)
    const sizes = bad === 1e38 ? { eta: 10 } : undefined;
    const info = await opt.step(o, tamper((v) => void v.fill(bad, 3, 5)), sizes);
    assert.equal(info.nonFinite, true, `value ${bad}`);
    assert.equal(info.t, 11);
    assert.equal(info.collectives, 1);
  }
  const after = opt.state();
  assert.deepEqual(bits(after.x), bits(before.x));
  assert.deepEqual({ ...after, skipped: 0, collectiveCalls: 0 }, {
    ...before,
    skipped: 0,
    collectiveCalls: 0,
  });
  assert.equal(after.skipped, 4);
  assert.equal(after.collectiveCalls, before.collectiveCalls + 4);
  // And it goes on exactly like a twin that never saw the bad steps.
  for (let i = 0; i < 10; i++) {
    await opt.step(o, identity);
    await twin.step(o, identity);
  }
  assert.deepEqual(bits(opt.params), bits(twin.params));
});

Deno.test("qoda: onNonFinite 'throw' names the step and the coordinate", async () => {
  const opt = new Qoda(unitStart(game.dim, 5), { lr: LR, onNonFinite: "throw" });
  for (let i = 0; i < 3; i++) await opt.step(oracle(game), identity);
  const x = bits(opt.params);
  await assert.rejects(
    opt.step(oracle(game), tamper((v) => void (v[5] = NaN))),
    (e: unknown) => {
      assert.ok(e instanceof NonFiniteStepError);
      assert.equal(e.step, 4);
      assert.equal(e.index, 5);
      assert.match(e.message, /qoda step 4: averaged sample has non-finite value NaN at index 5/);
      return true;
    },
  );
  assert.deepEqual(bits(opt.params), x);
  assert.equal(opt.t, 3);
  // The replica is usable afterwards.
  const info = await opt.step(oracle(game), identity);
  assert.equal(info.t, 4);
});

Deno.test("qoda: a failing collective or oracle leaves the state intact", async () => {
  const opt = new Qoda(unitStart(game.dim, 5), { lr: LR });
  await opt.step(oracle(game), identity);
  const before = opt.state();
  await assert.rejects(
    opt.step(oracle(game), () => Promise.reject(new Error("link down"))),
    /link down/,
  );
  await assert.rejects(
    opt.step(() => {
      throw new Error("oracle broke");
    }, identity),
    /oracle broke/,
  );
  const after = opt.state();
  assert.deepEqual({ ...after, collectiveCalls: 0 }, { ...before, collectiveCalls: 0 });
});

Deno.test("qoda: overlapping step() calls are refused", async () => {
  const opt = new Qoda(unitStart(game.dim, 5), { lr: LR });
  let release!: () => void;
  const slow = () => new Promise<void>((r) => (release = r));
  const first = opt.step(oracle(game), slow);
  await assert.rejects(opt.step(oracle(game), identity), /still running/);
  assert.throws(() => opt.skipStep(), /while a step is running/);
  release();
  await first;
  assert.equal(opt.t, 1);
});

Deno.test("qoda: externally decided step sizes", async () => {
  const z0 = unitStart(game.dim, 6);
  const o = oracle(game);
  // Supplying exactly the adaptive values reproduces the adaptive run bit for bit.
  const auto = new Qoda(z0, { lr: LR });
  const ext = new Qoda(z0, { lr: 99 });
  // The "supervisor" keeps its own S from the reported sqDiff.
  let s = 0;
  for (let i = 0; i < 100; i++) {
    await auto.step(o, identity);
    const gamma = LR * (1 + s) ** -0.5;
    const info = await ext.step(o, identity, {
      gamma,
      eta: (d, sum) => {
        assert.equal(sum, ext.sumSq + d);
        return LR * (1 + s + d) ** -0.5;
      },
    });
    assert.equal(info.gamma, gamma);
    s += info.sqDiff;
  }
  assert.deepEqual(bits(ext.params), bits(auto.params));
  // A constant external schedule is a different algorithm.
  const fixed = new Qoda(z0, { lr: LR });
  for (let i = 0; i < 100; i++) await fixed.step(o, identity, { gamma: 0.2, eta: 0.2 });
  assert.notDeepEqual(bits(fixed.params), bits(auto.params));
  assert.ok(fixed.sumSq > 0, "S is still accumulated");
  await assert.rejects(fixed.step(o, identity, { gamma: -1 }), /qoda step 101: gamma/);
});

Deno.test("qoda: learning-rate separation changes γ and η independently", async () => {
  const z0 = unitStart(game.dim, 6);
  const opt = new Qoda(z0, { lr: 1, lrGamma: 0.3, lrEta: 0.6, exponentGamma: 0, exponentEta: 1 });
  const a = await opt.step(oracle(game), identity);
  const b = await opt.step(oracle(game), identity);
  assert.equal(a.gamma, 0.3);
  assert.equal(b.gamma, 0.3); // exponent 0: constant γ
  assert.equal(a.eta, 0.6 / (1 + a.sqDiff));
  assert.equal(b.eta, 0.6 / (1 + a.sqDiff + b.sqDiff));
});

Deno.test("qoda: bad options and inputs are rejected by name", () => {
  const z = new Float32Array(2);
  assert.throws(() => new Qoda(z, { lr: 0 }), /qoda: lr must be a finite number > 0, got 0/);
  assert.throws(() => new Qoda(z, { lr: NaN }), RangeError);
  assert.throws(() => new Qoda(z, { lr: 1, exponentEta: -1 }), /exponentEta/);
  assert.throws(() => new Qoda(z, { lr: 1, onNonFinite: "ignore" as never }), /onNonFinite/);
  assert.throws(
    () => new Qoda(new Float32Array([0, NaN]), { lr: 1 }),
    /x0 has non-finite value NaN at index 1/,
  );
  assert.throws(() => new Qoda([1, 2] as never, { lr: 1 }), /x0 must be a Float32Array/);
});
