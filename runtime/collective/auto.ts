/**
 * The `auto` collective: which way of reducing a training run's vectors is
 * fastest here is measured, not guessed. The run's first collectives try
 * each candidate in turn (float32 first: compression must earn its place),
 * every rank keeps its fastest time of each, one tiny float32 all-reduce
 * sums those over the ranks, and every rank takes the same candidate for the
 * rest of the run: the fastest, where it beats float32 (the first candidate)
 * by more than 10% and by more than 0.5 ms per call ({@linkcode AutoRule}),
 * else float32. Compression adds variance, so it must pay by more than the
 * timing noise; the rule, and taking each rank's fastest round (a pause for
 * garbage collection lengthens one round, never shortens one), keep the
 * choice from flipping between runs where the candidates are close, as they
 * are for small vectors on one host. Each trial starts from a barrier, so
 * that it times the collective and not the wait for a rank still computing.
 * The schedule depends only on the call count, so every rank runs the same
 * mode at every call.
 *
 * The trials are real collectives of the run (their results are used), so
 * they cost nothing but the slower candidates' extra time. The first round
 * warms up (compilation, buffers) and is not counted.
 *
 * @example Three candidates, two counted rounds, then the decision
 * ```ts
 * import { CollectiveTrials } from "@qoda/ring/collective";
 * const trials = new CollectiveTrials(["fp32", "integer", "allgather"], 2);
 * const ms = { fp32: 40, integer: 10, allgather: 20 };
 * let call = 0;
 * while (!trials.agreeAfter(call - 1)) {
 *   const mode = trials.modeFor(call);
 *   trials.record(call, ms[mode as keyof typeof ms]);
 *   call++;
 * }
 * // Every rank all-reduces trials.localTimes() (a sum); here one rank:
 * const choice = trials.decide(trials.localTimes(), 1);
 * if (choice !== "integer" || trials.modeFor(call) !== "integer") throw new Error(choice);
 * ```
 *
 * {@linkcode allreduceAuto} runs one call of such a run: the training
 * workers and the benchmark's ranks share it.
 *
 * @module
 */
import {
  allreduce,
  type AllreduceOptions,
  type AllreduceStats,
  type CompressionOptions,
} from "./allreduce.ts";
import type { RingContext } from "./context.ts";

/** A way to reduce: float32, or one of the compression modes. */
export type CollectiveCandidate = "fp32" | "ring" | "allgather" | "integer";

/** What `auto` tries when not told otherwise, in this order. */
export const AUTO_CANDIDATES: readonly CollectiveCandidate[] = ["fp32", "integer", "allgather"];

/** A {@linkcode CollectiveTrials}' state: plain data, for a commit. */
export interface CollectiveTrialsState {
  /** The candidates, in trial order. */
  candidates: CollectiveCandidate[];
  /** Counted rounds per candidate. */
  rounds: number;
  /** This rank's fastest counted time per candidate so far, ms (0: none yet). */
  times: number[];
  /** The agreed choice, or null during the trials. */
  decided: CollectiveCandidate | null;
  /** The rule the choice follows (absent: {@linkcode AUTO_RULE}). */
  rule?: AutoRule;
}

/** By how much another candidate must beat the first (float32) to be chosen. */
export interface AutoRule {
  /** A fraction of the first candidate's time, in [0, 1). */
  margin: number;
  /** Milliseconds per call, averaged over the ranks (≥ 0). */
  minSavingMs: number;
}

/** The default rule: 10% and 0.5 ms per call. */
export const AUTO_RULE: Readonly<AutoRule> = { margin: 0.1, minSavingMs: 0.5 };

/**
 * The trial schedule and decision of the `auto` collective: a pure state
 * machine over call counts and measured times (see the module doc).
 */
export class CollectiveTrials {
  /** The candidates, in trial order (ties go to the earlier one). */
  readonly candidates: readonly CollectiveCandidate[];
  /** Counted rounds (one warm-up round comes first). */
  readonly rounds: number;
  /** By how much another candidate must beat the first to be chosen. */
  readonly rule: Readonly<AutoRule>;
  readonly #times: Float32Array;
  #decided: CollectiveCandidate | null = null;

