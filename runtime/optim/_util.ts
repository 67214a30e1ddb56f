// Checks and vector helpers shared by the optimisers. Internal: not re-exported.
import { QodaError } from "../errors.ts";
import type { NonFinitePolicy, StepInfo } from "./types.ts";

/** The report of a skipped (non-finite) step that issued `collectives` collectives. */
export function nonFiniteInfo(t: number, gamma: number, collectives: number): StepInfo {
  return { t, gamma, eta: NaN, sqDiff: NaN, sqNorm: NaN, collectives, nonFinite: true };
}

/** Throws `RangeError` unless `x` is a finite number > 0 (≥ 0 with `allowZero`). */
export function checkPositive(what: string, x: number, allowZero = false): void {
  if (typeof x !== "number" || !Number.isFinite(x) || x < 0 || (!allowZero && x === 0)) {
    throw new RangeError(`${what} must be a finite number ${allowZero ? "≥" : ">"} 0, got ${x}`);
  }
}

/** Throws `RangeError` unless 0 ≤ x < 1. */
export function checkUnit(what: string, x: number): void {
  if (typeof x !== "number" || !(x >= 0 && x < 1)) {
    throw new RangeError(`${what} must be in [0, 1), got ${x}`);
  }
}

/** Throws `TypeError` unless `x` is a Float32Array with no NaN/±Infinity. */
export function checkParams(what: string, x: Float32Array): void {
  if (!(x instanceof Float32Array)) {
    throw new TypeError(`${what} must be a Float32Array, got ${Object.prototype.toString.call(x)}`);
  }
  const i = firstNonFinite(x);
  if (i >= 0) throw new TypeError(`${what} has non-finite value ${x[i]} at index ${i}`);
}

/** Throws `TypeError` unless `a` is an array of constructor `ctor` with length `n`. */
export function checkArray(
  what: string,
  a: unknown,
  ctor: Float32ArrayConstructor | Float64ArrayConstructor,
  n: number,
): void {
  if (!(a instanceof ctor)) throw new TypeError(`${what} must be a ${ctor.name}`);
  if (a.length !== n) throw new TypeError(`${what} has length ${a.length}, expected ${n}`);
}

/** Throws `RangeError` unless `p` is a {@linkcode NonFinitePolicy}. */
export function checkPolicy(p: NonFinitePolicy): void {
  if (p !== "skip" && p !== "throw") {
    throw new RangeError(`onNonFinite must be "skip" or "throw", got ${p}`);
  }
}

/** Throws `TypeError` unless `n` is a non-negative integer. */
export function checkCount(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) {
    throw new TypeError(`${what} must be a non-negative integer, got ${n}`);
  }
}

/** Index of the first NaN/±Infinity in `v`, or −1. */
export function firstNonFinite(v: Float32Array): number {
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x - x !== 0) return i;
  }
  return -1;
}

/** ‖v‖² in float64 (NaN/Infinity when v is not finite or overflows). */
export function sqNorm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return s;
}

/** ‖a − b‖² in float64. */
export function sqDist(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return s;
}

/** Guards against overlapping `step()` calls on one replica. */
export class StepGuard {
  #busy = false;
  constructor(readonly name: string) {}
  /** Marks a step as running; throws if one already is. */
  enter(): void {
    if (this.#busy) {
      throw new QodaError(`${this.name}: step() called while a previous step is still running`);
    }
    this.#busy = true;
  }
  /** Marks the step as finished. */
  leave(): void {
    this.#busy = false;
  }
  /** Throws if a step is running (for skipStep()). */
  check(op: string): void {
    if (this.#busy) throw new QodaError(`${this.name}: ${op} called while a step is running`);
  }
}
