import assert from "node:assert/strict";
import { BhqQuantizer } from "../../../runtime/quant/bhq.ts";
import {
  householderApply,
  householderEntry,
  householderMaxAbs,
} from "../../../runtime/quant/householder.ts";
import { PsqQuantizer, PtqQuantizer } from "../../../runtime/quant/max_min.ts";
import { NonFiniteError, QuantizationError } from "../../../runtime/errors.ts";
import { Rng } from "../../../runtime/rng.ts";
import type { Quantized, Quantizer, QuantizeStats } from "../../../runtime/quant/types.ts";

/** N×D rows N(0, σ_r²) with σ_r = base·mult(r). */
function rows(N: number, D: number, seed: number, mult: (r: number) => number): Float32Array {
  const rng = new Rng(seed);
  const v = new Float32Array(N * D);
  for (let r = 0; r < N; r++) {
    const s = mult(r);
    for (let d = 0; d < D; d++) v[r * D + d] = s * rng.normal();
  }
  return v;
}

/** The heavy-row example of the FQT notes: 16×256, N(0, 1e-3²), row 3 ×1000, row 7 ×300. */
function heavy(seed = 0): Float32Array {
  return rows(16, 256, seed, (r) => 1e-3 * (r === 3 ? 1000 : r === 7 ? 300 : 1));
}

/** The groups listed in a block's aux: [[G, rows…], …]. */
function groupsOf(aux: Uint32Array): number[][] {
  const out: number[][] = [];
  for (let g = 0, pos = 1; g < aux[0]; g++) {
    const G = aux[pos];
    out.push(Array.from(aux.subarray(pos + 1, pos + 1 + G)));
    pos += 1 + G;
  }
  return out;
}

/**
 * Per-coordinate variance σ² and largest single-draw deviation M of a BHQ
 * reconstruction, from the block's transform: X' = T·v is rebuilt with the
 * stored scales and groups, each X' entry has variance unit²·f(1 − f) and
 * deviation ≤ unit, and coordinate (i, d) of T⁻¹ε is
 * (1/s_i)·Σ_p H[pos_i][p]·ε_{r_p, d} (independent ε).
 */
function bhqCoordStats(v: Float32Array, b: Quantized): { sigma2: Float64Array; m: Float64Array } {
  const D = b.bucketSize, N = v.length / D;
  const s = b.meta.subarray(2 * N);
  const x = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) x[i] = v[i] * s[Math.floor(i / D)];
  const groups = groupsOf(b.aux);
  const scratch = new Float64Array(D);
  for (const g of groups) householderApply(x, D, g, scratch);
  const varX = new Float64Array(v.length), devX = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const r = Math.floor(i / D);
    const unit = b.meta[2 * r], mn = b.meta[2 * r + 1];
    if (unit === 0) continue;
    const y = (x[i] - mn) / unit;
    const f = y - Math.floor(y);
    varX[i] = unit * unit * f * (1 - f);
    devX[i] = unit;
  }
  const sigma2 = new Float64Array(v.length), m = new Float64Array(v.length);
  const grouped = new Uint8Array(N);
  for (const g of groups) {
    for (let j = 0; j < g.length; j++) {
      grouped[g[j]] = 1;
      for (let d = 0; d < D; d++) {
        let vv = 0, mm = 0;
        for (let p = 0; p < g.length; p++) {
          const h = householderEntry(g.length, j, p);
          vv += h * h * varX[g[p] * D + d];
          mm += Math.abs(h) * devX[g[p] * D + d];
        }
        const sj = s[g[j]];
        sigma2[g[j] * D + d] = vv / (sj * sj);
        m[g[j] * D + d] = mm / sj;
      }
    }
  }
  for (let r = 0; r < N; r++) {
    if (grouped[r]) continue;
    for (let d = r * D; d < (r + 1) * D; d++) {
      sigma2[d] = varX[d] / (s[r] * s[r]);
      m[d] = devX[d] / s[r];
    }
  }
  return { sigma2, m };
}

function maxAbs(v: Float32Array): number {
  let m = 0;
  for (const x of v) m = Math.max(m, Math.abs(x));
  return m;
}

/**
 * K draws of ‖Q(v) − v‖² via the stats argument (checked against an explicit
 * dequantization on the first draw): mean and standard error (sample sd/√K).
 */
