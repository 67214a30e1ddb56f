/**
 * Small monotone variational inequalities with known solutions, the test
 * problems of QODA (research notes §6): find z* with ⟨F(z*), z − z*⟩ ≥ 0 for
 * all feasible z. Every problem's data come from a seeded {@linkcode Rng}, so a
 * seed fixes the instance.
 *
 * - {@linkcode bilinearGame}: min_x max_y xᵀAy + bᵀx + cᵀy (monotone, skew).
 * - {@linkcode quadraticGame}: the same plus (μ/2)‖x‖² − (μ/2)‖y‖² (μ-strongly monotone).
 * - {@linkcode linearVI}: F(z) = Mz + q with M + Mᵀ ⪰ 0 singular (monotone, not skew).
 * - {@linkcode kellyAuction}: the Kelly auction on the orthant x ≥ 0 (nonlinear).
 *
 * Each game has an exact operator, its solution, a seeded starting point and a
 * gap. The gap is the restricted (Minty) gap
 *
 *     Gap_D(z) = sup_{z' ∈ 𝒵, ‖z' − z*‖ ≤ D} ⟨F(z'), z − z'⟩,
 *
 * which is ≥ 0 for z in the ball and 0 at z = z* for a monotone F. It is exact
 * for the three affine games (closed forms for the bilinear and quadratic games,
 * a one-dimensional trust-region root find for the linear VI) and a documented
 * lower estimate for the Kelly auction. {@linkcode noisyOracle} turns a game into
 * a worker's stochastic oracle with the LIONS `NoiseProfile` noise model.
 *
 * @example Solve the bilinear game with extragradient
 * ```ts
 * import { bilinearGame } from "./games.ts";
 * const game = bilinearGame({ dim: 8, seed: 1 });
 * const z = Float64Array.from(game.solution, (s) => s + 1);
 * const h = new Float64Array(8), f = new Float64Array(8);
 * const gap0 = game.gap(z, 3);
 * for (let t = 0; t < 2000; t++) {
 *   game.operator(z, f);
 *   for (let i = 0; i < 8; i++) h[i] = z[i] - 0.2 * f[i];
 *   game.operator(h, f);
 *   for (let i = 0; i < 8; i++) z[i] -= 0.2 * f[i];
 * }
 * if (!(game.gap(z, 3) < 1e-6 * gap0)) throw new Error("extragradient did not converge");
 * ```
 *
 * @module
 */
import { UnknownNameError } from "../runtime/errors.ts";
import { Rng } from "../runtime/rng.ts";
import {
  matMul,
  matTVec,
  matVec,
  norm2,
  randomOrthogonal,
  solve,
  symmetricEigen,
} from "./_linalg.ts";

/** A vector the games read: float32 (optimiser parameters) or float64. */
export type Vec = Float32Array | Float64Array;

/** A monotone variational inequality with a known solution. */
export interface Game {
  /** The problem's name, one of {@linkcode GAME_NAMES}. */
  readonly name: string;
  /** Size of z. */
  readonly dim: number;
  /**
   * Writes the exact operator F(z) into `out` (computed in float64).
   * Throws a RangeError when `z` or `out` does not have length `dim`.
   */
  operator(z: Vec, out: Float64Array): void;
  /** The solution z* (float64). */
  readonly solution: Float64Array;
  /**
   * A starting point drawn from `rng` (deterministic given its state), inside the feasible
   * set: for the affine games at distance 2 from z*, for Kelly uniform in [0, 3·max x*]ⁿ.
   */
  initial(rng: Rng): Float32Array;
  /** Projects z onto the feasible set in place; absent for unconstrained problems. */
  project?(z: Float32Array): void;
  /**
   * The restricted gap sup_{z' feasible, ‖z' − z*‖ ≤ radius} ⟨F(z'), z − z'⟩: exact for
   * the affine games, a lower estimate for the Kelly auction (see each factory).
   */
  gap(z: Vec, radius: number): number;
}

/**
 * An affine game F(z) = Mz + q. `matrix` is M (dim×dim, row-major), `offset` is q,
 * and `mu` is the strong-monotonicity modulus λ_min((M + Mᵀ)/2) (0 when merely monotone).
 */
export interface AffineGame extends Game {
  /** M, row-major dim×dim. */
  readonly matrix: Float64Array;
  /** q. */
  readonly offset: Float64Array;
  /** ⟨F(z1) − F(z2), z1 − z2⟩ ≥ mu·‖z1 − z2‖² for all z1, z2. */
  readonly mu: number;
}

