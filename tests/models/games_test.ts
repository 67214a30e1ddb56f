import assert from "node:assert/strict";
import {
  type AffineGame,
  bilinearGame,
  createGame,
  GAME_NAMES,
  kellyAuction,
  type KellyGame,
  linearVI,
  noisyOracle,
  quadraticGame,
} from "../../models/games.ts";
import { matMul, matVec, solve, symmetricEigen } from "../../models/_linalg.ts";
import { UnknownNameError } from "../../runtime/errors.ts";
import { Rng } from "../../runtime/rng.ts";

const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const frob = (m: Float64Array) => norm(m);
const gaussian = (n: number, rng: Rng) => Float64Array.from({ length: n }, () => rng.normal());

/** A uniform point of the ball of radius r around c (or on its sphere). */
function inBall(c: Float64Array, r: number, rng: Rng, onSphere = false): Float64Array {
  const u = gaussian(c.length, rng);
  const k = r * (onSphere ? 1 : rng.nextFloat() ** (1 / c.length)) / norm(u);
  return c.map((v, i) => v + k * u[i]);
}

/** ⟨F(z'), z − z'⟩, the quantity whose sup the gap is. */
function gapTerm(
  game: { operator(z: Float64Array, out: Float64Array): void },
  z: ArrayLike<number>,
  zp: Float64Array,
) {
  const f = new Float64Array(zp.length);
  game.operator(zp, f);
  let s = 0;
  for (let i = 0; i < zp.length; i++) s += f[i] * (z[i] - zp[i]);
  return s;
}

function affineGames(): AffineGame[] {
  const out: AffineGame[] = [];
  for (const dim of [2, 8, 20]) {
    for (const seed of [0, 1, 7]) {
      out.push(bilinearGame({ dim, seed }), quadraticGame({ dim, seed }), linearVI({ dim, seed }));
    }
  }
  out.push(quadraticGame({ dim: 10, seed: 3, mu: 0.05 }));
  return out;
}

Deno.test("solve() and symmetricEigen() are accurate on random matrices", () => {
  const rng = new Rng(11);
  for (const n of [1, 3, 12, 30]) {
    const a = gaussian(n * n, rng), b = gaussian(n, rng);
    const x = solve(a, b, n);
    const r = matVec(a, n, n, x).map((v, i) => v - b[i]);
    assert.ok(norm(r) <= 1e-12 * frob(a) * norm(x), `n=${n}: residual ${norm(r)}`);
    const s = matMul(
      a,
      Float64Array.from({ length: n * n }, (_, k) => a[(k % n) * n + Math.floor(k / n)]),
      n,
      n,
      n,
    );
    const { values, vectors } = symmetricEigen(s, n);
    for (let j = 0; j < n; j++) {
      const v = Float64Array.from({ length: n }, (_, i) => vectors[i * n + j]);
      const sv = matVec(s, n, n, v);
      assert.ok(Math.abs(norm(v) - 1) < 1e-12);
      assert.ok(
        norm(sv.map((x, i) => x - values[j] * v[i])) <= 1e-10 * frob(s),
        `n=${n} eigenpair ${j}`,
      );
    }
  }
  assert.throws(() => solve(new Float64Array([1, 2, 2, 4]), [1, 1], 2), /singular/);
});

Deno.test("operator() vanishes at the solution of every affine game and equals Mz + q", () => {
  const rng = new Rng(1);
  for (const g of affineGames()) {
    const f = new Float64Array(g.dim);
    g.operator(g.solution, f);
    const scale = frob(g.matrix) * norm(g.solution) + norm(g.offset);
    assert.ok(norm(f) <= 1e-9 * scale, `${g.name}/${g.dim}: ‖F(z*)‖ = ${norm(f)}`);
    assert.ok(norm(g.solution) > 0.1, `${g.name}: z* should be nontrivial`);
    // The operator as written (blocks of A, b, c) is the affine map the game exposes.
    const z = gaussian(g.dim, rng);
    g.operator(z, f);
    const mz = matVec(g.matrix, g.dim, g.dim, z).map((v, i) => v + g.offset[i]);
    assert.ok(norm(mz.map((v, i) => v - f[i])) <= 1e-12 * (norm(f) + 1), g.name);
    // A float32 input gives the same as its float64 copy.
    const z32 = Float32Array.from(z);
    const f32 = new Float64Array(g.dim);
    g.operator(z32, f32);
    g.operator(Float64Array.from(z32), f);
    assert.deepEqual(f32, f);
  }
});

