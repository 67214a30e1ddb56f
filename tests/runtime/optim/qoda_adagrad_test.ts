import assert from "node:assert/strict";
import { Qoda, QodaAdagrad } from "../../../runtime/optim/mod.ts";
import {
  assertNonFiniteLeavesState,
  assertReplicasAndRestoreExact,
  bilinear,
  counting,
  identity,
  norm,
  oracle,
  unitStart,
} from "./_support.ts";

const game = bilinear(1);

Deno.test("qoda-adagrad: bilinear game, noiseless: converges with one collective per step", async () => {
  const z0 = unitStart(game.dim, 2);
  const opt = new QodaAdagrad(z0, { lr: 0.5 });
  const c = counting(identity);
  for (let i = 0; i < 2000; i++) {
    const info = await opt.step(oracle(game), c.collective);
    assert.equal(info.collectives, 1);
    assert.equal(info.nonFinite, false);
  }
  assert.ok(norm(opt.params) < 1e-2, `‖z_2000‖ = ${norm(opt.params)}`);
  assert.equal(c.calls, 2000);
  assert.equal(opt.collectivesPerStep, 1);
  assert.equal(opt.name, "qoda-adagrad");
});

Deno.test("qoda-adagrad: formulas: per-coordinate S, γ and η; V̄_{1/2} = 0", async () => {
  const lr = 0.3, eps = 1e-3;
  const opt = new QodaAdagrad(unitStart(game.dim, 2), { lr, lrEta: 0.2, eps });
  const n = game.dim;
  const x1 = Float64Array.from(opt.params);
  const x = Float64Array.from(opt.params), y = new Float64Array(n), s = new Float64Array(n);
  let vPrev = new Float64Array(n);
  for (let t = 1; t <= 10; t++) {
    let seen: Float32Array | undefined;
    await opt.step((z, out) => {
      seen = z.slice();
      oracle(game)(z, out);
    }, identity);
    const xh = x.map((xi, i) => xi - (lr / (eps + Math.sqrt(s[i]))) * vPrev[i]);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(seen![i] - xh[i]) < 1e-5, `t ${t} xh[${i}]`);
    const v = new Float64Array(n);
    oracle(game)(Float32Array.from(seen!), v as unknown as Float32Array);
    for (let i = 0; i < n; i++) {
      const vi = Math.fround(v[i]);
      s[i] += (vi - vPrev[i]) ** 2;
      y[i] -= vi;
      x[i] = x1[i] + (0.2 / (eps + Math.sqrt(s[i]))) * y[i];
      v[i] = vi;
    }
    vPrev = v;
    for (let i = 0; i < n; i++) assert.ok(Math.abs(opt.params[i] - x[i]) < 1e-5, `t ${t} x[${i}]`);
  }
});

Deno.test("qoda-adagrad: a badly scaled game (one pair 1000× the other) converges where one step size cannot", async () => {
  // F(x, y, u, w) = (y, −x, 1000 w, −1000 u): plain QODA's step is set by the
  // fast pair and leaves the slow one where it started; the per-coordinate
  // steps treat both pairs alike.
  const f = (z: Float32Array, out: Float32Array) => {
    out[0] = z[1];
    out[1] = -z[0];
    out[2] = 1000 * z[3];
    out[3] = -1000 * z[2];
  };
  const z0 = new Float32Array([1, 0, 1, 0]);
  const ada = new QodaAdagrad(z0, { lr: 0.5 });
  const plain = new Qoda(z0, { lr: 0.5 });
  for (let i = 0; i < 2000; i++) {
    await ada.step(f, identity);
    await plain.step(f, identity);
  }
  const slow = (p: Float32Array) => Math.hypot(p[0], p[1]);
  assert.ok(slow(ada.params) < 1e-2, `qoda-adagrad slow pair ${slow(ada.params)}`);
  assert.ok(Math.hypot(ada.params[2], ada.params[3]) < 1e-2);
  assert.ok(slow(plain.params) > 0.5, `qoda slow pair ${slow(plain.params)}`);
});

Deno.test("qoda-adagrad: K = 4 noisy workers stay bit-identical; state()/restore() is bit-exact", async () => {
  const { snap, back } = await assertReplicasAndRestoreExact(
    game,
    (z0) => new QodaAdagrad(z0, { lr: 0.1 }),
    (z0) => new QodaAdagrad(z0, { lr: 0.1, lrGamma: 0.05, exponentEta: 0.6 }),
  );
  assert.ok(back instanceof QodaAdagrad);
  assert.throws(
    () => QodaAdagrad.restore({ ...snap, s: new Float64Array(3) }),
    /s has length 3, expected 8/,
  );
  assert.throws(
    () => QodaAdagrad.restore({ ...snap, name: "qoda" } as never),
    /not a qoda-adagrad/,
  );
});

Deno.test("qoda-adagrad: non-finite averages and skipStep() leave the state intact", async () => {
  await assertNonFiniteLeavesState("qoda-adagrad", game, (policy) =>
    new QodaAdagrad(
      unitStart(game.dim, 5),
      policy === "skip" ? { lr: 0.1 } : { lr: 0.1, onNonFinite: "throw" },
    ));
  assert.throws(() => new QodaAdagrad(new Float32Array(2), { lr: 0 }), /lr must be/);
  assert.throws(() => new QodaAdagrad(new Float32Array(2), { lr: 1, eps: 0 }), /eps must be/);
});
