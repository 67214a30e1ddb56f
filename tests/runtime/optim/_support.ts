// Test helpers for the optimisers: a 4×4 bilinear game, noisy oracles, a
// barrier collective simulating K workers in one process. Not a test file.
import assert from "node:assert/strict";
import { Rng } from "../../../runtime/rng.ts";
import {
  type MeanCollective,
  NonFiniteStepError,
  type Optimizer,
  type Oracle,
  restoreOptimizer,
} from "../../../runtime/optim/mod.ts";

/** The bilinear game min_x max_y xᵀAy: F(x, y) = (A y, −Aᵀ x), z* = 0. */
export interface Bilinear {
  /** n × n, row-major. */
  a: Float64Array;
  n: number;
  /** Dimension of z = (x, y): 2n. */
  dim: number;
}

/**
 * A well-conditioned A: Gram–Schmidt of a Gaussian matrix (orthogonal),
 * rows scaled by singular values in [0.7, 1.3].
 */
export function bilinear(seed: number, n = 4): Bilinear {
  const rng = new Rng(seed);
  const q: number[][] = [];
  while (q.length < n) {
    const v = Array.from({ length: n }, () => rng.normal());
    for (const u of q) {
      const d = v.reduce((s, vi, i) => s + vi * u[i], 0);
      for (let i = 0; i < n; i++) v[i] -= d * u[i];
    }
    const norm = Math.hypot(...v);
    if (norm < 1e-6) continue;
    q.push(v.map((vi) => vi / norm));
  }
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const s = 0.7 + (0.6 * i) / Math.max(1, n - 1);
    for (let j = 0; j < n; j++) a[i * n + j] = s * q[i][j];
  }
  return { a, n, dim: 2 * n };
}

/** F(z) in float64. */
export function operator(g: Bilinear, z: ArrayLike<number>): Float64Array {
  const { a, n } = g;
  const f = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    let ay = 0, atx = 0;
    for (let j = 0; j < n; j++) {
      ay += a[i * n + j] * z[n + j];
      atx += a[j * n + i] * z[j];
    }
    f[i] = ay;
    f[n + i] = -atx;
  }
  return f;
}

/** ‖v‖ in float64. */
export function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** A unit-norm starting point from `seed`. */
export function unitStart(dim: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const z = Array.from({ length: dim }, () => rng.normal());
  const r = norm(z);
  return new Float32Array(z.map((v) => v / r));
}

/**
 * This worker's oracle: F(z) + σ_rel‖F(z)‖·N(0, I) from its own `rng`
 * (noiseless when σ_rel = 0 or no rng).
 */
export function oracle(g: Bilinear, sigmaRel = 0, rng?: Rng): Oracle {
  return (z, out) => {
    const f = operator(g, z);
    const s = rng && sigmaRel > 0 ? sigmaRel * norm(f) : 0;
    for (let i = 0; i < f.length; i++) out[i] = f[i] + (s > 0 ? s * rng!.normal() : 0);
  };
}

/** A collective for one worker: the mean of one vector is itself. */
export const identity: MeanCollective = async () => {};

/** Wraps a collective so that its calls are counted in `counter.calls`. */
export function counting(c: MeanCollective): { collective: MeanCollective; calls: number } {
  const box = {
    calls: 0,
    collective: (v: Float32Array) => {
      box.calls++;
      return c(v);
    },
  };
  return box;
}

/**
 * K collectives (one per simulated worker) behind a barrier: when all K
 * vectors of a round have arrived, each is replaced by their float64 mean
 * (summed in rank order, rounded to float32), so every worker gets identical
 * bytes. `rounds` counts completed rounds.
 */
export function barrier(K: number): { collectives: MeanCollective[]; rounds: () => number } {
  let pending: ({ v: Float32Array; done: () => void } | undefined)[] = new Array(K);
  let arrived = 0, rounds = 0;
  const collectives = Array.from(
    { length: K },
    (_, rank): MeanCollective => (v) =>
      new Promise<void>((done, fail) => {
        if (pending[rank]) return fail(new Error(`rank ${rank} entered a round twice`));
        pending[rank] = { v, done };
        if (++arrived < K) return;
        const n = pending[0]!.v.length;
        const mean = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += pending[k]!.v[i];
          mean[i] = s / K;
        }
        const round = pending;
        pending = new Array(K);
        arrived = 0;
        rounds++;
        for (const p of round) {
          p!.v.set(mean);
          p!.done();
        }
      }),
  );
  return { collectives, rounds: () => rounds };
}

