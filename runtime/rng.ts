/**
 * Seeded pseudo-random numbers (xoshiro128**). Every stochastic routine in
 * qoda-ring takes an {@linkcode Rng} argument; nothing uses `Math.random`, so
 * a run is reproducible from its seed.
 *
 * @module
 */

/** A generator's state, as plain data (JSON-safe). */
export interface RngState {
  /** The four 32-bit state words. */
  s: number[];
  /** The cached second normal draw, or null. */
  spare: number | null;
}

/**
 * xoshiro128** generator: 128-bit state, period 2^128 − 1, 32-bit outputs.
 *
 * @example Reproducible draws, and independent sub-streams
 * ```ts
 * import { Rng } from "@qoda/ring";
 * const a = new Rng(7), b = new Rng(7);
 * if (a.nextU32() !== b.nextU32()) throw new Error("not reproducible");
 * const u = a.nextFloat();
 * if (!(u >= 0 && u < 1) || u !== b.nextFloat()) throw new Error("not reproducible");
 * // A fork draws its seed from the parent, so it continues differently.
 * const child = a.fork();
 * b.fork();
 * if (child.nextU32() === a.nextU32()) throw new Error("the fork repeats its parent");
 * ```
 */
export class Rng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;
  #spare = NaN;

  /**
   * Creates a generator from a seed.
   *
   * @param seed Any integer; equal seeds give equal streams.
   */
  constructor(seed: number) {
    // splitmix32 expands the seed so that nearby seeds give unrelated streams.
    let z = (seed >>> 0) ^ Math.floor(seed / 4294967296);
    const next = () => {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
      return (t ^ (t >>> 16)) >>> 0;
    };
    this.#s0 = next();
    this.#s1 = next();
    this.#s2 = next();
    this.#s3 = next() | 1;
  }

  /** Next uniformly distributed unsigned 32-bit integer. */
  nextU32(): number {
    const s0 = this.#s0, s1 = this.#s1, s2 = this.#s2, s3 = this.#s3;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    let n2 = s2 ^ s0;
    let n3 = s3 ^ s1;
    const n1 = s1 ^ n2;
    const n0 = s0 ^ n3;
    n2 ^= t;
    n3 = rotl(n3, 11);
    this.#s0 = n0;
    this.#s1 = n1;
    this.#s2 = n2;
    this.#s3 = n3;
    return r >>> 0;
  }

  /** Uniform float in [0, 1) with 32 bits of resolution. */
  nextFloat(): number {
    return this.nextU32() * 2.3283064365386963e-10;
  }

  /** Standard normal draw (Marsaglia polar method). */
  normal(): number {
    if (this.#spare === this.#spare) {
      const s = this.#spare;
      this.#spare = NaN;
      return s;
    }
    let u = 0, v = 0, s = 0;
    do {
      u = 2 * this.nextFloat() - 1;
      v = 2 * this.nextFloat() - 1;
      s = u * u + v * v;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt(-2 * Math.log(s) / s);
    this.#spare = v * m;
    return u * m;
  }

  /** The generator's full state (restore it with {@linkcode Rng.fromState}). */
  state(): RngState {
    return {
      s: [this.#s0, this.#s1, this.#s2, this.#s3],
      spare: this.#spare === this.#spare ? this.#spare : null,
    };
  }

  /**
   * A generator continuing exactly where `state` was taken.
   *
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   * const a = new Rng(3);
   * a.normal();
   * const b = Rng.fromState(a.state());
   * if (a.normal() !== b.normal() || a.nextU32() !== b.nextU32()) throw new Error();
   * ```
   */
  static fromState(state: RngState): Rng {
    const { s, spare } = state;
    if (!Array.isArray(s) || s.length !== 4 || s.some((w) => !Number.isInteger(w))) {
      throw new RangeError("Rng state needs four integer words");
    }
    const r = new Rng(0);
    r.#s0 = s[0] | 0;
    r.#s1 = s[1] | 0;
    r.#s2 = s[2] | 0;
    r.#s3 = s[3] | 0;
    r.#spare = spare === null ? NaN : spare;
    return r;
  }

  /** A new generator seeded from this one (for independent sub-streams). */
  fork(): Rng {
    return new Rng(this.nextU32() * 4294967296 + this.nextU32());
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * The seed of rank `rank`'s private streams in a job seeded with `seed`: the
 * first `fork()` of `new Rng(rankSeed(seed, rank))` is the problem worker's
 * own stream (data, noise), the rest its stochastic rounding.
 *
 * @example Ranks get unrelated streams
 * ```ts
 * import { rankSeed, Rng } from "./rng.ts";
 * const a = new Rng(rankSeed(0, 0)), b = new Rng(rankSeed(0, 1));
 * if (a.nextU32() === b.nextU32()) throw new Error("same stream");
 * ```
 */
export function rankSeed(seed: number, rank: number): number {
  return seed * 1_000_003 + 17 + rank;
}