function sqErrorDraws(q: Quantizer, v: Float32Array, K: number, rng: Rng) {
  const st: QuantizeStats = { sqError: 0, sqNorm: 0 };
  let s = 0, s2 = 0;
  for (let k = 0; k < K; k++) {
    const b = q.quantize(v, rng, undefined, st);
    if (k === 0) {
      const back = q.dequantize(b);
      let e = 0;
      for (let i = 0; i < v.length; i++) e += (back[i] - v[i]) ** 2;
      assert.ok(Math.abs(st.sqError - e) <= 1e-9 * e, `stats ${st.sqError} vs ${e}`);
    }
    s += st.sqError;
    s2 += st.sqError * st.sqError;
  }
  const mean = s / K;
  const sd = Math.sqrt(Math.max(0, (s2 - K * mean * mean) / (K - 1)));
  return { mean, se: sd / Math.sqrt(K) };
}

Deno.test("householder: H·e₁ = 𝟙/√G, H·H = I, entries match the rank-1 update", () => {
  for (const G of [1, 2, 3, 7, 16]) {
    const N = G + 3;
    // The group's rows in a scrambled order, leader not at row 0.
    const idx = Array.from({ length: G }, (_, j) => (2 - j + N) % N);
    assert.equal(new Set(idx).size, G);
    const scratch = new Float64Array(8);
    // e_p in group coordinates, as a column (D = 1): H·e_p = column p of H.
    let maxAbs = 0;
    for (let p = 0; p < G; p++) {
      const x = new Float32Array(N);
      x[idx[p]] = 1;
      householderApply(x, 1, idx, scratch);
      for (let j = 0; j < G; j++) {
        const h = householderEntry(G, j, p);
        assert.ok(Math.abs(x[idx[j]] - h) < 1e-6, `G=${G} H[${j}][${p}] ${x[idx[j]]} vs ${h}`);
        if (p === 0) assert.ok(Math.abs(h - 1 / Math.sqrt(G)) < 1e-15, "H·e₁ = 𝟙/√G");
        assert.equal(householderEntry(G, p, j), h, "symmetric");
        maxAbs = Math.max(maxAbs, Math.abs(h));
      }
      for (let r = 0; r < N; r++) {
        if (!idx.includes(r)) assert.equal(x[r], 0, "other rows untouched");
      }
      // Orthogonality: columns p and q are orthonormal.
      for (let q = 0; q < G; q++) {
        let dot = 0;
        for (let j = 0; j < G; j++) dot += householderEntry(G, j, p) * householderEntry(G, j, q);
        assert.ok(Math.abs(dot - (p === q ? 1 : 0)) < 1e-12, `G=${G} HᵀH[${p}][${q}] = ${dot}`);
      }
    }
    assert.ok(Math.abs(householderMaxAbs(G) - maxAbs) < 1e-15);
    // H·H = I on a random N×8 matrix (float32 storage: ~1e-6 relative).
    const rng = new Rng(G);
    const x = new Float32Array(N * 8).map(() => rng.normal());
    const y = x.slice();
    householderApply(y, 8, idx, scratch);
    if (G > 1) assert.ok(y.some((t, i) => Math.abs(t - x[i]) > 1e-3), "H ≠ I for G > 1");
    householderApply(y, 8, Uint32Array.from(idx), scratch);
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(y[i] - x[i]) < 1e-5, `H·H ≠ I at ${i}`);
  }
  assert.throws(
    () => householderApply(new Float32Array(4), 2, [0, 2], new Float64Array(2)),
    RangeError,
  );
  assert.throws(
    () => householderApply(new Float32Array(4), 2, [0, 1], new Float64Array(1)),
    RangeError,
  );
  assert.throws(() => householderEntry(3, 3, 0), RangeError);
});