  /**
   * Creates the schedule.
   *
   * @param candidates What to try, in order; at least one, no repeats.
   * @param rounds Counted rounds per candidate (≥ 1).
   * @param rule By how much another candidate must beat the first to be chosen.
   */
  constructor(
    candidates: readonly CollectiveCandidate[] = AUTO_CANDIDATES,
    rounds = 2,
    rule: Partial<AutoRule> = {},
  ) {
    if (candidates.length < 1 || new Set(candidates).size !== candidates.length) {
      throw new RangeError(`auto needs distinct candidates, got [${candidates.join(", ")}]`);
    }
    if (!Number.isInteger(rounds) || rounds < 1) {
      throw new RangeError(`auto needs at least one counted round, got ${rounds}`);
    }
    const { margin, minSavingMs } = { ...AUTO_RULE, ...rule };
    if (!(margin >= 0 && margin < 1)) {
      throw new RangeError(`auto's margin must be in [0, 1), got ${margin}`);
    }
    if (!(minSavingMs >= 0 && minSavingMs < Infinity)) {
      throw new RangeError(`auto's minimum saving must be ≥ 0 ms, got ${minSavingMs}`);
    }
    this.candidates = candidates;
    this.rounds = rounds;
    this.rule = { margin, minSavingMs };
    this.#times = new Float32Array(candidates.length);
  }

  /** Calls spent on trials: one warm-up round and the counted ones. */
  get trialCalls(): number {
    return this.candidates.length * (this.rounds + 1);
  }

  /** The candidate every rank agreed on, or null during the trials. */
  get decided(): CollectiveCandidate | null {
    return this.#decided;
  }

  /**
   * The mode of call `call` (0-based): the trial schedule, then the decision.
   *
   * @throws {Error} for a call past the trials before {@linkcode CollectiveTrials.decide}.
   */
  modeFor(call: number): CollectiveCandidate {
    if (call < this.trialCalls) return this.candidates[call % this.candidates.length];
    if (this.#decided === null) {
      throw new Error(`collective call ${call}: the auto trials ended without a decision`);
    }
    return this.#decided;
  }

  /**
   * Records the local wall time of trial call `call`, keeping each candidate's fastest counted
   * round (warm-up and later calls are ignored).
   */
  record(call: number, ms: number): void {
    const C = this.candidates.length;
    if (call < C || call >= this.trialCalls) return;
    if (!(ms >= 0 && ms < Infinity)) throw new RangeError(`call ${call} took ${ms} ms`);
    const i = call % C;
    this.#times[i] = call < 2 * C ? ms : Math.min(this.#times[i], ms);
  }

  /** True when call `call` was the last trial: the ranks agree before the next one. */
  agreeAfter(call: number): boolean {
    return call === this.trialCalls - 1;
  }

  /** This rank's fastest counted time per candidate, to be summed over the ranks. */
  localTimes(): Float32Array {
    return this.#times.slice();
  }

  /**
   * Takes the candidate with the least time summed over the ranks (the
   * earlier on a tie) where it beats the first candidate's time as
   * {@linkcode CollectiveTrials.rule} asks, else the first, and keeps it for
   * the rest of the run.
   *
   * @param summed The all-reduced sum of every rank's {@linkcode CollectiveTrials.localTimes}.
   * @param ranks How many ranks contributed to the sum.
   * @returns The choice.
   */
  decide(summed: Float32Array, ranks: number): CollectiveCandidate {
    if (summed.length !== this.candidates.length) {
      throw new RangeError(`${summed.length} times for ${this.candidates.length} candidates`);
    }
    let best = 0;
    for (let i = 1; i < summed.length; i++) if (summed[i] < summed[best]) best = i;
    const saving = summed[0] - summed[best];
    const { margin, minSavingMs } = this.rule;
    if (!(saving > margin * summed[0] && saving > minSavingMs * ranks)) best = 0;
    this.#decided = this.candidates[best];
    return this.#decided;
  }

