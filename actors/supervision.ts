/**
 * Supervision: a pure restart policy ({@linkcode decide}) and a
 * {@linkcode Supervisor} that applies it to its children.
 *
 * The policy follows Akka's `OneForOneStrategy` / `AllForOneStrategy`
 * (`maxNrOfRetries` within `withinTimeRange`) with nact-style exponential
 * backoff: restart while fewer than `maxRestarts` restarts happened in the
 * last `withinMs` ms, waiting `min(maxMs, initialMs · factor^k)` where `k` is
 * the number of those recent restarts; otherwise escalate. Restarts older than
 * `withinMs` are forgotten, so the backoff resets after a quiet window.
 *
 * A ring member's failure is an all-for-one event: every peer's collective is
 * broken, so every child is stopped and started again (a new ring epoch).
 *
 * @module
 */

/** Which children restart when one fails. */
export type Strategy = "one-for-one" | "all-for-one";

/** Exponential backoff between restarts. */
export interface Backoff {
  /** Delay before the first restart in a window, in ms (≥ 0). */
  readonly initialMs: number;
  /** Growth per recent restart (≥ 1). */
  readonly factor: number;
  /** Largest delay, in ms (≥ `initialMs`). */
  readonly maxMs: number;
}

/** A supervision policy: plain data, checked by {@linkcode validatePolicy}. */
export interface SupervisionPolicy {
  /** `one-for-one`: restart the failed child; `all-for-one`: restart all. */
  readonly strategy: Strategy;
  /** Restarts allowed within `withinMs` (0: always escalate; `Infinity`: no limit). */
  readonly maxRestarts: number;
  /** The window in ms (`Infinity`: restarts are never forgotten). */
  readonly withinMs: number;
  /** Backoff between restarts. */
  readonly backoff: Backoff;
}

/** The outcome of {@linkcode decide}. */
export type Decision =
  | { readonly action: "restart"; readonly delayMs: number }
  | { readonly action: "escalate"; readonly reason: string };

/**
 * Checks a policy's numbers.
 *
 * @param policy The policy.
 * @returns The same policy.
 * @throws {RangeError} Naming the bad field and value.
 *
 * @example Reject a negative window
 * ```ts
 * import { validatePolicy } from "./mod.ts";
 *
 * try {
 *   validatePolicy({ strategy: "one-for-one", maxRestarts: 3, withinMs: -1, backoff: { initialMs: 1, factor: 2, maxMs: 10 } });
 *   throw new Error("unreachable");
 * } catch (e) {
 *   if (!(e instanceof RangeError)) throw e;
 * }
 * ```
 */
export function validatePolicy(policy: SupervisionPolicy): SupervisionPolicy {
  const { strategy, maxRestarts, withinMs, backoff } = policy;
  if (strategy !== "one-for-one" && strategy !== "all-for-one") {
    throw new RangeError(`strategy must be 'one-for-one' or 'all-for-one', got '${strategy}'`);
  }
  if (!(maxRestarts >= 0) || (!Number.isInteger(maxRestarts) && maxRestarts !== Infinity)) {
    throw new RangeError(`maxRestarts must be an integer >= 0 or Infinity, got '${maxRestarts}'`);
  }
  if (!(withinMs > 0)) throw new RangeError(`withinMs must be > 0, got '${withinMs}'`);
  const { initialMs, factor, maxMs } = backoff;
  if (!(initialMs >= 0 && Number.isFinite(initialMs))) {
    throw new RangeError(`backoff.initialMs must be finite and >= 0, got '${initialMs}'`);
  }
  if (!(factor >= 1 && Number.isFinite(factor))) {
    throw new RangeError(`backoff.factor must be finite and >= 1, got '${factor}'`);
  }
  if (!(maxMs >= initialMs)) {
    throw new RangeError(`backoff.maxMs must be >= initialMs (${initialMs}), got '${maxMs}'`);
  }
  return policy;
}