Deno.test("the games are seeded: equal seeds give equal instances, different seeds different ones", () => {
  for (const make of [bilinearGame, quadraticGame, linearVI]) {
    assert.deepEqual(make({ dim: 6, seed: 5 }).solution, make({ dim: 6, seed: 5 }).solution);
    assert.notDeepEqual(make({ dim: 6, seed: 5 }).solution, make({ dim: 6, seed: 6 }).solution);
    const g = make({ seed: 2 });
    assert.equal(g.dim, 20);
    const z0 = g.initial(new Rng(4));
    assert.deepEqual(z0, g.initial(new Rng(4)));
    assert.ok(Math.abs(norm(z0.map((v, i) => v - g.solution[i])) - 2) < 1e-5);
  }
  assert.throws(() => bilinearGame({ dim: 5 }), /dim must be an even integer ≥ 2, got 5/);
  assert.throws(() => quadraticGame({ mu: 0 }), /mu must be finite and > 0, got 0/);
  const g = linearVI({ dim: 4 });
  assert.throws(
    () => g.operator(new Float64Array(3), new Float64Array(4)),
    /expected length 4, got 3/,
  );
});

Deno.test("bilinear and linear matrices have the stated structure", () => {
  for (const seed of [0, 1, 2]) {
    const b = bilinearGame({ dim: 12, seed });
    const l = linearVI({ dim: 12, seed });
    const d = 12, n = 6;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        // bilinear: skew
        assert.ok(Math.abs(b.matrix[i * d + j] + b.matrix[j * d + i]) < 1e-15);
        // linear: symmetric diagonal blocks, skew off-diagonal blocks
        const same = (i < n) === (j < n);
        const s = l.matrix[i * d + j] + (same ? -1 : 1) * l.matrix[j * d + i];
        assert.ok(Math.abs(s) < 1e-15);
      }
    }
    // A's singular values lie in [0.5, 2]: ‖Ay‖/‖y‖ ∈ [0.5, 2] for the skew block.
    const rng = new Rng(seed);
    for (let t = 0; t < 50; t++) {
      const z = gaussian(d, rng);
      const r = norm(matVec(b.matrix, d, d, z)) / norm(z);
      assert.ok(r >= 0.5 - 1e-12 && r <= 2 + 1e-12, `ratio ${r}`);
    }
    // The linear VI is monotone but not strongly: S = (M + Mᵀ)/2 is singular.
    assert.ok(l.mu < 1e-10, `mu ${l.mu}`);
  }
});

Deno.test("monotonicity: ⟨F(z1) − F(z2), z1 − z2⟩ ≥ 0 (≥ μ‖z1 − z2‖² for the quadratic game)", () => {
  const rng = new Rng(2);
  for (const g of affineGames()) {
    const f1 = new Float64Array(g.dim), f2 = new Float64Array(g.dim);
    let minRatio = Infinity;
    for (let t = 0; t < 300; t++) {
      const z1 = gaussian(g.dim, rng).map((v) => 5 * v), z2 = gaussian(g.dim, rng);
      g.operator(z1, f1);
      g.operator(z2, f2);
      const d = z1.map((v, i) => v - z2[i]);
      const ip = dot(f1.map((v, i) => v - f2[i]), d);
      const d2 = dot(d, d);
      assert.ok(ip >= g.mu * d2 - 1e-9 * d2, `${g.name}: ${ip} < ${g.mu}·${d2}`);
      if (g.name === "bilinear") assert.ok(Math.abs(ip) <= 1e-9 * d2, `bilinear not skew: ${ip}`);
      minRatio = Math.min(minRatio, ip / d2);
    }
    if (g.name === "quadratic") {
      // the bound is tight: pairs along the directions near the kernel of K come close to μ
      assert.ok(minRatio < g.mu * 1.5 + 1e-9, `quadratic: min ratio ${minRatio}, μ ${g.mu}`);
    }
  }
});