Deno.test("bhq grouping: 1 big row and 15 tiny rows form one group of 16", () => {
  const v = rows(16, 32, 1, (r) => (r === 6 ? 10 : 1e-3));
  const q = new BhqQuantizer({ bits: 4, rowLength: 32 });
  const b = q.quantize(v, new Rng(1));
  const groups = groupsOf(b.aux);
  assert.equal(groups.length, 1);
  assert.equal(groups[0].length, 16);
  assert.equal(groups[0][0], 6, "the big row leads its group");
  assert.deepEqual([...groups[0]].sort((a, c) => a - c), Array.from({ length: 16 }, (_, i) => i));
  assert.equal(b.aux.length, 2 + 16);
  assert.equal(b.meta.length, 3 * 16);
  assert.equal(b.bucketSize, 32);
  // One scale for the leader, one for all small rows.
  const s = b.meta.subarray(32);
  for (let r = 0; r < 16; r++) if (r !== 6) assert.equal(s[r], s[groups[0][1]]);
  assert.notEqual(s[6], s[0]);
  // The notes' λ = [1, .01, .01, .01] case: one group of 4.
  const w = rows(4, 50, 2, (r) => (r === 0 ? 1 : 0.01));
  assert.deepEqual(
    groupsOf(
      new BhqQuantizer({ bits: 4 }).quantize(w, new Rng(1), { name: "x", shape: [4, 50] }).aux,
    ).map((g) => g.length),
    [4],
  );
});

Deno.test("bhq grouping on the heavy-row example follows the rounded-cumsum rule", () => {
  const v = heavy();
  const lam = (r: number) => {
    const row = v.subarray(r * 256, (r + 1) * 256);
    return Math.max(...row) - Math.min(...row);
  };
  // Two large rows (3 and 7) share k = 14 small rows in proportion to their ranges.
  const n3 = Math.round(14 * lam(3) / (lam(3) + lam(7)));
  const b = new BhqQuantizer({ bits: 4, rowLength: 256 }).quantize(v, new Rng(1));
  const groups = groupsOf(b.aux);
  assert.deepEqual(groups.map((g) => g[0]), [3, 7]);
  assert.deepEqual(groups.map((g) => g.length), [1 + n3, 1 + 14 - n3]);
  // The largest small rows go to the largest large row.
  const smallest3 = Math.min(...groups[0].slice(1).map(lam));
  const largest7 = Math.max(...groups[1].slice(1).map(lam));
  assert.ok(smallest3 >= largest7);
});

Deno.test("bhq: N = 2 falls back to one group of 2; N = 1 and constant rows behave like psq", () => {
  const q = new BhqQuantizer({ bits: 3, rowLength: 40 });
  const two = rows(2, 40, 3, (r) => (r === 0 ? 1 : 2));
  assert.deepEqual(groupsOf(q.quantize(two, new Rng(1)).aux), [[1, 0]]);
  const one = rows(1, 40, 4, () => 1);
  const psq = new PsqQuantizer({ bits: 3, rowLength: 40 });
  const b1 = q.quantize(one, new Rng(9)), p1 = psq.quantize(one, new Rng(9));
  assert.deepEqual(Array.from(b1.aux), [0]);
  assert.deepEqual(b1.codes, p1.codes);
  assert.deepEqual(Array.from(b1.meta), [...p1.meta, 1]);
  assert.deepEqual(q.dequantize(b1), psq.dequantize(p1));
  assert.equal(q.expectedVariance(one), psq.expectedVariance(one));
  const flat = new Float32Array(4 * 40).fill(2.5);
  const bf = q.quantize(flat, new Rng(1));
  assert.deepEqual(Array.from(bf.aux), [0]);
  assert.deepEqual(q.dequantize(bf), flat);
  assert.equal(q.expectedVariance(flat), 0);
});

Deno.test("bhq variance is far below psq ≤ ptq on the heavy-row example; draws agree", () => {
  const v = heavy();
  const D = 256;
  const bhq = new BhqQuantizer({ bits: 4, rowLength: D });
  const psq = new PsqQuantizer({ bits: 4, rowLength: D });
  const ptq = new PtqQuantizer({ bits: 4 });
  const eB = bhq.expectedVariance(v), eS = psq.expectedVariance(v), eT = ptq.expectedVariance(v);
  assert.ok(eB < eS / 3, `bhq ${eB} vs psq ${eS}`);
  assert.ok(eS <= eT, `psq ${eS} vs ptq ${eT}`);
  // Tolerance: 5 standard errors of the mean of K = 400 draws.
  for (const [q, e] of [[bhq, eB], [psq, eS], [ptq, eT]] as [Quantizer, number][]) {
    const { mean, se } = sqErrorDraws(q, v, 400, new Rng(5));
    assert.ok(Math.abs(mean - e) <= 5 * se, `${q.scheme}: empirical ${mean} vs ${e} (se ${se})`);
    assert.ok(mean <= q.varianceBound(v), `${q.scheme}: ${mean} > bound`);
  }
});

