import assert from "node:assert/strict";
import { AUTO_CANDIDATES, CollectiveTrials } from "../../../runtime/collective/auto.ts";

Deno.test("CollectiveTrials: a warm-up round, counted rounds, then the fastest summed over ranks", () => {
  const t = new CollectiveTrials(["fp32", "integer", "allgather"], 2);
  assert.equal(t.trialCalls, 9);
  const modes = Array.from({ length: 9 }, (_, i) => t.modeFor(i));
  assert.deepEqual(modes, [...AUTO_CANDIDATES, ...AUTO_CANDIDATES, ...AUTO_CANDIDATES]);
  // The warm-up round is slow everywhere and must not count.
  const ms = [900, 900, 900, 30, 10, 20, 32, 11, 19];
  ms.forEach((m, i) => t.record(i, m));
  assert.deepEqual([...t.localTimes()], [62, 21, 39]);
  assert.equal(t.agreeAfter(7), false);
  assert.equal(t.agreeAfter(8), true);
  assert.throws(() => t.modeFor(9), /call 9: the auto trials ended without a decision/);
  // Another rank saw integer slower (a slow link on its side): the sum decides.
  const summed = Float32Array.of(62 + 60, 21 + 120, 39 + 40);
  assert.equal(t.decide(summed), "allgather");
  assert.equal(t.modeFor(9), "allgather");
  assert.equal(t.modeFor(10_000), "allgather");
  assert.deepEqual(t.perCall(summed, 2), {
    fp32: 30.5,
    integer: 35.25,
    allgather: 19.75,
  });
});

Deno.test("CollectiveTrials: ties go to the earlier candidate (float32 first); bad input is refused", () => {
  const t = new CollectiveTrials();
  assert.equal(t.decide(Float32Array.of(5, 5, 5)), "fp32");
  assert.throws(() => new CollectiveTrials([]), /distinct candidates, got \[\]/);
  assert.throws(() => new CollectiveTrials(["fp32", "fp32"]), /distinct candidates/);
  assert.throws(
    () => new CollectiveTrials(AUTO_CANDIDATES, 0),
    /at least one counted round, got 0/,
  );
  assert.throws(() => t.record(4, NaN), /call 4 took NaN ms/);
  assert.throws(() => t.decide(Float32Array.of(1, 2)), /2 times for 3 candidates/);
});

Deno.test("CollectiveTrials state() → restore(): mid-trial times and a decision carry over", () => {
  const a = new CollectiveTrials(["fp32", "integer"], 1);
  a.record(2, 30); // counted round: fp32
  const mid = CollectiveTrials.restore(structuredClone(a.state()));
  mid.record(3, 10); // integer
  assert.equal(mid.decide(mid.localTimes()), "integer");
  const after = CollectiveTrials.restore(mid.state());
  assert.equal(after.decided, "integer");
  assert.equal(after.modeFor(100), "integer");
  assert.throws(
    () => CollectiveTrials.restore({ ...mid.state(), decided: "ring" }),
    /the choice ring is not a candidate/,
  );
  assert.throws(
    () => CollectiveTrials.restore({ ...mid.state(), times: [1] }),
    /1 times for 2 candidates/,
  );
});