Deno.test("kellyAuction() equilibria: V(x*) ≈ 0 componentwise and the published values", () => {
  const two = kellyAuction();
  assert.deepEqual(Array.from(two.gains), [2, 3]);
  assert.equal(two.quantity, 1);
  assert.equal(two.reserve, 1);
  assert.ok(Math.abs(two.solution[0] - 0.1396) <= 1e-4, `${two.solution}`);
  assert.ok(Math.abs(two.solution[1] - 0.7094) <= 1e-4, `${two.solution}`);
  const four = kellyAuction({ dim: 4 });
  assert.equal(four.quantity, 1000);
  assert.equal(four.reserve, 100);
  const published = [185.76, 326.15, 441.015, 536.735];
  for (let i = 0; i < 4; i++) {
    assert.ok(Math.abs(four.solution[i] - published[i]) <= 1e-2, `x*_${i} = ${four.solution[i]}`);
  }
  const games: KellyGame[] = [
    two,
    four,
    kellyAuction({ dim: 3, seed: 1 }),
    kellyAuction({ dim: 10, seed: 2 }),
  ];
  games.push(kellyAuction({ gains: [1.5, 2, 2.5], quantity: 10, reserve: 0.5 }));
  for (const g of games) {
    const v = new Float64Array(g.dim);
    g.operator(g.solution, v);
    for (let i = 0; i < g.dim; i++) {
      assert.ok(g.solution[i] > 0, "interior");
      assert.ok(Math.abs(v[i]) <= 1e-12, `${g.dim} players: V_${i}(x*) = ${v[i]}`);
    }
  }
  // An instance without an interior equilibrium (one player priced out) is refused.
  assert.throws(
    () => kellyAuction({ gains: [1, 10, 10], quantity: 1, reserve: 1 }),
    /not interior/,
  );
  assert.throws(() => kellyAuction({ dim: 3, gains: [1, 2] }), /2 gains given for dim 3/);
});

Deno.test("kellyAuction() is monotone near the equilibrium, satisfies Minty on the orthant, not monotone far out", () => {
  const rng = new Rng(3);
  for (const g of [kellyAuction(), kellyAuction({ dim: 4 })]) {
    const box = 5 * Math.max(...g.solution);
    const v1 = new Float64Array(g.dim), v2 = new Float64Array(g.dim);
    for (let t = 0; t < 2000; t++) {
      const x1 = Float64Array.from({ length: g.dim }, () => box * rng.nextFloat());
      const x2 = Float64Array.from({ length: g.dim }, () => box * rng.nextFloat());
      g.operator(x1, v1);
      g.operator(x2, v2);
      const dv = v1.map((v, i) => v - v2[i]), dx = x1.map((v, i) => v - x2[i]);
      assert.ok(dot(dv, dx) >= -1e-12 * norm(dv) * norm(dx), `pair ${x1} / ${x2}`);
      // Minty: ⟨V(x), x − x*⟩ ≥ 0 over the orthant, also far out (x up to 1000·box)
      const far = x1.map((v) => v * 10 ** (3 * rng.nextFloat()));
      g.operator(far, v1);
      const ip = dot(v1, far.map((v, i) => v - g.solution[i]));
      assert.ok(ip >= -1e-9 * norm(v1) * norm(far), `Minty fails at ${far}: ${ip}`);
    }
  }
  // Far from x*, with one bidder dominating, monotonicity fails: around x = (100, 0) the
  // symmetric part of the Jacobian is indefinite (pairs x, x + ε(cos θ, sin θ) stay ≥ 0).
  const g = kellyAuction();
  let worst = Infinity;
  const x1 = Float64Array.of(100, 0), v1 = new Float64Array(2), v2 = new Float64Array(2);
  g.operator(x1, v1);
  for (let k = 0; k <= 64; k++) {
    const th = (Math.PI * k) / 64;
    const x2 = Float64Array.of(100 + 0.01 * Math.cos(th), 0.01 * Math.sin(th));
    g.operator(x2, v2);
    const dx = x1.map((v, i) => v - x2[i]);
    worst = Math.min(worst, dot(v1.map((v, i) => v - v2[i]), dx) / dot(dx, dx));
  }
  assert.ok(worst < -1e-7, `expected a non-monotone pair near (100, 0), worst ${worst}`);
});