/** The Kelly auction with its parameters. */
export interface KellyGame extends Game {
  /** The players' marginal gains g_i. */
  readonly gains: Float64Array;
  /** Q, the quantity of resource auctioned. */
  readonly quantity: number;
  /** Z, the reserve (entry barrier) bid. */
  readonly reserve: number;
}

/** Options shared by the game factories. */
export interface GameOptions {
  /**
   * Size of z. Bilinear, quadratic and linear: an even number (x and y have dim/2
   * coordinates each). Kelly: the number of players.
   * @default {20} (Kelly: 2)
   */
  dim?: number;
  /** Seed of the game's data. @default {0} */
  seed?: number;
}

/** Options of {@linkcode quadraticGame}. */
export interface QuadraticGameOptions extends GameOptions {
  /** The regularisation μ > 0 (the strong-monotonicity modulus). @default {0.5} */
  mu?: number;
}

/** Options of {@linkcode kellyAuction}. */
export interface KellyOptions extends GameOptions {
  /**
   * Marginal gains g_i, one per player (then `dim` may be omitted). Default: the
   * published instances for dim 2, g = (2, 3), and dim 4, g = (1.8, 2.0, 2.2, 2.4);
   * for other dims g_i = 2·(1 + u_i/(2n)) with u_i uniform from `seed`, which keeps
   * the equilibrium interior.
   */
  gains?: readonly number[];
  /** Q. @default {1 for the 2-player instance, 1000 otherwise} */
  quantity?: number;
  /** Z. @default {1 for the 2-player instance, 100 otherwise} */
  reserve?: number;
}

/** Names accepted by {@linkcode createGame}. */
export const GAME_NAMES = ["bilinear", "quadratic", "linear", "kelly"] as const;

/** One of {@linkcode GAME_NAMES}. */
export type GameName = typeof GAME_NAMES[number];

// ---------------------------------------------------------------------------
// helpers

/** ‖z0 − z*‖ of the affine games' `initial()`. */
const START_DISTANCE = 2;

function checkLength(what: string, v: { length: number }, dim: number): void {
  if (v.length !== dim) {
    throw new RangeError(`${what}: expected length ${dim}, got ${v.length}`);
  }
}

function halfDim(what: string, dim: number): number {
  if (!Number.isInteger(dim) || dim < 2 || dim % 2 !== 0) {
    throw new RangeError(`${what}: dim must be an even integer ≥ 2, got ${dim}`);
  }
  return dim / 2;
}

/** A well-conditioned n×n matrix U·diag(s)·Vᵀ with U, V orthogonal and s uniform in [0.5, 2]. */
function conditionedMatrix(n: number, rng: Rng): Float64Array {
  const u = randomOrthogonal(n, rng);
  const v = randomOrthogonal(n, rng);
  for (let j = 0; j < n; j++) {
    const s = 0.5 + 1.5 * rng.nextFloat();
    for (let i = 0; i < n; i++) u[i * n + j] *= s;
  }
  // (U·diag(s))·Vᵀ; v holds orthonormal rows, so Vᵀ is its transpose.
  const vt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vt[j * n + i] = v[i * n + j];
  return matMul(u, vt, n, n, n);
}

function gaussian(n: number, rng: Rng, scale = 1): Float64Array {
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = scale * rng.normal();
  return x;
}

/**
 * z* + 2·u with u uniform on the unit sphere. The distance is fixed (not drawn) because
 * adaptive step sizes such as QODA's γ_t = lr/√(1 + Σ‖ΔV‖²) shrink for good after large
 * early operator differences, so convergence speed in a fixed budget depends on it.
 */
function ballStart(solution: Float64Array, rng: Rng): Float32Array {
  const d = solution.length;
  const u = gaussian(d, rng);
  const r = START_DISTANCE / norm2(u);
  return Float32Array.from(solution, (s, i) => s + r * u[i]);
}

/** The block matrix [[μI, A], [−Aᵀ, μI]] (n×n blocks). */
function saddleMatrix(a: Float64Array, n: number, mu: number): Float64Array {
  const d = 2 * n;
  const m = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    m[i * d + i] = mu;
    m[(n + i) * d + n + i] = mu;
    for (let j = 0; j < n; j++) {
      m[i * d + n + j] = a[i * n + j];
      m[(n + j) * d + i] = -a[i * n + j];
    }
  }
  return m;
}

function checkRadius(radius: number): void {
  if (!(radius >= 0) || !Number.isFinite(radius)) {
    throw new RangeError(`gap(): radius must be finite and ≥ 0, got ${radius}`);
  }
}

