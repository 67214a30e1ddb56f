import assert from "node:assert/strict";
import {
  type Child,
  decide,
  type SupervisionPolicy,
  Supervisor,
  validatePolicy,
} from "../../actors/supervision.ts";
import { Actor } from "../../actors/actor.ts";

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

/** A fake child that logs starts and stops. */
function fakeChildren(names: string[], log: string[]): Child[] {
  return names.map((name) => ({
    name,
    start: () => void log.push(`start ${name}`),
    stop: () => void log.push(`stop ${name}`),
  }));
}

function fakeTime() {
  const t = { now: 0, slept: [] as number[] };
  return {
    t,
    clock: () => t.now,
    sleep: (ms: number) => {
      t.slept.push(ms);
      t.now += ms;
      return Promise.resolve();
    },
  };
}

Deno.test("Supervisor all-for-one stops the peers and restarts every child", async () => {
  const log: string[] = [];
  const { t, clock, sleep } = fakeTime();
  const sup = new Supervisor({ policy: policy({ strategy: "all-for-one" }), clock, sleep });
  for (const c of fakeChildren(["w0", "w1", "w2"], log)) sup.add(c);
  const out = await sup.onFailure({ actor: "w1", error: new Error("x") });
  assert.deepEqual(out, { action: "restart", delayMs: 10, restarted: ["w0", "w1", "w2"] });
  assert.deepEqual(log, ["stop w0", "stop w2", "start w0", "start w1", "start w2"]);
  assert.deepEqual(t.slept, [10]);
  // The group shares one history: a failure of another child backs off further.
  log.length = 0;
  const out2 = await sup.onFailure({ actor: "w2", error: new Error("y") });
  assert.equal(out2.action, "restart");
  assert.equal((out2 as { delayMs: number }).delayMs, 20);
  assert.deepEqual(log, ["stop w0", "stop w1", "start w0", "start w1", "start w2"]);
  assert.deepEqual(sup.history("anyone"), [0, 10]);
});

Deno.test("Supervisor one-for-one restarts only the failed child, history per child", async () => {
  const log: string[] = [];
  const { clock, sleep } = fakeTime();
  const sup = new Supervisor({ policy: policy({ maxRestarts: 1 }), clock, sleep });
  for (const c of fakeChildren(["w0", "w1"], log)) sup.add(c);
  assert.equal((await sup.onFailure({ actor: "w0", error: 1 })).action, "restart");
  assert.equal((await sup.onFailure({ actor: "w1", error: 2 })).action, "restart");
  assert.deepEqual(log, ["start w0", "start w1"]);
  assert.deepEqual(sup.history("w0"), [0]);
});

Deno.test("Supervisor escalates past the limit, stops all children, calls onEscalate", async () => {
  const log: string[] = [];
  const { t, clock, sleep } = fakeTime();
  const escalations: unknown[] = [];
  const sup = new Supervisor({
    policy: policy({ strategy: "all-for-one", maxRestarts: 2, withinMs: 1_000 }),
    clock,
    sleep,
    onEscalate: (e) => escalations.push(e),
  });
  for (const c of fakeChildren(["w0", "w1"], log)) sup.add(c);
  const err = new Error("flaky link");
  assert.equal((await sup.onFailure({ actor: "w0", error: err })).action, "restart");
  assert.equal((await sup.onFailure({ actor: "w0", error: err })).action, "restart");
  log.length = 0;
  const out = await sup.onFailure({ actor: "w1", error: err });
  assert.equal(out.action, "escalate");
  assert.deepEqual(log, ["stop w0", "stop w1"]);
  assert.equal(escalations.length, 1);
  assert.equal((escalations[0] as { child: string }).child, "w1");
  // After a quiet window the supervisor restarts again.
  t.now += 1_000;
  assert.equal((await sup.onFailure({ actor: "w1", error: err })).action, "restart");
});

Deno.test("Supervisor ignores failures reported during an all-for-one restart", async () => {
  const log: string[] = [];
  let releaseSleep!: () => void;
  const nested: Promise<unknown>[] = [];
  const children: Child[] = ["w0", "w1"].map((name) => ({
    name,
    start: () => void log.push(`start ${name}`),
    stop: () => {
      log.push(`stop ${name}`);
      // A peer fails as a consequence of the ring breaking.
      nested.push(sup.onFailure({ actor: name, error: new Error("peer gone") }));
    },
  }));
  const sup = new Supervisor({
    policy: policy({ strategy: "all-for-one" }),
    sleep: () => new Promise<void>((r) => releaseSleep = r),
  });
  for (const c of children) sup.add(c);
  const first = sup.onFailure({ actor: "w1", error: new Error("root cause") });
  while (!releaseSleep) await new Promise((r) => setTimeout(r, 0));
  releaseSleep();
  const out = await first;
  assert.equal(out.action, "restart");
  const [n] = await Promise.all(nested);
  assert.equal((n as { action: string }).action, "ignored");
  assert.deepEqual(log, ["stop w0", "start w0", "start w1"]);
  assert.equal((await sup.onFailure({ actor: "nobody", error: 0 })).action, "ignored");
});

Deno.test("Supervisor restarts a real failing Actor through onFailure", async () => {
  const { clock, sleep } = fakeTime();
  const sup = new Supervisor({ policy: policy({ maxRestarts: 2 }), clock, sleep });
  const incarnations: Actor<string>[] = [];
  const outcomes: Promise<unknown>[] = [];
  const child: Child = {
    name: "w0",
    start: async () => {
      const a = new Actor<string>({
        name: "w0",
        handler: (m) => {
          if (m === "boom") throw new Error("kernel crashed");
        },
        onFailure: (r) => void outcomes.push(sup.onFailure(r)),
      });
      incarnations.push(a);
      await a.start();
    },
    stop: () => incarnations.at(-1)?.stop(),
  };
  sup.add(child);
  await child.start();
  for (let i = 0; i < 3; i++) {
    const a = incarnations.at(-1)!;
    a.tell("t", "boom");
    await a.exited;
    await outcomes.at(-1);
  }
  const actions = await Promise.all(outcomes) as { action: string }[];
  assert.deepEqual(actions.map((o) => o.action), ["restart", "restart", "escalate"]);
  assert.equal(incarnations.length, 3);
  assert.ok(incarnations.every((a) => a.state === "closed"));
});