Deno.test("kellyAuction(): project() clamps to the orthant, initial() is feasible and seeded", () => {
  const g = kellyAuction({ dim: 4 });
  const z = Float32Array.of(-1, 2, -0, -3e-8);
  g.project!(z);
  assert.deepEqual(Array.from(z), [0, 2, 0, 0]);
  const a = g.initial(new Rng(9)), b = g.initial(new Rng(9));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, g.initial(new Rng(10)));
  for (const v of a) assert.ok(v >= 0 && v <= 3 * Math.max(...g.solution));
  assert.equal(bilinearGame().project, undefined);
});

Deno.test("bilinear gap() = D·‖F(z)‖: never exceeded by random search, attained by the maximiser", () => {
  const rng = new Rng(4);
  for (const seed of [0, 1, 2]) {
    const g = bilinearGame({ dim: 6, seed });
    assert.ok(g.gap(g.solution, 3) <= 1e-12);
    assert.equal(g.gap(Float32Array.from(g.solution), 0), 0);
    for (const radius of [0.3, 1, 4]) {
      const z = inBall(g.solution, 2, rng);
      const gap = g.gap(z, radius);
      const f = new Float64Array(6);
      g.operator(z, f);
      assert.ok(Math.abs(gap - radius * norm(f)) <= 1e-12 * gap);
      let best = -Infinity;
      for (let t = 0; t < 3000; t++) {
        const v = gapTerm(g, z, inBall(g.solution, radius, rng, t % 2 === 0));
        assert.ok(v <= gap * (1 + 1e-12) + 1e-12, `random z' gives ${v} > gap ${gap}`);
        best = Math.max(best, v);
      }
      assert.ok(best > 0.5 * gap, "random search should get somewhat close");
      // z' = z* − D·F(z)/‖F(z)‖ attains it
      const zp = g.solution.map((s, i) => s - (radius * f[i]) / norm(f));
      assert.ok(Math.abs(gapTerm(g, z, zp) - gap) <= 1e-6 * Math.max(1, gap));
    }
  }
});

Deno.test("quadratic gap() closed form (both branches): bound holds, maximiser attains it", () => {
  const rng = new Rng(5);
  for (const mu of [0.05, 0.5, 2]) {
    const g = quadraticGame({ dim: 8, seed: 1, mu });
    assert.ok(g.gap(g.solution, 2) <= 1e-12);
    let branches = 0;
    for (const radius of [0.1, 1, 10]) {
      const z = inBall(g.solution, 3, rng, true);
      const f = new Float64Array(8);
      g.operator(z, f);
      const s = norm(f);
      const gap = g.gap(z, radius);
      const r = Math.min(radius, s / (2 * mu));
      if (r < radius) branches |= 1;
      else branches |= 2;
      for (let t = 0; t < 2000; t++) {
        const v = gapTerm(g, z, inBall(g.solution, radius, rng, t % 2 === 0));
        assert.ok(v <= gap * (1 + 1e-12) + 1e-12, `μ=${mu} D=${radius}: ${v} > ${gap}`);
      }
      const e = z.map((v, i) => v - g.solution[i]);
      const mte = e.map((v, i) => 2 * mu * v - f[i]);
      const zp = g.solution.map((v, i) => v + (r * mte[i]) / s);
      assert.ok(
        Math.abs(gapTerm(g, z, zp) - gap) <= 1e-6 * Math.max(1, gap),
        `μ=${mu} D=${radius}`,
      );
    }
    if (mu === 0.5) assert.equal(branches, 3, "both branches exercised");
  }
});

