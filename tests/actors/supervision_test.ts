import assert from "node:assert/strict";
import { decide, type SupervisionPolicy, validatePolicy } from "../../actors/supervision.ts";

const policy = (over: Partial<SupervisionPolicy> = {}): SupervisionPolicy => ({
  strategy: "one-for-one",
  maxRestarts: 3,
  withinMs: 1_000,
  backoff: { initialMs: 10, factor: 2, maxMs: 1_000 },
  ...over,
});

Deno.test("decide() restarts M times within W, then escalates", () => {
  const p = policy({ maxRestarts: 3 });
  const history: number[] = [];
  for (let i = 0; i < 3; i++) {
    const d = decide(p, history, 100 + i);
    assert.equal(d.action, "restart", `restart #${i + 1}`);
    history.push(100 + i);
  }
  const d = decide(p, history, 103);
  assert.equal(d.action, "escalate");
  assert.match((d as { reason: string }).reason, /maxRestarts 3/);
});

Deno.test("decide() backoff doubles and caps at maxMs", () => {
  const p = policy({ maxRestarts: Infinity, backoff: { initialMs: 100, factor: 2, maxMs: 1_000 } });
  const delays: number[] = [];
  const history: number[] = [];
  for (let i = 0; i < 7; i++) {
    const d = decide(p, history, i);
    assert.equal(d.action, "restart");
    delays.push((d as { delayMs: number }).delayMs);
    history.push(i);
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1_000, 1_000, 1_000]);
});

Deno.test("decide() forgets restarts older than withinMs (and resets backoff)", () => {
  const p = policy({ maxRestarts: 2, withinMs: 1_000 });
  const history = [0, 500];
  assert.equal(decide(p, history, 999).action, "escalate");
  // At t=1000 the restart at t=0 is out of the window: one recent restart.
  assert.deepEqual(decide(p, history, 1_000), { action: "restart", delayMs: 20 });
  // At t=1500 both are forgotten: back to the initial delay.
  assert.deepEqual(decide(p, history, 1_500), { action: "restart", delayMs: 10 });
});

Deno.test("decide() with maxRestarts 0 always escalates", () => {
  assert.equal(decide(policy({ maxRestarts: 0 }), [], 0).action, "escalate");
});

Deno.test("validatePolicy() rejects bad numbers", () => {
  assert.throws(() => validatePolicy(policy({ maxRestarts: -1 })), RangeError);
  assert.throws(() => validatePolicy(policy({ withinMs: 0 })), RangeError);
  assert.throws(
    () => validatePolicy(policy({ backoff: { initialMs: 10, factor: 0.5, maxMs: 10 } })),
    RangeError,
  );
  assert.throws(
    () => validatePolicy(policy({ backoff: { initialMs: 10, factor: 2, maxMs: 5 } })),
    RangeError,
  );
  assert.throws(
    () => validatePolicy(policy({ strategy: "rest-for-one" as "one-for-one" })),
    RangeError,
  );
});