/**
 * The restricted gap of a monotone affine F(z) = Mz + q with F(z*) = 0,
 * S = (M + Mᵀ)/2 = U·diag(Λ)·Uᵀ ⪰ 0. With w = z' − z* and e = z − z*:
 *
 *     ⟨F(z'), z − z'⟩ = ⟨Mw, e − w⟩ = ⟨w, Mᵀe⟩ − wᵀSw,
 *
 * a concave quadratic in w, maximised over ‖w‖ ≤ D (a trust-region subproblem).
 * KKT: Mᵀe = 2(S + λI)w, λ ≥ 0, λ(‖w‖ − D) = 0. In the eigenbasis
 * w̃_i = b̃_i / (2(Λ_i + λ)) with b̃ = Uᵀ Mᵀe; λ = 0 if that w is inside the ball,
 * else ‖w(λ)‖ = D is solved by bisection (‖w(λ)‖ decreases in λ, and
 * λ = ‖b‖/(2D) makes ‖w‖ ≤ D).
 */
function affineGap(
  e: Float64Array,
  matrix: Float64Array,
  eigen: { values: Float64Array; vectors: Float64Array },
  radius: number,
): number {
  const d = e.length;
  const b = matTVec(matrix, d, d, e);
  const bn = norm2(b);
  if (bn === 0 || radius === 0) return 0;
  const bt = matTVec(eigen.vectors, d, d, b); // Uᵀb (U's columns are the eigenvectors)
  const lam = Float64Array.from(eigen.values, (v) => Math.max(0, v));
  const sqNorm = (l: number) => {
    let s = 0;
    for (let i = 0; i < d; i++) {
      const den = 2 * (lam[i] + l);
      if (den > 0) s += (bt[i] / den) ** 2;
      else if (bt[i] !== 0) return Infinity;
    }
    return s;
  };
  let l = 0;
  if (!(sqNorm(0) <= radius * radius)) {
    let lo = 0, hi = bn / (2 * radius);
    for (let it = 0; it < 200 && hi - lo > 1e-16 * hi; it++) {
      const mid = 0.5 * (lo + hi);
      if (sqNorm(mid) > radius * radius) lo = mid;
      else hi = mid;
    }
    l = hi; // feasible side
  }
  let value = 0;
  for (let i = 0; i < d; i++) {
    const den = 2 * (lam[i] + l);
    if (den <= 0) continue;
    const w = bt[i] / den;
    value += bt[i] * w - lam[i] * w * w;
  }
  return Math.max(0, value);
}

function diff(z: Vec, s: Float64Array): Float64Array {
  return Float64Array.from(s, (v, i) => z[i] - v);
}

// ---------------------------------------------------------------------------
// the games

/**
 * The bilinear game min_x max_y xᵀAy + bᵀx + cᵀy, z = (x, y) ∈ ℝⁿ × ℝⁿ:
 * F(z) = (Ay + b, −Aᵀx − c) = Mz + q with M = [[0, A], [−Aᵀ, 0]] skew. A = U·diag(s)·Vᵀ
 * (U, V random orthogonal, s uniform in [0.5, 2], so L = ‖A‖₂ ≤ 2, κ ≤ 4), b, c standard
 * normal; z* solves Ay* = −b, Aᵀx* = −c. Monotone but not strongly: plain gradient
 * descent–ascent spirals out, extragradient/optimistic methods converge.
 *
 * **Gap (closed form).** With w = z' − z*, e = z − z* and F(z*) = 0,
 * ⟨F(z'), z − z'⟩ = ⟨Mw, e − w⟩ = ⟨w, Mᵀe⟩ − ⟨w, Mw⟩ = ⟨w, Mᵀe⟩, since ⟨w, Mw⟩ = 0 for
 * skew M. By Cauchy–Schwarz this is ≤ ‖w‖·‖Mᵀe‖ ≤ D‖Mᵀe‖, with equality at
 * w = D·Mᵀe/‖Mᵀe‖; and Mᵀe = −Me = −F(z). Hence
 * Gap_D(z) = D·‖F(z)‖, attained at z' = z* − D·F(z)/‖F(z)‖.
 *
 * @param options `dim` (even, default 20) and `seed`.
 * @returns The game, an {@linkcode AffineGame} with `mu` = 0.
 *
 * @example The gap is D·‖F(z)‖ and vanishes at z*
 * ```ts
 * import { bilinearGame } from "./games.ts";
 * import { Rng } from "../runtime/rng.ts";
 * const g = bilinearGame({ dim: 4, seed: 3 });
 * if (g.gap(g.solution, 5) > 1e-12) throw new Error();
 * const z = g.initial(new Rng(0));
 * const f = new Float64Array(4);
 * g.operator(z, f);
 * if (Math.abs(g.gap(z, 2) - 2 * Math.hypot(...f)) > 1e-9) throw new Error();
 * ```
 */