Deno.test("linear VI gap() solves the trust-region problem: bound holds, ascent reaches it", () => {
  const rng = new Rng(6);
  for (const seed of [0, 3]) {
    const g = linearVI({ dim: 8, seed });
    const d = 8, m = g.matrix;
    assert.ok(g.gap(g.solution, 2) <= 1e-12);
    for (const radius of [0.2, 1, 5]) {
      const z = inBall(g.solution, 3, rng);
      const gap = g.gap(z, radius);
      assert.ok(gap > 0);
      let best = -Infinity, bestW = new Float64Array(d);
      for (let t = 0; t < 3000; t++) {
        const zp = inBall(g.solution, radius, rng, t % 2 === 0);
        const v = gapTerm(g, z, zp);
        assert.ok(v <= gap * (1 + 1e-9) + 1e-12, `D=${radius}: ${v} > ${gap}`);
        if (v > best) [best, bestW] = [v, zp.map((x, i) => x - g.solution[i])];
      }
      // Projected gradient ascent on φ(w) = ⟨w, Mᵀe⟩ − wᵀSw from the best random point.
      const e = z.map((v, i) => v - g.solution[i]);
      const mte = new Float64Array(d);
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) mte[j] += m[i * d + j] * e[i];
      const step = 1 / (2 * frob(m));
      let w = bestW;
      for (let t = 0; t < 20000; t++) {
        const mw = matVec(m, d, d, w);
        const mtw = new Float64Array(d);
        for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) mtw[j] += m[i * d + j] * w[i];
        w = w.map((v, i) => v + step * (mte[i] - mw[i] - mtw[i]));
        const nw = norm(w);
        if (nw > radius) w = w.map((v) => (v * radius) / nw);
      }
      const ascent = gapTerm(g, z, w.map((v, i) => v + g.solution[i]));
      assert.ok(ascent <= gap * (1 + 1e-9) + 1e-12);
      assert.ok(
        gap - ascent <= 1e-6 * Math.max(1, gap),
        `D=${radius}: gap ${gap}, ascent ${ascent}`,
      );
    }
  }
});

Deno.test("kelly gap(): 0 at x*, positive elsewhere, a lower estimate close to random search", () => {
  const rng = new Rng(7);
  for (const g of [kellyAuction(), kellyAuction({ dim: 4 })]) {
    const scale = Math.max(...g.solution);
    assert.ok(Math.abs(g.gap(g.solution, scale)) <= 1e-12, `gap(x*) = ${g.gap(g.solution, scale)}`);
    let minRatio = Infinity;
    for (let t = 0; t < 40; t++) {
      const z = Float32Array.from({ length: g.dim }, () => 2 * scale * rng.nextFloat());
      const radius = norm(z.map((v, i) => v - g.solution[i])) * (t % 2 ? 1 : 0.5);
      const gap = g.gap(z, radius);
      assert.ok(Number.isFinite(gap) && gap > 0, `gap ${gap} at ${z}`);
      // Random search over {z' ≥ 0, ‖z' − z*‖ ≤ D}: a lower bound of the true gap, like the
      // estimate; the estimate should not be far below it.
      let best = 0;
      for (let k = 0; k < 2000; k++) {
        const zp = inBall(g.solution, radius, rng, k % 2 === 0).map((x) => Math.max(0, x));
        best = Math.max(best, gapTerm(g, z, zp));
      }
      minRatio = Math.min(minRatio, gap / best);
    }
    assert.ok(minRatio > 0.5, `${g.dim} players: estimate / random search ≥ ${minRatio}`);
  }
});