/**
 * Decides what to do about a failure, from the times of earlier restarts.
 * Pure: same inputs, same answer.
 *
 * @param policy The policy.
 * @param history Times (ms, same clock as `now`) of earlier restarts, any order.
 * @param now The current time in ms.
 * @returns `restart` with a backoff delay, or `escalate` with a reason.
 *
 * @example Backoff doubles, then the limit escalates
 * ```ts
 * import { decide, type SupervisionPolicy } from "./mod.ts";
 *
 * const p: SupervisionPolicy = {
 *   strategy: "all-for-one",
 *   maxRestarts: 2,
 *   withinMs: 60_000,
 *   backoff: { initialMs: 100, factor: 2, maxMs: 1_000 },
 * };
 * const a = decide(p, [], 0);
 * const b = decide(p, [0], 10);
 * const c = decide(p, [0, 10], 20);
 * if (a.action !== "restart" || a.delayMs !== 100) throw new Error("first");
 * if (b.action !== "restart" || b.delayMs !== 200) throw new Error("second");
 * if (c.action !== "escalate") throw new Error("third");
 * ```
 */
export function decide(
  policy: SupervisionPolicy,
  history: readonly number[],
  now: number,
): Decision {
  const recent = recentRestarts(policy, history, now);
  if (recent >= policy.maxRestarts) {
    return {
      action: "escalate",
      reason:
        `${recent} restart(s) within ${policy.withinMs} ms reached maxRestarts ${policy.maxRestarts}`,
    };
  }
  const { initialMs, factor, maxMs } = policy.backoff;
  return { action: "restart", delayMs: Math.min(maxMs, initialMs * factor ** recent) };
}

/**
 * Counts the restarts in `history` that fall within the policy's window:
 * those with `now - t < withinMs` (future times count as recent).
 *
 * @param policy The policy (only `withinMs` is read).
 * @param history Restart times in ms.
 * @param now The current time in ms.
 * @returns The number of recent restarts.
 *
 * @example
 * ```ts
 * import { recentRestarts } from "./mod.ts";
 *
 * const p = { withinMs: 1_000 };
 * if (recentRestarts(p, [0, 500, 1_500], 1_600) !== 1) throw new Error("window");
 * ```
 */
export function recentRestarts(
  policy: Pick<SupervisionPolicy, "withinMs">,
  history: readonly number[],
  now: number,
): number {
  let n = 0;
  for (const t of history) if (now - t < policy.withinMs) n++;
  return n;
}

/** A supervised child, as the {@linkcode Supervisor} sees it. */
export interface Child {
  /** Unique among the supervisor's children; matches `FailureReport.actor`. */
  readonly name: string;
  /** Starts (or starts again) the child; e.g. spawns a fresh actor. */
  start(): void | Promise<void>;
  /** Stops the child; must be safe on a child that already stopped or failed. */
  stop(): void | Promise<void>;
}

/** Given to `onEscalate` when the policy gives up. */
export interface Escalation {
  /** The child whose failure escalated. */
  readonly child: string;
  /** Its error. */
  readonly error: unknown;
  /** The policy's reason. */
  readonly reason: string;
}

/** What {@linkcode Supervisor.onFailure} did. */
export type SupervisionOutcome =
  | Decision & { readonly restarted?: readonly string[] }
  | { readonly action: "ignored"; readonly reason: string };

/** Options of {@linkcode Supervisor}. */
export interface SupervisorOptions {
  /** The restart policy (validated). */
  policy: SupervisionPolicy;
  /**
   * The clock, in ms.
   * @default Date.now
   */
  clock?: () => number;
  /**
   * Waits the backoff delay; inject a fake one in tests.
   * @default a `setTimeout` promise
   */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Called when the policy escalates, after the affected children stopped.
   * @default undefined
   */
  onEscalate?: (escalation: Escalation) => void;
}