Deno.test("bhq is unbiased: mean of 2000 draws within Bernstein 6σ/√K per coordinate", () => {
  // Tolerance per coordinate: c·σ/√K + c²·M/(3K) + float slack, c = 6
  // (Bernstein: false-failure probability ≤ 2e^(−18) per coordinate, < 1e-4
  // over the 1024 coordinates). σ² and M come from bhqCoordStats.
  const v = rows(16, 64, 11, (r) => (r === 2 ? 5 : r === 9 ? 1 : 0.01 * (1 + r)));
  const q = new BhqQuantizer({ bits: 4, rowLength: 64 });
  const first = q.quantize(v, new Rng(0));
  assert.ok(first.aux[0] >= 1, "the example must form groups");
  const { sigma2, m } = bhqCoordStats(v, first);
  // Cross-check: the per-coordinate variances add up to expectedVariance.
  const total = sigma2.reduce((a, x) => a + x, 0);
  const exp = q.expectedVariance(v);
  assert.ok(Math.abs(total - exp) <= 1e-6 * exp, `Σσ² ${total} vs expectedVariance ${exp}`);
  const K = 2000, rng = new Rng(12);
  const sum = new Float64Array(v.length), out = new Float32Array(v.length);
  for (let k = 0; k < K; k++) {
    q.dequantize(q.quantize(v, rng), out);
    for (let i = 0; i < v.length; i++) sum[i] += out[i];
  }
  const slack = 1e-6 * maxAbs(v);
  let worst = 0;
  for (let i = 0; i < v.length; i++) {
    const tol = 6 * Math.sqrt(sigma2[i] / K) + 36 * m[i] / (3 * K) + slack;
    worst = Math.max(worst, Math.abs(sum[i] / K - v[i]) / tol);
  }
  assert.ok(worst <= 1, `worst |mean − v|/tol = ${worst}`);
});

// Empirical variance vs expectedVariance and varianceBound; tolerance: 5
// standard errors of the mean of K = 400 draws (+1e-6 relative float slack).
for (const bits of [2, 4, 8]) {
  Deno.test(`bhq ${bits}-bit: empirical variance ≈ expectedVariance ≤ varianceBound`, () => {
    const v = rows(24, 100, 20 + bits, (r) => (r % 7 === 0 ? 3 : 0.05 * (1 + (r % 4))));
    const q = new BhqQuantizer({ bits, rowLength: 100 });
    const exp = q.expectedVariance(v), bound = q.varianceBound(v);
    assert.ok(exp > 0 && exp <= bound, `expected ${exp}, bound ${bound}`);
    assert.ok(q.quantize(v, new Rng(1)).aux[0] >= 2, "several groups");
    const { mean, se } = sqErrorDraws(q, v, 400, new Rng(30 + bits));
    assert.ok(
      Math.abs(mean - exp) <= 5 * se + 1e-6 * exp,
      `empirical ${mean} vs ${exp} (se ${se})`,
    );
    assert.ok(mean <= bound, `empirical ${mean} > bound ${bound}`);
  });
}