Deno.test("noisyOracle(): mean → F(z) and per-coordinate variance σ_abs² + σ_rel²‖F‖²", () => {
  const game = bilinearGame({ dim: 4, seed: 1 });
  const z = Float32Array.of(1, -2, 0.5, 3);
  const f = new Float64Array(4);
  game.operator(z, f);
  const fn = norm(f);
  const N = 40000;
  for (const [sigmaAbs, sigmaRel] of [[0.5, 0], [0, 0.3], [0.2, 0.1]]) {
    const oracle = noisyOracle(game, { sigmaAbs, sigmaRel, rng: new Rng(12) });
    const sum = new Float64Array(4), sum2 = new Float64Array(4), out = new Float32Array(4);
    for (let k = 0; k < N; k++) {
      oracle(z, out);
      for (let i = 0; i < 4; i++) {
        const d = out[i] - f[i];
        sum[i] += d;
        sum2[i] += d * d;
      }
    }
    const variance = sigmaAbs ** 2 + sigmaRel ** 2 * fn * fn;
    for (let i = 0; i < 4; i++) {
      const bias = sum[i] / N;
      const s2 = (sum2[i] - N * bias * bias) / (N - 1);
      // Tolerances: 5 standard errors of the mean (σ/√N) and of the variance (σ²·√(2/N)).
      assert.ok(
        Math.abs(bias) <= 5 * Math.sqrt(variance / N),
        `σ=(${sigmaAbs},${sigmaRel}) mean off by ${bias}`,
      );
      assert.ok(
        Math.abs(s2 - variance) <= 5 * variance * Math.sqrt(2 / N),
        `variance ${s2} vs ${variance}`,
      );
    }
  }
  // No noise: exactly F(z) rounded to float32.
  const out = new Float32Array(4);
  noisyOracle(game, { rng: new Rng(0) })(z, out);
  assert.deepEqual(out, Float32Array.from(f));
});

Deno.test("noisyOracle(): forked workers differ, equal seeds repeat, bad sigmas are refused", () => {
  const game = quadraticGame({ dim: 6 });
  const z = game.initial(new Rng(1));
  const draw = (rng: Rng, k: number) => {
    const oracle = noisyOracle(game, { sigmaAbs: 0.1, sigmaRel: 0.05, rng });
    const out = new Float32Array(6), all: number[] = [];
    for (let i = 0; i < k; i++) {
      oracle(z, out);
      all.push(...out);
    }
    return all;
  };
  const root = new Rng(3);
  const w0 = draw(root.fork(), 5), w1 = draw(root.fork(), 5);
  assert.ok(w0.every((v, i) => v !== w1[i]), "two workers' samples should differ everywhere");
  const again = new Rng(3);
  assert.deepEqual(draw(again.fork(), 5), w0);
  assert.deepEqual(draw(again.fork(), 5), w1);
  assert.throws(
    () => noisyOracle(game, { sigmaAbs: -1, rng: root }),
    /sigmaAbs must be finite and ≥ 0, got -1/,
  );
  assert.throws(() => noisyOracle(game, { sigmaRel: NaN, rng: root }), /sigmaRel/);
});

Deno.test("createGame() builds each named game and rejects unknown names with the valid list", () => {
  for (const name of GAME_NAMES) {
    const g = createGame(name, { seed: 1, dim: name === "kelly" ? 4 : 6 });
    assert.equal(g.name, name);
    assert.equal(g.dim, name === "kelly" ? 4 : 6);
  }
  assert.equal(createGame("kelly", { dim: undefined }).dim, 2);
  assert.deepEqual(createGame("linear", { seed: 4 }).solution, linearVI({ seed: 4 }).solution);
  assert.throws(
    () => createGame("chess"),
    (e: unknown) =>
      e instanceof UnknownNameError && e.requested === "chess" &&
      e.valid.join() === "bilinear,quadratic,linear,kelly" &&
      /unknown game 'chess'; valid: bilinear, quadratic, linear, kelly/.test(e.message),
  );
});
