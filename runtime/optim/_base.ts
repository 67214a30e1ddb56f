// What every optimiser shares: the parameters, the step counters, the guard
// against overlapping steps, agreed skips and the non-finite policy. Internal.
import { checkParams, checkPolicy, firstNonFinite, nonFiniteInfo, StepGuard } from "./_util.ts";
import { type NonFinitePolicy, NonFiniteStepError, type OptimizerName } from "./types.ts";
import type { MeanCollective, Oracle, StepInfo } from "./types.ts";

/** The shared part of QODA, Q-GenX, SGD and Adam. */
export abstract class OptimizerBase {
  /** The optimiser's name. */
  abstract readonly name: OptimizerName;
  /** The parameters (the same array for the optimiser's lifetime). */
  readonly params: Float32Array;
  /** What a non-finite value does: skip the step or throw. */
  protected readonly policy: NonFinitePolicy;
  /** Completed iterations. */
  protected steps = 0;
  /** Collectives issued. */
  protected calls = 0;
  /** Skipped steps. */
  protected skips = 0;
  readonly #guard: StepGuard;

  /**
   * Copies the starting point and checks it and the policy.
   *
   * @param name For messages.
   * @param x0 The starting point (copied).
   * @param policy The non-finite policy.
   */
  protected constructor(name: OptimizerName, x0: Float32Array, policy: NonFinitePolicy) {
    checkParams(`${name}: x0`, x0);
    checkPolicy(policy);
    this.params = x0.slice();
    this.policy = policy;
    this.#guard = new StepGuard(name);
  }

  /** Completed iterations. */
  get t(): number {
    return this.steps;
  }
  /** Collectives issued so far. */
  get collectiveCalls(): number {
    return this.calls;
  }
  /** Skipped steps so far. */
  get skipped(): number {
    return this.skips;
  }

  /** Counts an agreed skip (e.g. another rank saw NaN); the parameters stay as they are. */
  skipStep(): void {
    this.#guard.check("skipStep()");
    this.skips++;
  }

  /** Runs one step body, refusing overlapping steps. */
  protected async guarded(body: () => Promise<StepInfo>): Promise<StepInfo> {
    this.#guard.enter();
    try {
      return await body();
    } finally {
      this.#guard.leave();
    }
  }

  /**
   * One averaged oracle sample: `out` ← the collective mean of this worker's
   * V_k(`at`), counted as a collective.
   *
   * @returns The index of the average's first non-finite value, or −1.
   */
  protected async averagedSample(
    oracle: Oracle,
    collective: MeanCollective,
    at: Float32Array,
    out: Float32Array,
  ): Promise<number> {
    out.fill(0);
    oracle(at, out);
    this.calls++;
    await collective(out);
    return firstNonFinite(out);
  }

  /** Counts a skipped step; throws in "throw" mode, else returns the report. */
  protected reject(
    t: number,
    gamma: number,
    a: Float32Array,
    bad: number,
    what: string,
    collectives: number,
  ): StepInfo {
    this.skips++;
    if (this.policy === "throw") throw new NonFiniteStepError(this.name, t, bad, a[bad], what);
    return nonFiniteInfo(t, gamma, collectives);
  }
}