export function bilinearGame(options?: GameOptions): AffineGame {
  const { dim = 20, seed = 0 } = options ?? {};
  const n = halfDim("bilinearGame()", dim);
  const rng = new Rng(seed);
  const a = conditionedMatrix(n, rng);
  const b = gaussian(n, rng), c = gaussian(n, rng);
  // Ay* = −b, Aᵀx* = −c.
  const at = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) at[j * n + i] = a[i * n + j];
  const ys = solve(a, b.map((v) => -v), n);
  const xs = solve(at, c.map((v) => -v), n);
  const solution = new Float64Array(dim);
  solution.set(xs, 0);
  solution.set(ys, n);
  const offset = new Float64Array(dim);
  offset.set(b, 0);
  offset.set(c.map((v) => -v), n);
  const tmp = new Float64Array(n);
  const f = new Float64Array(dim);
  const game: AffineGame = {
    name: "bilinear",
    dim,
    matrix: saddleMatrix(a, n, 0),
    offset,
    mu: 0,
    solution,
    operator(z: Vec, out: Float64Array): void {
      checkLength("bilinear operator() z", z, dim);
      checkLength("bilinear operator() out", out, dim);
      matVec(a, n, n, z.subarray(n), tmp);
      for (let i = 0; i < n; i++) out[i] = tmp[i] + b[i];
      matTVec(a, n, n, z.subarray(0, n), tmp);
      for (let i = 0; i < n; i++) out[n + i] = -tmp[i] - c[i];
    },
    initial: (r: Rng) => ballStart(solution, r),
    gap(z: Vec, radius: number): number {
      checkRadius(radius);
      game.operator(z, f);
      return radius * norm2(f);
    },
  };
  return game;
}

/**
 * The regularised bilinear game f(x, y) = (μ/2)‖x‖² + xᵀAy − (μ/2)‖y‖² + bᵀx + cᵀy,
 * min over x, max over y: F(z) = (μx + Ay + b, μy − Aᵀx − c) = Mz + q with
 * M = μI + K, K = [[0, A], [−Aᵀ, 0]] skew, so F is μ-strongly monotone. A, b, c as in
 * {@linkcode bilinearGame}; z* = −M⁻¹q by Gaussian elimination with partial pivoting.
 *
 * **Gap (closed form).** As for the bilinear game, ⟨F(z'), z − z'⟩ = ⟨w, Mᵀe⟩ − μ‖w‖².
 * For ‖w‖ = r the best direction gives r‖Mᵀe‖ − μr², and
 * ‖Mᵀe‖² = ‖μe − Ke‖² = μ²‖e‖² + ‖Ke‖² = ‖Me‖² = ‖F(z)‖² (the cross term ⟨e, Ke⟩
 * vanishes). With s = ‖F(z)‖, maximising r·s − μr² over 0 ≤ r ≤ D:
 * Gap_D(z) = s²/(4μ) if s ≤ 2μD, else D·s − μD²; the maximiser is
 * z' = z* + r*·(2μe − F(z))/s with r* = min(D, s/(2μ)) (since Mᵀe = 2μe − Me).
 *
 * @param options `dim` (even, default 20), `seed`, and `mu` (default 0.5).
 * @returns The game, an {@linkcode AffineGame} with `mu` = μ.
 *
 * @example F(z*) = 0 and strong monotonicity
 * ```ts
 * import { quadraticGame } from "./games.ts";
 * const g = quadraticGame({ dim: 6, mu: 0.25 });
 * const f = new Float64Array(6);
 * g.operator(g.solution, f);
 * if (Math.hypot(...f) > 1e-9) throw new Error();
 * if (g.mu !== 0.25) throw new Error();
 * ```
 */