Deno.test("bhq aux round-trips through dequantize; corrupt aux or scales throw", () => {
  const v = rows(16, 32, 1, (r) => (r === 6 ? 10 : 1e-3));
  const q = new BhqQuantizer({ bits: 4, rowLength: 32 });
  const b = q.quantize(v, new Rng(3));
  const back = q.dequantize(b);
  // As if decoded from bytes: fresh copies of every array.
  const copy: Quantized = {
    ...b,
    meta: Float32Array.from(b.meta),
    aux: Uint32Array.from(b.aux),
    codes: Uint16Array.from(b.codes),
  };
  assert.deepEqual(q.dequantize(copy), back);
  // The decoder really uses aux: swapping the leader with a small row changes the output.
  const swapped = Uint32Array.from(b.aux);
  [swapped[2], swapped[3]] = [swapped[3], swapped[2]];
  assert.notDeepEqual(q.dequantize({ ...b, aux: swapped }), back);
  // …and the scales.
  const meta = Float32Array.from(b.meta);
  meta[32 + 6] *= 2;
  assert.notDeepEqual(q.dequantize({ ...b, meta }), back);
  const bad = (aux: number[], why: RegExp) =>
    assert.throws(() => q.dequantize({ ...b, aux: Uint32Array.from(aux) }), (e: unknown) => {
      assert.ok(e instanceof QuantizationError, String(e));
      assert.match(e.message, why);
      return true;
    });
  const good = Array.from(b.aux);
  bad([1, 16, 16, ...good.slice(3)], /row 16 ≥ 16/);
  bad([1, 16, 6, 6, ...good.slice(4)], /row 6 appears in more than one place/);
  bad([1, 0], /size 0/);
  bad([1, 17, ...good.slice(2)], /size 17/);
  bad([2, ...good.slice(1)], /ends before group 1/);
  bad([...good, 0], /trailing/);
  bad([], /empty aux/);
  bad([1, 2, 0, 0xffffffff], /row 4294967295/);
  const zero = Float32Array.from(b.meta);
  zero[32] = 0;
  assert.throws(() => q.dequantize({ ...b, meta: zero }), /scale 0/);
  assert.throws(() => q.dequantize({ ...b, meta: b.meta.subarray(1) }), QuantizationError);
  assert.throws(() => q.dequantize({ ...b, bucketSize: 7 }), /meta floats/);
  assert.throws(() => q.dequantize({ ...b, scheme: "psq" }), /expected a 'bhq' block/);
  assert.throws(() => q.dequantize(b, new Float32Array(3)), /output buffer has length 3/);
  assert.deepEqual(q.dequantize(b, new Float32Array(v.length)), back);
});

Deno.test("bhq bad input: NaN, row length, bits, bins", () => {
  const q = new BhqQuantizer({ bits: 4, rowLength: 4 });
  const v = rows(3, 4, 1, () => 1);
  v[5] = NaN;
  assert.throws(() => q.quantize(v, new Rng(1), { name: "conv1/kernel" }), (e: unknown) => {
    assert.ok(e instanceof NonFiniteError);
    assert.equal(e.index, 5);
    assert.equal(e.layer, "conv1/kernel");
    assert.match(e.message, /conv1\/kernel.*index 5/);
    return true;
  });
  v[5] = -Infinity;
  assert.throws(() => q.expectedVariance(v, { name: "c" }), NonFiniteError);
  const w = rows(3, 4, 1, () => 1);
  const q5 = new BhqQuantizer({ bits: 4, rowLength: 5 });
  assert.throws(() => q5.quantize(w, new Rng(1), { name: "fc3/kernel" }), (e: unknown) => {
    assert.ok(e instanceof QuantizationError);
    assert.equal(e.layer, "fc3/kernel");
    assert.match(e.message, /length 12 is not a multiple of the row length 5/);
    return true;
  });
  assert.throws(() => new BhqQuantizer({ bits: 4 }).quantize(w, new Rng(1)), /row length unknown/);
  assert.equal(
    new BhqQuantizer({ bits: 4 }).quantize(w, new Rng(1), { name: "k", shape: [3, 4] }).bucketSize,
    4,
  );
  for (const bits of [0, 17]) assert.throws(() => new BhqQuantizer({ bits }), QuantizationError);
  assert.throws(() => new BhqQuantizer({ bits: 4, bins: 0 }), QuantizationError);
  assert.throws(() => new BhqQuantizer({ bits: 4, rowLength: 0 }), QuantizationError);
  assert.equal(
    new BhqQuantizer({ bits: 4, bins: 2, rowLength: 4 }).quantize(w, new Rng(1)).bits,
    2,
  );
});

Deno.test("bhq performance: 256×4096 quantize + dequantize in well under a second (O(N·D))", () => {
  const N = 256, D = 4096;
  const v = rows(N, D, 42, (r) => (r % 37 === 0 ? 100 : 1));
  const q = new BhqQuantizer({ bits: 4, rowLength: D });
  const rng = new Rng(1);
  q.dequantize(q.quantize(v, rng)); // warm-up (JIT)
  const t0 = performance.now();
  const b = q.quantize(v, rng, undefined, { sqError: 0, sqNorm: 0 });
  const back = q.dequantize(b);
  const ms = performance.now() - t0;
  assert.ok(b.aux[0] >= 1 && back.length === N * D);
  assert.ok(ms < 5000, `bhq 256×4096 took ${ms} ms`);
});
