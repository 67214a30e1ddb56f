import assert from "node:assert/strict";
import { QodaAdagrad, QodaRms } from "../../../runtime/optim/mod.ts";
import {
  assertNonFiniteLeavesState,
  assertReplicasAndRestoreExact,
  bilinear,
  counting,
  identity,
  norm,
  oracle,
  replayableOracle,
  unitStart,
} from "./_support.ts";

const game = bilinear(1);

Deno.test("qoda-rms: bilinear game, noiseless: reaches a neighbourhood of size ~lr, one collective per step", async () => {
  // Normalised steps keep a length of about lr near the solution (as
  // RMSprop's do), so the iterate settles within a few lr of it.
  const start = unitStart(game.dim, 2);
  assert.ok(norm(start) > 0.5);
  const opt = new QodaRms(start, { lr: 0.002 });
  const c = counting(identity);
  for (let i = 0; i < 2000; i++) {
    const info = await opt.step(oracle(game), c.collective);
    assert.equal(info.collectives, 1);
    assert.equal(info.nonFinite, false);
  }
  assert.ok(norm(opt.params) < 0.02, `‖z_2000‖ = ${norm(opt.params)}`);
  assert.equal(c.calls, 2000);
  assert.equal(opt.collectivesPerStep, 1);
  assert.equal(opt.name, "qoda-rms");
});

Deno.test("qoda-rms: formulas: windowed S with bias correction, γ_1 = 0, the step from X_t", async () => {
  const lr = 0.3, eps = 1e-3, decay = 0.9;
  const opt = new QodaRms(unitStart(game.dim, 2), { lr, lrEta: 0.2, eps, decay });
  const n = game.dim;
  const x = Float64Array.from(opt.params), s = new Float64Array(n);
  let vPrev = new Float64Array(n);
  for (let t = 1; t <= 10; t++) {
    let seen: Float32Array | undefined;
    await opt.step((z, out) => {
      seen = z.slice();
      oracle(game)(z, out);
    }, identity);
    const before = 1 - decay ** (t - 1), after = 1 - decay ** t;
    const xh = x.map((xi, i) =>
      t === 1 ? xi : xi - (lr / (eps + Math.sqrt(s[i] / before))) * vPrev[i]
    );
    for (let i = 0; i < n; i++) assert.ok(Math.abs(seen![i] - xh[i]) < 1e-5, `t ${t} xh[${i}]`);
    const v = new Float64Array(n);
    oracle(game)(Float32Array.from(seen!), v as unknown as Float32Array);
    for (let i = 0; i < n; i++) {
      const vi = Math.fround(v[i]);
      s[i] = decay * s[i] + (1 - decay) * (vi - vPrev[i]) ** 2;
      x[i] -= (0.2 / (eps + Math.sqrt(s[i] / after))) * vi;
      v[i] = vi;
    }
    vPrev = v;
    for (let i = 0; i < n; i++) assert.ok(Math.abs(opt.params[i] - x[i]) < 1e-5, `t ${t} x[${i}]`);
  }
});

Deno.test("qoda-rms: its steps do not shrink with t where qoda-adagrad's do", async () => {
  // The same noisy game for 2,000 steps: AdaGrad's sums grow with t, so its
  // mean η falls about √(2000/200) ≈ 3×; the window's stays within a factor of 1.5.
  const z0 = unitStart(game.dim, 4);
  const rms = new QodaRms(z0, { lr: 0.01 });
  const ada = new QodaAdagrad(z0, { lr: 0.01 });
  const ra = replayableOracle(game, 1, 11), rb = replayableOracle(game, 1, 11);
  const eta = { rms: [] as number[], ada: [] as number[] };
  for (let i = 1; i <= 2000; i++) {
    const a = await rms.step(ra.oracle, identity);
    const b = await ada.step(rb.oracle, identity);
    if (i === 200 || i === 2000) {
      eta.rms.push(a.eta);
      eta.ada.push(b.eta);
    }
  }
  assert.ok(eta.ada[0] / eta.ada[1] > 2.5, `qoda-adagrad η ${eta.ada}`);
  assert.ok(
    eta.rms[0] / eta.rms[1] < 1.5 && eta.rms[1] / eta.rms[0] < 1.5,
    `qoda-rms η ${eta.rms}`,
  );
});

Deno.test("qoda-rms: K = 4 noisy workers stay bit-identical; state()/restore() is bit-exact", async () => {
  const { snap, back } = await assertReplicasAndRestoreExact(
    game,
    (z0) => new QodaRms(z0, { lr: 0.01 }),
    (z0) => new QodaRms(z0, { lr: 0.01, lrGamma: 0.005, decay: 0.95 }),
  );
  assert.ok(back instanceof QodaRms);
  assert.equal(back.state().decay, 0.95);
  assert.throws(
    () => QodaRms.restore({ ...snap, s: new Float64Array(3) }),
    /s has length 3, expected 8/,
  );
  assert.throws(() => QodaRms.restore({ ...snap, decay: 1 }), /decay must be in \[0, 1\)/);
  assert.throws(
    () => QodaRms.restore({ ...snap, name: "qoda-adagrad" } as never),
    /not a qoda-rms/,
  );
});

Deno.test("qoda-rms: non-finite averages and skipStep() leave the state intact", async () => {
  await assertNonFiniteLeavesState("qoda-rms", game, (policy) =>
    new QodaRms(
      unitStart(game.dim, 5),
      policy === "skip" ? { lr: 0.01 } : { lr: 0.1, onNonFinite: "throw" },
    ));
  assert.throws(() => new QodaRms(new Float32Array(2), { lr: 0 }), /lr must be/);
  assert.throws(() => new QodaRms(new Float32Array(2), { lr: 1, decay: 1 }), /decay must be/);
  assert.throws(() => new QodaRms(new Float32Array(2), { lr: 1, eps: 0 }), /eps must be/);
});
