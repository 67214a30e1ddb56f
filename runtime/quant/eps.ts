/**
 * Measured quantization error per layer type: ε_Q = Σ‖Q(v) − v‖² / Σ‖v‖²
 * over the tensors quantized so far, the empirical counterpart of the
 * variance bound E‖Q(v) − v‖² ≤ ε_Q‖v‖².
 *
 * @module
 */
import type { QuantizeStats } from "./types.ts";

/** One layer type's accumulated error. */
export interface EpsEntry {
  /** Σ‖Q(v) − v‖². */
  sqError: number;
  /** Σ‖v‖². */
  sqNorm: number;
  /** Number of tensors recorded. */
  count: number;
  /** sqError / sqNorm (0 when sqNorm is 0). */
  eps: number;
}

/**
 * Accumulates ε_Q per layer type.
 *
 * @example
 * ```ts
 * import { EpsTracker } from "@qoda/ring/quant";
 * const t = new EpsTracker();
 * t.record("dense", { sqError: 1, sqNorm: 4 });
 * if (t.get("dense").eps !== 0.25) throw new Error();
 * ```
 */
export class EpsTracker {
  readonly #byType = new Map<string, { sqError: number; sqNorm: number; count: number }>();

  /** Adds one quantization's statistics under `type`. */
  record(type: string, stats: QuantizeStats): void {
    let e = this.#byType.get(type);
    if (!e) this.#byType.set(type, e = { sqError: 0, sqNorm: 0, count: 0 });
    e.sqError += stats.sqError;
    e.sqNorm += stats.sqNorm;
    e.count++;
  }

  /** The entry of one type (zeros when never recorded). */
  get(type: string): EpsEntry {
    const e = this.#byType.get(type) ?? { sqError: 0, sqNorm: 0, count: 0 };
    return { ...e, eps: e.sqNorm > 0 ? e.sqError / e.sqNorm : 0 };
  }

  /** Every type's entry. */
  snapshot(): Record<string, EpsEntry> {
    const out: Record<string, EpsEntry> = {};
    for (const t of this.#byType.keys()) out[t] = this.get(t);
    return out;
  }

  /** Forgets everything (e.g. at the start of a reporting window). */
  reset(): void {
    this.#byType.clear();
  }
}
