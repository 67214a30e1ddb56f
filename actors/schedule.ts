/**
 * The supervisor's half of QODA: the step counter t, the adaptive step-size
 * accumulator S = Σ ‖V̄_{s+1/2} − V̄_{s−1/2}‖², the step sizes it implies,
 * and the per-step decision from the workers' reports (skip when any rank
 * saw a non-finite value; refuse reports that disagree).
 *
 * Pure: no sockets. `supervisor.ts` feeds it the reports of each step and
 * sends the command it returns.
 *
 * @module
 */
import { MismatchError } from "../runtime/errors.ts";
import type { StepReportMessage } from "../runtime/wire/messages.ts";

/** Step-size parameters (QODA §1: γ_t = lrGamma·(1+S_{t−1})^−eγ, η_{t+1} = lrEta·(1+S_t)^−eη). */
export interface ScheduleOptions {
  /** Base of γ. */
  lrGamma: number;
  /** Base of η. */
  lrEta: number;
  /** Exponent of γ. @default {0.5} */
  exponentGamma?: number;
  /** Exponent of η. @default {0.5} */
  exponentEta?: number;
}

/** The schedule's state, as plain data (part of a commit). */
export interface ScheduleState {
  /** Completed (or skipped) iterations. */
  t: number;
  /** S over applied iterations. */
  sumSq: number;
  /** Skipped iterations. */
  skipped: number;
}

/** What the supervisor decided for one step. */
export interface StepDecision {
  /** The step decided. */
  step: number;
  /** Every rank skips the step (some rank saw NaN/Inf in its own sample). */
  skip: boolean;
  /** Ranks that reported non-finite values. */
  nonFiniteRanks: number[];
  /** η_{t+1} for this step's dual update (NaN when skipped). */
  eta: number;
  /** γ_{t+1} for the next step's extrapolation. */
  gamma: number;
  /** The agreed ‖V̄_{t+1/2} − V̄_{t−1/2}‖² (NaN when skipped). */
  sqDiff: number;
}

/**
 * QODA's step sizes, owned by the supervisor.
 *
 * @example Two ranks agree; the third step is skipped because rank 1 saw NaN
 * ```ts
 * import { StepSchedule } from "./schedule.ts";
 * const s = new StepSchedule({ lrGamma: 0.5, lrEta: 0.5 });
 * const r = (rank: number, step: number, sqDiff: number, nonFinite = false) => ({
 *   type: "stepReport" as const, epoch: 0, step, rank, sqDiff, nonFinite, computeMs: 0,
 *   quantizeMs: 0, communicateMs: 0, checksum: 0n, optimizerMs: 0, controlMs: 0,
 *   collectives: 1, bytesSent: 0,
 * });
 * s.decide([r(0, 1, 3), r(1, 1, 3)]); // S = 3: η_2 = 0.5 / 2
 * if (s.decide([r(0, 2, 0), r(1, 2, 0)]).eta !== 0.25) throw new Error();
 * if (!s.decide([r(0, 3, NaN, false), r(1, 3, NaN, true)]).skip || s.state().skipped !== 1) {
 *   throw new Error();
 * }
 * ```
 */
export class StepSchedule {
  readonly #lrGamma: number;
  readonly #lrEta: number;
  readonly #eGamma: number;
  readonly #eEta: number;
  #t = 0;
  #sumSq = 0;
  #skipped = 0;

  /**
   * Creates the schedule at t = 0.
   * @param options Bases and exponents of γ and η.
   */
  constructor(options: ScheduleOptions) {
    const { lrGamma, lrEta, exponentGamma = 0.5, exponentEta = 0.5 } = options;
    for (const [k, v] of Object.entries({ lrGamma, lrEta, exponentGamma, exponentEta })) {
      if (!(v >= 0) || !Number.isFinite(v)) {
        throw new RangeError(`step schedule: ${k} must be finite and ≥ 0, got ${v}`);
      }
    }
    this.#lrGamma = lrGamma;
    this.#lrEta = lrEta;
    this.#eGamma = exponentGamma;
    this.#eEta = exponentEta;
  }

  /** Iterations decided so far. */
  get t(): number {
    return this.#t;
  }

  /** γ of the next step: lrGamma·(1 + S)^−eγ. */
  get gamma(): number {
    return this.#lrGamma * (1 + this.#sumSq) ** -this.#eGamma;
  }

  /**
   * Decides step t + 1 from every rank's report for it.
   *
   * @param reports One report per rank, all for step t + 1.
   * @returns The decision (and the schedule advances).
   * @throws {MismatchError} When reports name another step, or finite
   *   reports disagree on ‖ΔV̄‖² (replicas diverged; nothing changes).
   */
  decide(reports: readonly StepReportMessage[]): StepDecision {
    const step = this.#t + 1;
    const bad: number[] = [];
    for (const r of reports) {
      if (r.step !== step) {
        throw new MismatchError(
          r.rank,
          `rank ${r.rank} reported step ${r.step}, the supervisor is deciding step ${step}`,
        );
      }
      if (r.nonFinite) bad.push(r.rank);
    }
    if (bad.length > 0) {
      this.#t = step;
      this.#skipped++;
      return { step, skip: true, nonFiniteRanks: bad, eta: NaN, gamma: this.gamma, sqDiff: NaN };
    }
    const sqDiff = reports[0].sqDiff;
    for (const r of reports) {
      if (!Object.is(r.sqDiff, sqDiff)) {
        throw new MismatchError(
          r.rank,
          `step ${step}: rank ${r.rank} reports ‖ΔV̄‖² = ${r.sqDiff}, rank ${
            reports[0].rank
          } ${sqDiff}: the replicas no longer agree`,
        );
      }
    }
    if (!(sqDiff >= 0)) {
      throw new RangeError(`step ${step}: ‖ΔV̄‖² must be finite and ≥ 0, got ${sqDiff}`);
    }
    this.#sumSq += sqDiff;
    this.#t = step;
    const eta = this.#lrEta * (1 + this.#sumSq) ** -this.#eEta;
    return { step, skip: false, nonFiniteRanks: [], eta, gamma: this.gamma, sqDiff };
  }

  /** A plain-data snapshot. */
  state(): ScheduleState {
    return { t: this.#t, sumSq: this.#sumSq, skipped: this.#skipped };
  }

  /** Continues from a {@linkcode StepSchedule.state} snapshot. */
  restore(s: ScheduleState): void {
    if (!(Number.isInteger(s?.t) && s.t >= 0 && s.sumSq >= 0 && Number.isInteger(s.skipped))) {
      throw new RangeError(`not a step schedule state: ${JSON.stringify(s)}`);
    }
    this.#t = s.t;
    this.#sumSq = s.sumSq;
    this.#skipped = s.skipped;
  }
}