export function quadraticGame(options?: QuadraticGameOptions): AffineGame {
  const { dim = 20, seed = 0, mu = 0.5 } = options ?? {};
  const n = halfDim("quadraticGame()", dim);
  if (!(mu > 0) || !Number.isFinite(mu)) {
    throw new RangeError(`quadraticGame(): mu must be finite and > 0, got ${mu}`);
  }
  const rng = new Rng(seed);
  const a = conditionedMatrix(n, rng);
  const b = gaussian(n, rng), c = gaussian(n, rng);
  const matrix = saddleMatrix(a, n, mu);
  const offset = new Float64Array(dim);
  offset.set(b, 0);
  offset.set(c.map((v) => -v), n);
  const solution = solve(matrix, offset.map((v) => -v), dim);
  const tmp = new Float64Array(n);
  const f = new Float64Array(dim);
  const game: AffineGame = {
    name: "quadratic",
    dim,
    matrix,
    offset,
    mu,
    solution,
    operator(z: Vec, out: Float64Array): void {
      checkLength("quadratic operator() z", z, dim);
      checkLength("quadratic operator() out", out, dim);
      matVec(a, n, n, z.subarray(n), tmp);
      for (let i = 0; i < n; i++) out[i] = mu * z[i] + tmp[i] + b[i];
      matTVec(a, n, n, z.subarray(0, n), tmp);
      for (let i = 0; i < n; i++) out[n + i] = mu * z[n + i] - tmp[i] - c[i];
    },
    initial: (r: Rng) => ballStart(solution, r),
    gap(z: Vec, radius: number): number {
      checkRadius(radius);
      game.operator(z, f);
      const s = norm2(f);
      return s <= 2 * mu * radius ? (s * s) / (4 * mu) : radius * s - mu * radius * radius;
    },
  };
  return game;
}

/**
 * A monotone, not strongly monotone, not skew linear VI: F(z) = Mz + q with
 * M = [[S₁, A], [−Aᵀ, S₂]], S_k = B_k·B_kᵀ/n for Gaussian n×⌈n/2⌉ matrices B_k (symmetric
 * PSD of rank ⌈n/2⌉ < n), A as in {@linkcode bilinearGame}, q standard normal. Then
 * M + Mᵀ = 2·diag(S₁, S₂) ⪰ 0 is singular, and M is invertible (Mz = 0 forces
 * zᵀMz = xᵀS₁x + yᵀS₂y = 0, so S₁x = S₂y = 0, so Ay = 0 and Aᵀx = 0); z* = −M⁻¹q.
 *
 * **Gap (exact).** ⟨F(z'), z − z'⟩ = ⟨w, Mᵀe⟩ − wᵀSw with S = diag(S₁, S₂), a concave
 * quadratic maximised over ‖w‖ ≤ D: the trust-region subproblem, solved through the
 * eigendecomposition of S (computed once) and a bisection on the multiplier, to
 * float64 accuracy.
 *
 * @param options `dim` (even, default 20) and `seed`.
 * @returns The game, an {@linkcode AffineGame} with `mu` = λ_min(S) (≈ 0).
 *
 * @example
 * ```ts
 * import { linearVI } from "./games.ts";
 * const g = linearVI({ dim: 8, seed: 2 });
 * const f = new Float64Array(8);
 * g.operator(g.solution, f);
 * if (Math.hypot(...f) > 1e-9 || g.gap(g.solution, 1) !== 0) throw new Error();
 * ```
 */
export function linearVI(options?: GameOptions): AffineGame {
  const { dim = 20, seed = 0 } = options ?? {};
  const n = halfDim("linearVI()", dim);
  const rng = new Rng(seed);
  const a = conditionedMatrix(n, rng);
  const r = Math.ceil(n / 2);
  const psd = () => {
    const bm = gaussian(n * r, rng, 1 / Math.sqrt(n));
    const bt = new Float64Array(r * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < r; j++) bt[j * n + i] = bm[i * r + j];
    return matMul(bm, bt, n, r, n);
  };
  const s1 = psd(), s2 = psd();
  const matrix = saddleMatrix(a, n, 0);
  const sym = new Float64Array(dim * dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      matrix[i * dim + j] = s1[i * n + j];
      matrix[(n + i) * dim + n + j] = s2[i * n + j];
      sym[i * dim + j] = s1[i * n + j];
      sym[(n + i) * dim + n + j] = s2[i * n + j];
    }
  }
  const offset = gaussian(dim, rng);
  const solution = solve(matrix, offset.map((v) => -v), dim);
  const eigen = symmetricEigen(sym, dim);
  const mu = Math.max(0, Math.min(...eigen.values));
  const game: AffineGame = {
    name: "linear",
    dim,
    matrix,
    offset,
    mu,
    solution,
    operator(z: Vec, out: Float64Array): void {
      checkLength("linear operator() z", z, dim);
      checkLength("linear operator() out", out, dim);
      matVec(matrix, dim, dim, z, out);
      for (let i = 0; i < dim; i++) out[i] += offset[i];
    },
    initial: (r: Rng) => ballStart(solution, r),
    gap(z: Vec, radius: number): number {
      checkRadius(radius);
      checkLength("linear gap() z", z, dim);
      return affineGap(diff(z, solution), matrix, eigen, radius);
    },
  };
  return game;
}