/** Bits of a Float32Array, for bit-exact comparisons. */
export function bits(x: Float32Array): number[] {
  return Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
}

/**
 * A noisy oracle whose noise depends only on (seed, call index), so that a
 * resumed run can replay the same noise: set `calls` to where to resume.
 */
export function replayableOracle(
  g: Bilinear,
  sigmaRel: number,
  seed: number,
): { oracle: Oracle; calls: number } {
  const box = {
    calls: 0,
    oracle: (z: Float32Array, out: Float32Array) => {
      const rng = new Rng(seed * 1_000_003 + box.calls++);
      oracle(g, sigmaRel, rng)(z, out);
    },
  };
  return box;
}

/** Runs K replicas in lockstep for `steps` steps, each with its own oracle and collective. */
export async function lockstep(
  opts: { step(o: Oracle, c: MeanCollective): Promise<unknown> }[],
  oracles: Oracle[],
  collectives: MeanCollective[],
  steps: number,
): Promise<void> {
  for (let i = 0; i < steps; i++) {
    await Promise.all(opts.map((o, k) => o.step(oracles[k], collectives[k])));
  }
}

/**
 * A one-worker collective that lets `edit` change the "averaged" vector of
 * call number `call` (0-based), e.g. to inject NaN.
 */
export function tamper(edit: (v: Float32Array, call: number) => void): MeanCollective {
  let call = 0;
  return (v) => {
    edit(v, call++);
    return Promise.resolve();
  };
}

/**
 * After 10 steps on `g`, three non-finite averages and a `skipStep()` leave
 * the state as it was but for the counters (4 skips); a replica made with
 * `onNonFinite: "throw"` rejects its first such step, naming `name` step 1.
 * `make(policy)` builds a replica at the same start for each policy.
 */
export async function assertNonFiniteLeavesState(
  name: string,
  g: Bilinear,
  make: (onNonFinite: "skip" | "throw") => Optimizer,
): Promise<void> {
  const opt = make("skip");
  for (let i = 0; i < 10; i++) await opt.step(oracle(g), identity);
  const before = opt.state();
  for (const bad of [NaN, Infinity, -Infinity]) {
    const info = await opt.step(oracle(g), tamper((v) => void v.fill(bad, 3, 5)));
    assert.equal(info.nonFinite, true);
    assert.equal(info.t, 11);
  }
  opt.skipStep();
  const after = opt.state();
  assert.deepEqual({ ...after, skipped: 0, collectiveCalls: 0 }, {
    ...before,
    skipped: 0,
    collectiveCalls: 0,
  });
  assert.equal(after.skipped, 4);
  await assert.rejects(
    make("throw").step(oracle(g), tamper((v) => void (v[2] = NaN))),
    (e: unknown) => e instanceof NonFiniteStepError && new RegExp(`${name} step 1`).test(e.message),
  );
}

/**
 * K = 4 replicas from `replica(z0)` with noisy oracles on `g` stay
 * bit-identical over 300 lockstep steps; `single(z0)` snapshotted after 50
 * steps and restored with `restoreOptimizer` continues bit-exactly for 50
 * more. Returns the snapshot and the restored replica, for the caller's own
 * checks.
 */
export async function assertReplicasAndRestoreExact<O extends Optimizer>(
  g: Bilinear,
  replica: (z0: Float32Array) => O,
  single: (z0: Float32Array) => O,
): Promise<{ snap: ReturnType<O["state"]>; back: Optimizer }> {
  const K = 4;
  const z0 = unitStart(g.dim, 3);
  const opts = Array.from({ length: K }, () => replica(z0));
  const oracles = Array.from({ length: K }, (_, k) => oracle(g, 1, new Rng(7 + k)));
  await lockstep(opts, oracles, barrier(K).collectives, 300);
  for (let k = 1; k < K; k++) assert.deepEqual(opts[k].state(), opts[0].state());

  const opt = single(z0);
  const a = replayableOracle(g, 0.5, 9);
  for (let i = 0; i < 50; i++) await opt.step(a.oracle, identity);
  const snap = structuredClone(opt.state()) as ReturnType<O["state"]>;
  const at = a.calls;
  for (let i = 0; i < 50; i++) await opt.step(a.oracle, identity);
  const back = restoreOptimizer(snap);
  const b = replayableOracle(g, 0.5, 9);
  b.calls = at;
  for (let i = 0; i < 50; i++) await back.step(b.oracle, identity);
  assert.deepEqual(bits(back.params), bits(opt.params));
  assert.deepEqual(back.state(), opt.state());
  return { snap, back };
}