  /** A copy of the state (a resumed run keeps the choice instead of trying again). */
  state(): CollectiveTrialsState {
    return {
      candidates: [...this.candidates],
      rounds: this.rounds,
      times: Array.from(this.#times),
      decided: this.#decided,
      rule: { ...this.rule },
    };
  }

  /**
   * The trials a {@linkcode CollectiveTrials.state} snapshot describes.
   * @throws {RangeError} On a malformed snapshot (a choice not among the
   *   candidates, times of another length).
   */
  static restore(s: CollectiveTrialsState): CollectiveTrials {
    const t = new CollectiveTrials(s.candidates, s.rounds, s.rule ?? AUTO_RULE);
    if (!Array.isArray(s.times) || s.times.length !== s.candidates.length) {
      throw new RangeError(
        `auto state: ${s.times?.length} times for ${s.candidates.length} candidates`,
      );
    }
    if (s.decided !== null && !s.candidates.includes(s.decided)) {
      throw new RangeError(`auto state: the choice ${s.decided} is not a candidate`);
    }
    t.#times.set(s.times);
    t.#decided = s.decided;
    return t;
  }

  /**
   * The summed times by candidate, per call and rank (ms), for reports.
   *
   * @param summed The all-reduced times, as given to {@linkcode CollectiveTrials.decide}.
   * @param ranks How many ranks contributed to the sum.
   */
  perCall(summed: Float32Array, ranks: number): Record<string, number> {
    return Object.fromEntries(
      this.candidates.map((c, i) => [c, summed[i] / ranks]),
    );
  }
}

/**
 * The compression settings of a run under `auto`: everything but the mode,
 * which the trials set for each call.
 */
export type AutoCompression = Omit<CompressionOptions, "mode">;

/** What one {@linkcode allreduceAuto} call did. */
export interface AutoCall {
  /** The all-reduce's own statistics. */
  stats: AllreduceStats;
  /** The way it reduced. */
  mode: CollectiveCandidate;
  /**
   * Set by the call that ended the trials: the agreed choice and the summed
   * fastest times per call, averaged over the ranks (ms, {@linkcode CollectiveTrials.perCall}).
   */
  decided: { choice: CollectiveCandidate; perCall: Record<string, number> } | null;
}

/**
 * Call number `call` (0-based, counted by the caller) of a run under
 * `auto`: all-reduces `buf` the way `trials` schedules for it (float32
 * without compression, else `compression` in that mode) and, during the
 * trials, times it from a barrier (a one-value sum), so that the time is the
 * collective's and not a slower rank's compute; the call that ends the
 * trials also all-reduces every rank's times (one tiny float32 sum) and
 * decides. Every rank must make the same calls in the same order.
 *
 * @param ctx The ring.
 * @param buf The vector, reduced in place.
 * @param options As for `allreduce`; `compression` gives the quantizers.
 * @param trials The run's trial state (updated).
 * @param call This call's number.
 * @returns The stats, the mode used and, once, the decision.
 *
 * @example Two ranks in memory: the trials, then every call in the agreed mode
 * ```ts
 * import { memoryRing, QsgdQuantizer, RingContext, Rng } from "@qoda/ring";
 * import { allreduceAuto, CollectiveTrials } from "@qoda/ring/collective";
 * const ctxs = memoryRing(2).map((l, rank) => new RingContext({ rank, size: 2, ...l }));
 * const q = new QsgdQuantizer({ bits: 4, bucketSize: 64 });
 * const ranks = ctxs.map((ctx, r) => ({ ctx, trials: new CollectiveTrials(), rng: new Rng(r) }));
 * const after = new Set<string>();
 * for (let call = 0; call < 11; call++) {
 *   const done = await Promise.all(ranks.map(({ ctx, trials, rng }) =>
 *     allreduceAuto(ctx, new Float32Array(256).fill(1), {
 *       compression: { rng, quantizerFor: () => q },
 *     }, trials, call)
 *   ));
 *   if (call >= ranks[0].trials.trialCalls) done.forEach((c) => after.add(c.mode));
 * }
 * if (after.size !== 1 || !after.has(ranks[1].trials.decided!)) throw new Error([...after].join());
 * ctxs.forEach((ctx) => ctx.close());
 * ```
 */
export async function allreduceAuto(
  ctx: RingContext,
  buf: Float32Array,
  options: Omit<AllreduceOptions, "compression"> & { compression: AutoCompression },
  trials: CollectiveTrials,
  call: number,
): Promise<AutoCall> {
  const mode = trials.modeFor(call);
  // A trial times the collective from the moment every rank is there: a one-value sum first,
  // untimed, so that a peer still computing its vector does not count against the candidate.
  if (call < trials.trialCalls && ctx.size > 1) {
    await allreduce(ctx, new Float32Array(1), { op: "sum" });
  }
  const t0 = performance.now();
  const stats = await allreduce(ctx, buf, {
    ...options,
    compression: mode === "fp32" ? undefined : { ...options.compression, mode },
  });
  trials.record(call, performance.now() - t0);
  if (!trials.agreeAfter(call)) return { stats, mode, decided: null };
  const times = trials.localTimes();
  await allreduce(ctx, times, { op: "sum" });
  const choice = trials.decide(times, ctx.size);
  return { stats, mode, decided: { choice, perCall: trials.perCall(times, ctx.size) } };
}
