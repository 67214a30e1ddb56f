/**
 * Supervision: a pure restart policy ({@linkcode decide}), which the
 * supervisor actor (`supervisor.ts`) applies when its ring fails.
 *
 * The policy follows Akka's `OneForOneStrategy` / `AllForOneStrategy`
 * (`maxNrOfRetries` within `withinTimeRange`) with nact-style exponential
 * backoff: restart while fewer than `maxRestarts` restarts happened in the
 * last `withinMs` ms, waiting `min(maxMs, initialMs · factor^k)` where `k` is
 * the number of those recent restarts; otherwise escalate. Restarts older than
 * `withinMs` are forgotten, so the backoff resets after a quiet window.
 *
 * A ring member's failure is an all-for-one event: every peer's collective is
 * broken, so every worker leaves the epoch and the ring is formed again (a
 * new epoch), with the dead worker restarted.
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

/**
 * The error names of deterministic failures: what a worker's own code throws
 * for a bad input or configuration (a quantizer refusing a layer's shape, a
 * problem module refusing its options, a name that does not exist, a
 * programming error). A restart replays the same steps from the same commit
 * with the same seeds, so it would throw the same error again.
 */
export const DETERMINISTIC_ERRORS: readonly string[] = [
  "ConfigurationError",
  "QuantizationError",
  "NonFiniteError",
  "UnknownNameError",
  "TypeError",
  "RangeError",
  "SyntaxError",
  "ReferenceError",
];

/**
 * True when `error` (as a worker reported it, revived by `deserializeError`)
 * is a deterministic failure, one of {@linkcode DETERMINISTIC_ERRORS}: the
 * supervisor then stops at once, naming it, instead of restarting. A crash
 * (a process exit, a lost link, a missed heartbeat, a collective's timeout
 * or a peer's failure: the collective errors) is not, and keeps the restart
 * policy. An unknown error class (a `RemoteError`) counts by its original name.
 *
 * @param error The error a worker reported.
 * @returns Whether a restart would only repeat it.
 *
 * @example
 * ```ts
 * import { isDeterministicFailure } from "./mod.ts";
 * import { CollectiveTimeoutError, QuantizationError } from "../runtime/errors.ts";
 *
 * if (!isDeterministicFailure(new QuantizationError("fc/kernel", "bad shape"))) throw new Error();
 * if (isDeterministicFailure(new CollectiveTimeoutError(1, 1000, "timed out"))) throw new Error();
 * ```
 */
export function isDeterministicFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const remote = (error as { remoteName?: unknown }).remoteName;
  const name = error.name === "RemoteError" && typeof remote === "string" ? remote : error.name;
  return DETERMINISTIC_ERRORS.includes(name);
}