/**
 * The Kelly auction: n players bid x_i ≥ 0 for a quantity Q of a resource with
 * reserve bid Z; player i gets Q·x_i/(Z + Σ_j x_j), worth g_i per unit, and pays x_i.
 * The operator is the negated payoff gradient
 * V_i(x) = 1 − g_i·Q·(Z + Σ_{j≠i} x_j)/(Z + Σ_j x_j)², on the orthant (`project` clamps).
 *
 * **Equilibrium.** At an interior equilibrium V(x*) = 0, i.e. with S = Z + Σ_j x_j,
 * x_i = S − S²/(g_i·Q). Summing over i gives h·S² − (n − 1)·S − Z = 0 with
 * h = Σ_i 1/(g_i·Q), so S = ((n − 1) + √((n − 1)² + 4hZ))/(2h) (no cancellation). This
 * closed form is then polished by Newton's method on V(x) = 0 (analytic Jacobian) until
 * ‖V‖ stops decreasing. A RangeError is thrown if the equilibrium is not interior
 * (some x_i ≤ 0). Instances: g = (2, 3), Q = 1, Z = 1 → x* ≈ (0.1396, 0.7094);
 * g = (1.8, 2.0, 2.2, 2.4), Q = 1000, Z = 100 → x* ≈ (185.76, 326.15, 441.015, 536.735).
 *
 * **Monotonicity.** V is monotone near the equilibrium (the symmetric part of its
 * Jacobian is positive definite on [0, 10·max x*]ⁿ for the 2-player instance, checked
 * numerically), but *not* on the whole orthant: for g = (2, 3), Q = Z = 1 it is
 * indefinite at x = (100, 0). The solver-relevant Minty condition
 * ⟨V(x), x − x*⟩ ≥ 0 is what the tests check over the orthant.
 *
 * **Gap (lower estimate).** No closed form; `gap(z, D)` returns the maximum of
 * ⟨V(z'), z − z'⟩ over a fixed probe set in {z' ≥ 0, ‖z' − z*‖ ≤ D}: z' = z* and
 * z' = clamp₊(z* + ρ·u) for ρ ∈ {D/2, D} and u ∈ {±e_i} ∪ 16 seeded random unit
 * directions (clamping towards the interior point z* stays in the ball), and
 * z' = clamp₊(z* + τ·(z̃ − z*)) for τ ∈ {1/4, 1/2, 3/4, 1}, z̃ being z projected onto the
 * ball (τ = 1 contributes 0 when z is feasible and in the ball; τ < 1 makes the estimate
 * > 0 for z ≠ z* under strict Minty). So the estimate is ≥ 0 there, 0 at z* (Minty),
 * and never exceeds the true restricted gap over {z' ≥ 0, ‖z' − z*‖ ≤ D}.
 *
 * @param options `dim` (players; default 2, or the length of `gains`), `seed` (used for
 * generated gains and the probe directions), `gains`, `quantity`, `reserve`.
 * @returns The game.
 *
 * @example The 2-player equilibrium
 * ```ts
 * import { kellyAuction } from "./games.ts";
 * const g = kellyAuction();
 * const [a, b] = g.solution;
 * if (Math.abs(a - 0.1396) > 1e-4 || Math.abs(b - 0.7094) > 1e-4) throw new Error();
 * ```
 */
