import assert from "node:assert/strict";
import { NonFiniteStepError, QGenX, Qoda } from "../../../runtime/optim/mod.ts";
import { Rng } from "../../../runtime/rng.ts";
import {
  barrier,
  bilinear,
  bits,
  counting,
  identity,
  lockstep,
  norm,
  oracle,
  replayableOracle,
  tamper,
  unitStart,
} from "./_support.ts";

// Base learning rate: at 0.5 Q-GenX reaches ‖z‖ ≈ 5e-7 after 500 steps on
// this game and ≈ 3e-25 after 2,000.
const LR = 0.5;
const game = bilinear(1);

Deno.test("qgenx: bilinear game, noiseless: converges with exactly 2 collectives per step", async () => {
  const opt = new QGenX(unitStart(game.dim, 2), { lr: LR });
  const c = counting(identity);
  for (let i = 0; i < 2000; i++) {
    const info = await opt.step(oracle(game), c.collective);
    assert.equal(info.collectives, 2);
  }
  const dist = norm(opt.params);
  assert.ok(dist < 1e-2, `‖z_2000‖ = ${dist}`);
  assert.equal(c.calls, 4000);
  assert.equal(opt.collectiveCalls, 4000);
  assert.equal(opt.collectivesPerStep, 2);

  // QODA on the same run length: half the collectives.
  const q = new Qoda(unitStart(game.dim, 2), { lr: LR });
  const cq = counting(identity);
  for (let i = 0; i < 2000; i++) await q.step(oracle(game), cq.collective);
  assert.equal(cq.calls * 2, c.calls);
});

Deno.test("qgenx: extra-gradient formulas and the adaptive γ", async () => {
  const z0 = unitStart(game.dim, 3);
  const opt = new QGenX(z0, { lr: LR });
  const seen: Float32Array[] = [];
  const o = (x: Float32Array, out: Float32Array) => {
    seen.push(x.slice());
    oracle(game)(x, out);
  };
  let s = 0;
  for (let t = 1; t <= 5; t++) {
    seen.length = 0;
    const x = opt.params.slice();
    const info = await opt.step(o, identity);
    assert.ok(Math.abs(info.gamma - LR / Math.sqrt(1 + s)) <= 1e-15, `γ_${t}`);
    const g1 = new Float32Array(game.dim), g2 = new Float32Array(game.dim);
    oracle(game)(x, g1);
    oracle(game)(seen[1], g2);
    assert.deepEqual(bits(seen[0]), bits(x)); // ḡ1 at X_t
    for (let i = 0; i < game.dim; i++) {
      assert.equal(seen[1][i], Math.fround(x[i] - info.gamma * g1[i])); // X_{t+1/2}
      assert.equal(opt.params[i], Math.fround(x[i] - info.gamma * g2[i])); // from X_t, not X_{t+1/2}
    }
    const d = g2.reduce((a, v, i) => a + (v - g1[i]) ** 2, 0);
    assert.ok(Math.abs(info.sqDiff - d) <= 1e-12 + 1e-6 * d);
    s += info.sqDiff;
  }
});

Deno.test("qgenx: 4 noisy workers in lockstep stay bit-identical; state()/restore() is bit-exact", async () => {
  const K = 4;
  const z0 = unitStart(game.dim, 4);
  const opts = Array.from({ length: K }, () => new QGenX(z0, { lr: LR }));
  const oracles = Array.from({ length: K }, (_, k) => oracle(game, 0.3, new Rng(40 + k)));
  const b = barrier(K);
  await lockstep(opts, oracles, b.collectives, 300);
  assert.equal(b.rounds(), 600);
  for (let k = 1; k < K; k++) assert.deepEqual(bits(opts[k].params), bits(opts[0].params));

  const opt = new QGenX(z0, { lr: LR, exponent: 0.4 });
  const a = replayableOracle(game, 0.5, 5);
  for (let i = 0; i < 50; i++) await opt.step(a.oracle, identity);
  const snap = structuredClone(opt.state());
  const at = a.calls;
  for (let i = 0; i < 50; i++) await opt.step(a.oracle, identity);
  const r = QGenX.restore(snap);
  const b2 = replayableOracle(game, 0.5, 5);
  b2.calls = at;
  for (let i = 0; i < 50; i++) await r.step(b2.oracle, identity);
  assert.deepEqual(bits(r.params), bits(opt.params));
  assert.deepEqual(r.state(), opt.state());
});

Deno.test("qgenx: skipStep() and non-finite averages leave the parameters unchanged", async () => {
  const opt = new QGenX(unitStart(game.dim, 5), { lr: LR });
  for (let i = 0; i < 5; i++) await opt.step(oracle(game), identity);
  const x = bits(opt.params), before = opt.state();
  opt.skipStep();
  assert.deepEqual(bits(opt.params), x);
  assert.equal(opt.skipped, 1);

  // NaN in ḡ1: the step stops after the first collective.
  const nanFirst = () => tamper((v, call) => void (call === 0 && (v[0] = NaN)));
  let info = await opt.step(oracle(game), nanFirst());
  assert.deepEqual([info.nonFinite, info.collectives, info.t], [true, 1, 6]);
  // Infinity in ḡ2: both collectives were issued.
  const infSecond = () => tamper((v, call) => void (call === 1 && (v[2] = -Infinity)));
  info = await opt.step(oracle(game), infSecond());
  assert.deepEqual([info.nonFinite, info.collectives, info.t], [true, 2, 6]);
  assert.deepEqual(bits(opt.params), x);
  const after = opt.state();
  assert.equal(after.skipped, 3);
  assert.equal(after.collectiveCalls, before.collectiveCalls + 3);
  assert.equal(after.sumSq, before.sumSq);

  const thrower = new QGenX(unitStart(game.dim, 5), { lr: LR, onNonFinite: "throw" });
  await assert.rejects(
    thrower.step(oracle(game), infSecond()),
    (e: unknown) =>
      e instanceof NonFiniteStepError &&
      /qgenx step 1: second averaged sample \(ḡ2\) has non-finite value -Infinity at index 2/
        .test(e.message),
  );
  assert.equal(thrower.t, 0);
});