/**
 * Applies a {@linkcode SupervisionPolicy} to named children. Feed it failure
 * reports (e.g. as an actor's `onFailure`).
 *
 * Restart history is kept per child for `one-for-one` and once for the whole
 * group for `all-for-one`. Failures reported while a restart is in progress
 * (`all-for-one`: any child; `one-for-one`: the same child) are ignored, since
 * the restart already covers them: peers of a dead ring member fail too.
 * On `escalate`, the failed child (`one-for-one`) or every child
 * (`all-for-one`) is stopped and not restarted; then `onEscalate` runs.
 *
 * @example All-for-one with a fake clock
 * ```ts
 * import { type Child, Supervisor } from "./mod.ts";
 *
 * const starts: string[] = [];
 * const child = (name: string): Child => ({ name, start: () => void starts.push(name), stop: () => {} });
 * let now = 0;
 * const sup = new Supervisor({
 *   policy: { strategy: "all-for-one", maxRestarts: 3, withinMs: 10_000, backoff: { initialMs: 5, factor: 2, maxMs: 50 } },
 *   clock: () => now,
 *   sleep: (ms) => Promise.resolve(void (now += ms)),
 * });
 * sup.add(child("w0"));
 * sup.add(child("w1"));
 * const out = await sup.onFailure({ actor: "w1", error: new Error("link down") });
 * if (out.action !== "restart" || starts.join() !== "w0,w1" || now !== 5) throw new Error("not all-for-one");
 * ```
 */
export class Supervisor {
  /** The policy in force. */
  readonly policy: SupervisionPolicy;
  #children = new Map<string, Child>();
  #history = new Map<string, number[]>();
  #restarting = new Set<string>();
  #clock: () => number;
  #sleep: (ms: number) => Promise<void>;
  #onEscalate: SupervisorOptions["onEscalate"];

  /**
   * @param options Policy, clock, sleep and escalation callback.
   * @throws {RangeError} If the policy is invalid.
   */
  constructor(options: SupervisorOptions) {
    const {
      policy,
      clock = Date.now,
      sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
      onEscalate,
    } = options;
    this.policy = validatePolicy(policy);
    this.#clock = clock;
    this.#sleep = sleep;
    this.#onEscalate = onEscalate;
  }

  /** The children's names, in the order added. */
  get children(): string[] {
    return [...this.#children.keys()];
  }

  /**
   * Adds a child (it is not started here).
   *
   * @param child The child.
   * @throws {TypeError} If a child of that name exists.
   */
  add(child: Child): void {
    if (this.#children.has(child.name)) {
      throw new TypeError(`child '${child.name}' is already supervised`);
    }
    this.#children.set(child.name, child);
  }

  /**
   * Removes a child (it is not stopped here).
   *
   * @param name The child's name.
   * @returns Whether it was supervised.
   */
  remove(name: string): boolean {
    this.#history.delete(name);
    return this.#children.delete(name);
  }

  /**
   * The restart times recorded for a child (`one-for-one`) or the group
   * (`all-for-one`; the name is ignored).
   *
   * @param name The child's name.
   * @returns A copy of the restart times, oldest first.
   */
  history(name: string): number[] {
    return [...(this.#history.get(this.#key(name)) ?? [])];
  }

  /**
   * Handles a child's failure: decides, waits the backoff, restarts the
   * child or all children, or escalates.
   *
   * @param report Which child failed and why.
   * @returns What was done.
   */
  async onFailure(report: { actor: string; error: unknown }): Promise<SupervisionOutcome> {
    const { actor, error } = report;
    if (!this.#children.has(actor)) {
      return { action: "ignored", reason: `'${actor}' is not a supervised child` };
    }
    const key = this.#key(actor);
    if (this.#restarting.has(key)) {
      return { action: "ignored", reason: `a restart covering '${actor}' is in progress` };
    }
    this.#restarting.add(key);
    try {
      const now = this.#clock();
      const kept = (this.#history.get(key) ?? []).filter((t) => now - t < this.policy.withinMs);
      const decision = decide(this.policy, kept, now);
      const targets = this.policy.strategy === "all-for-one" ? this.children : [actor];
      const others = targets.filter((n) => n !== actor);
      // Peers of a failed ring member must stop before anything restarts.
      await Promise.all(others.map((n) => this.#children.get(n)?.stop()));
      if (decision.action === "escalate") {
        this.#history.set(key, kept);
        await this.#children.get(actor)?.stop();
        this.#onEscalate?.({ child: actor, error, reason: decision.reason });
        return decision;
      }
      kept.push(now);
      this.#history.set(key, kept);
      if (decision.delayMs > 0) await this.#sleep(decision.delayMs);
      for (const n of targets) await this.#children.get(n)?.start();
      return { ...decision, restarted: targets };
    } finally {
      this.#restarting.delete(key);
    }
  }

  #key(name: string): string {
    return this.policy.strategy === "all-for-one" ? "" : name;
  }
}