export function kellyAuction(options?: KellyOptions): KellyGame {
  const { seed = 0 } = options ?? {};
  const rng = new Rng(seed);
  const dim = options?.dim ?? options?.gains?.length ?? 2;
  if (!Number.isInteger(dim) || dim < 1) {
    throw new RangeError(`kellyAuction(): dim must be an integer ≥ 1, got ${dim}`);
  }
  let gains: Float64Array;
  if (options?.gains) {
    if (options.gains.length !== dim) {
      throw new RangeError(
        `kellyAuction(): ${options.gains.length} gains given for dim ${dim}`,
      );
    }
    gains = Float64Array.from(options.gains);
  } else if (dim === 2) gains = Float64Array.of(2, 3);
  else if (dim === 4) gains = Float64Array.of(1.8, 2.0, 2.2, 2.4);
  else gains = Float64Array.from({ length: dim }, () => 2 * (1 + rng.nextFloat() / (2 * dim)));
  const twoPlayer = !options?.gains && dim === 2;
  const quantity = options?.quantity ?? (twoPlayer ? 1 : 1000);
  const reserve = options?.reserve ?? (twoPlayer ? 1 : 100);
  for (const [k, v] of [["gains", Math.min(...gains)], ["quantity", quantity]] as const) {
    if (!(v > 0) || !Number.isFinite(v)) {
      throw new RangeError(`kellyAuction(): ${k} must be finite and > 0, got ${v}`);
    }
  }
  if (!(reserve > 0) || !Number.isFinite(reserve)) {
    throw new RangeError(`kellyAuction(): reserve must be finite and > 0, got ${reserve}`);
  }

  const op = (z: ArrayLike<number>, out: Float64Array) => {
    let s = reserve;
    for (let i = 0; i < dim; i++) s += z[i];
    const s2 = s * s;
    for (let i = 0; i < dim; i++) out[i] = 1 - (gains[i] * quantity * (s - z[i])) / s2;
  };

  // Closed-form interior equilibrium, then Newton polish.
  let h = 0;
  for (const g of gains) h += 1 / (g * quantity);
  const total = ((dim - 1) + Math.sqrt((dim - 1) ** 2 + 4 * h * reserve)) / (2 * h);
  const solution = Float64Array.from(gains, (g) => total - (total * total) / (g * quantity));
  if (solution.some((v) => !(v > 0))) {
    throw new RangeError(
      `kellyAuction(): the equilibrium is not interior (x* = ${Array.from(solution).join(", ")})`,
    );
  }
  {
    const v = new Float64Array(dim);
    const jac = new Float64Array(dim * dim);
    op(solution, v);
    let res = norm2(v);
    for (let it = 0; it < 8 && res > 0; it++) {
      let s = reserve;
      for (let i = 0; i < dim; i++) s += solution[i];
      const s3 = s * s * s;
      for (let i = 0; i < dim; i++) {
        for (let j = 0; j < dim; j++) {
          jac[i * dim + j] = i === j
            ? (2 * gains[i] * quantity * (s - solution[i])) / s3
            : (gains[i] * quantity * (s - 2 * solution[i])) / s3;
        }
      }
      const step = solve(jac, v, dim);
      const next = Float64Array.from(solution, (x, i) => x - step[i]);
      op(next, v);
      const r = norm2(v);
      if (!(r < res)) break;
      solution.set(next);
      res = r;
    }
  }

  // Probe directions of the gap estimate: ±e_i and 16 seeded random unit vectors.
  const dirs: Float64Array[] = [];
  for (let i = 0; i < dim; i++) {
    for (const sgn of [1, -1]) {
      const u = new Float64Array(dim);
      u[i] = sgn;
      dirs.push(u);
    }
  }
  const probeRng = rng.fork();
  for (let k = 0; k < 16; k++) {
    const u = gaussian(dim, probeRng);
    const nu = norm2(u);
    dirs.push(u.map((x) => x / nu));
  }
  const scale = Math.max(...solution);
  const f = new Float64Array(dim);
  const zp = new Float64Array(dim);
  const value = (z: Vec) => {
    op(zp, f);
    let s = 0;
    for (let i = 0; i < dim; i++) s += f[i] * (z[i] - zp[i]);
    return s;
  };

  return {
    name: "kelly",
    dim,
    gains,
    quantity,
    reserve,
    solution,
    operator(z: Vec, out: Float64Array): void {
      checkLength("kelly operator() z", z, dim);
      checkLength("kelly operator() out", out, dim);
      op(z, out);
    },
    initial(r: Rng): Float32Array {
      // Uniform in [0, 3·max x*]ⁿ: feasible, and inside the region where V is monotone.
      return Float32Array.from({ length: dim }, () => 3 * scale * r.nextFloat());
    },
    project(z: Float32Array): void {
      for (let i = 0; i < z.length; i++) if (z[i] <= 0) z[i] = 0; // also turns −0 into 0
    },
    gap(z: Vec, radius: number): number {
      checkRadius(radius);
      checkLength("kelly gap() z", z, dim);
      zp.set(solution);
      let best = value(z); // z' = z*
      for (const rho of [radius, radius / 2]) {
        for (const u of dirs) {
          for (let i = 0; i < dim; i++) zp[i] = Math.max(0, solution[i] + rho * u[i]);
          best = Math.max(best, value(z));
        }
      }
      // z projected onto the ball around z*, and points on the segment from z* to it (then
      // clamped to the orthant): for z in the ball, z' = z* + τ(z − z*) gives
      // (1 − τ)/τ·⟨V(z'), z' − z*⟩ > 0 under strict Minty, so the estimate is > 0 for z ≠ z*.
      let d = 0;
      for (let i = 0; i < dim; i++) d += (z[i] - solution[i]) ** 2;
      const t = d > radius * radius ? radius / Math.sqrt(d) : 1;
      for (const tau of [0.25, 0.5, 0.75, 1]) {
        for (let i = 0; i < dim; i++) {
          zp[i] = Math.max(0, solution[i] + tau * t * (z[i] - solution[i]));
        }
        best = Math.max(best, value(z));
      }
      return best;
    },
  };
}

// ---------------------------------------------------------------------------
// stochastic oracles and the registry

/** Options of {@linkcode noisyOracle}. */
export interface NoisyOracleOptions {
  /** σ_abs, the standard deviation of the additive noise. @default {0} */
  sigmaAbs?: number;
  /** σ_rel, the standard deviation of the noise relative to ‖F(z)‖. @default {0} */
  sigmaRel?: number;
  /** This worker's own noise stream (give each worker its own `fork()`). */
  rng: Rng;
}

/**
 * A stochastic oracle for one worker, the LIONS `NoiseProfile` model:
 * writes F(z) + σ_abs·ξ + σ_rel·‖F(z)‖·ξ' into `out` (float32), with ξ, ξ' independent
 * standard normal vectors from `rng`. Each coordinate is unbiased with variance
 * σ_abs² + σ_rel²·‖F(z)‖². F is computed in float64; no normals are drawn for a zero σ.
 *
 * @param game The game.
 * @param options σ_abs, σ_rel (both ≥ 0) and the worker's rng.
 * @returns `(z, out) => void`, matching the optimisers' `Oracle`.
 *
 * @example Two workers, each with its own noise stream
 * ```ts
 * import { bilinearGame, noisyOracle } from "./games.ts";
 * import { Rng } from "../runtime/rng.ts";
 * const game = bilinearGame({ dim: 4 });
 * const root = new Rng(0);
 * const workers = [0, 1].map(() => noisyOracle(game, { sigmaRel: 0.1, rng: root.fork() }));
 * const z = new Float32Array(4).fill(1), a = new Float32Array(4), b = new Float32Array(4);
 * workers[0](z, a);
 * workers[1](z, b);
 * if (a[0] === b[0]) throw new Error("the workers' noise should differ");
 * ```
 */
export function noisyOracle(
  game: Game,
  options: NoisyOracleOptions,
): (z: Float32Array, out: Float32Array) => void {
  const { sigmaAbs = 0, sigmaRel = 0, rng } = options;
  for (const [k, v] of [["sigmaAbs", sigmaAbs], ["sigmaRel", sigmaRel]] as const) {
    if (!(v >= 0) || !Number.isFinite(v)) {
      throw new RangeError(`noisyOracle(): ${k} must be finite and ≥ 0, got ${v}`);
    }
  }
  const f = new Float64Array(game.dim);
  return (z: Float32Array, out: Float32Array) => {
    checkLength(`${game.name} oracle out`, out, game.dim);
    game.operator(z, f);
    const rel = sigmaRel > 0 ? sigmaRel * norm2(f) : 0;
    for (let i = 0; i < f.length; i++) {
      let v = f[i];
      if (sigmaAbs > 0) v += sigmaAbs * rng.normal();
      if (sigmaRel > 0) v += rel * rng.normal();
      out[i] = v;
    }
  };
}

/**
 * Builds a game by name.
 *
 * @param name One of {@linkcode GAME_NAMES}: "bilinear", "quadratic", "linear", "kelly".
 * @param options `dim` and `seed` (see {@linkcode GameOptions}).
 * @returns The game.
 * @throws {UnknownNameError} For any other name; the message lists the valid ones.
 *
 * @example
 * ```ts
 * import { createGame } from "./games.ts";
 * const g = createGame("kelly");
 * if (g.dim !== 2 || !g.project) throw new Error();
 * try {
 *   createGame("chess");
 *   throw new Error("unreachable");
 * } catch (e) {
 *   if (!String(e).includes("valid: bilinear, quadratic, linear, kelly")) throw e;
 * }
 * ```
 */
export function createGame(
  name: GameName | (string & Record<never, never>),
  options?: GameOptions,
): Game {
  switch (name) {
    case "bilinear":
      return bilinearGame(options);
    case "quadratic":
      return quadraticGame(options);
    case "linear":
      return linearVI(options);
    case "kelly":
      return kellyAuction(options);
    default:
      throw new UnknownNameError("game", name, GAME_NAMES);
  }
}
