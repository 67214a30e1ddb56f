import assert from "node:assert/strict";
import {
  allreduceAuto,
  AUTO_CANDIDATES,
  AUTO_RULE,
  CollectiveTrials,
} from "../../../runtime/collective/auto.ts";
import { QsgdQuantizer } from "../../../runtime/quant/qsgd.ts";
import { Rng } from "../../../runtime/rng.ts";
import { inputs, ring } from "./_rings.ts";

Deno.test("CollectiveTrials: a warm-up round, counted rounds (each rank's fastest), then the sum over ranks decides", () => {
  const t = new CollectiveTrials(["fp32", "integer", "allgather"], 2);
  assert.equal(t.trialCalls, 9);
  const modes = Array.from({ length: 9 }, (_, i) => t.modeFor(i));
  assert.deepEqual(modes, [...AUTO_CANDIDATES, ...AUTO_CANDIDATES, ...AUTO_CANDIDATES]);
  // The warm-up round is slow everywhere and must not count; of the counted rounds each
  // candidate keeps its fastest (a pause lengthens a round, never shortens one).
  const ms = [900, 900, 900, 30, 10, 20, 32, 11, 19];
  ms.forEach((m, i) => t.record(i, m));
  assert.deepEqual([...t.localTimes()], [30, 10, 19]);
  assert.equal(t.agreeAfter(7), false);
  assert.equal(t.agreeAfter(8), true);
  assert.throws(() => t.modeFor(9), /call 9: the auto trials ended without a decision/);
  // Another rank saw integer slower (a slow link on its side): the sum decides.
  const summed = Float32Array.of(30 + 30, 10 + 60, 19 + 20);
  assert.equal(t.decide(summed, 2), "allgather");
  assert.equal(t.modeFor(9), "allgather");
  assert.equal(t.modeFor(10_000), "allgather");
  assert.deepEqual(t.perCall(summed, 2), { fp32: 30, integer: 35, allgather: 19.5 });
});

Deno.test("CollectiveTrials: ties go to the earlier candidate (float32 first); bad input is refused", () => {
  const t = new CollectiveTrials();
  assert.equal(t.decide(Float32Array.of(5, 5, 5), 1), "fp32");
  assert.throws(() => new CollectiveTrials([]), /distinct candidates, got \[\]/);
  assert.throws(() => new CollectiveTrials(["fp32", "fp32"]), /distinct candidates/);
  assert.throws(
    () => new CollectiveTrials(AUTO_CANDIDATES, 0),
    /at least one counted round, got 0/,
  );
  assert.throws(() => t.record(4, NaN), /call 4 took NaN ms/);
  assert.throws(() => t.decide(Float32Array.of(1, 2), 1), /2 times for 3 candidates/);
});

Deno.test("CollectiveTrials: another candidate must beat float32 by more than 10% and 0.5 ms per call", () => {
  const decide = (ms: number[], ranks = 1, rule = {}) =>
    new CollectiveTrials(AUTO_CANDIDATES, 2, rule).decide(Float32Array.from(ms), ranks);
  // 10%: 91 of float32's 100 is not enough, 89 is; among those that beat it, the fastest.
  assert.equal(decide([100, 91, 95]), "fp32");
  assert.equal(decide([100, 91, 89]), "allgather");
  assert.equal(decide([100, 50, 60]), "integer");
  // 0.5 ms per call and rank: small vectors keep float32 however the ratio looks.
  assert.equal(decide([0.6, 0.2, 0.3]), "fp32");
  assert.equal(decide([1.8, 1.2, 1.3]), "integer");
  assert.equal(decide([1.8, 1.2, 1.3], 2), "fp32", "summed over 2 ranks: 0.3 ms each");
  // Rule 0, 0: the plain minimum.
  assert.equal(decide([100, 99, 99.5], 1, { margin: 0, minSavingMs: 0 }), "integer");
  assert.throws(() => decide([1, 1, 1], 1, { margin: 1 }), /margin must be in \[0, 1\), got 1/);
  assert.throws(() => decide([1, 1, 1], 1, { margin: NaN }), /margin must be in/);
  assert.throws(() => decide([1, 1, 1], 1, { minSavingMs: -1 }), /saving must be ≥ 0 ms, got -1/);
  // A commit keeps the rule; one without it (older runs) gets the default.
  const t = new CollectiveTrials(AUTO_CANDIDATES, 2, { margin: 0.3 });
  assert.deepEqual(CollectiveTrials.restore(t.state()).rule, { margin: 0.3, minSavingMs: 0.5 });
  const { rule: _, ...old } = t.state();
  assert.deepEqual(CollectiveTrials.restore(old).rule, AUTO_RULE);
});

Deno.test("CollectiveTrials state() → restore(): mid-trial times and a decision carry over", () => {
  const a = new CollectiveTrials(["fp32", "integer"], 1);
  a.record(2, 30); // counted round: fp32
  const mid = CollectiveTrials.restore(structuredClone(a.state()));
  mid.record(3, 10); // integer
  assert.equal(mid.decide(mid.localTimes(), 1), "integer");
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

Deno.test("allreduceAuto: the scheduled mode per call, one agreed choice, sums as that mode gives them", async () => {
  const size = 3, n = 3072;
  const ctxs = ring(size);
  const xs = inputs(size, n, 11);
  const q = new QsgdQuantizer({ bits: 4, bucketSize: 256 });
  const ranks = ctxs.map((ctx, r) => ({ ctx, trials: new CollectiveTrials(), rng: new Rng(r) }));
  const exact = new Float64Array(n);
  for (const x of xs) x.forEach((v, i) => (exact[i] += v));
  const calls = ranks[0].trials.trialCalls + 2;
  for (let call = 0; call < calls; call++) {
    const bufs = xs.map((x) => x.slice());
    const done = await Promise.all(
      ranks.map(({ ctx, trials, rng }, r) =>
        allreduceAuto(
          ctx,
          bufs[r],
          {
            compression: { rng, quantizerFor: () => q },
          },
          trials,
          call,
        )
      ),
    );
    const mode = done[0].mode;
    assert.ok(done.every((c) => c.mode === mode), `call ${call}: the ranks ran one mode`);
    if (call < ranks[0].trials.trialCalls) assert.equal(mode, AUTO_CANDIDATES[call % 3]);
    else assert.equal(mode, ranks[0].trials.decided);
    // Only the last trial call decides, and every rank learns the same choice.
    const decided = done.map((c) => c.decided?.choice ?? null);
    if (call === ranks[0].trials.trialCalls - 1) {
      assert.ok(decided[0] !== null && decided.every((d) => d === decided[0]), String(decided));
      assert.deepEqual(Object.keys(done[0].decided!.perCall), [...AUTO_CANDIDATES]);
    } else assert.deepEqual(decided, [null, null, null]);
    // float32 sums exactly (up to rounding); the compressed modes send fewer bytes, unbiased.
    let err = 0;
    for (let i = 0; i < n; i++) err = Math.max(err, Math.abs(bufs[0][i] - exact[i]));
    if (mode === "fp32") {
      assert.ok(err < 1e-4, `fp32 error ${err}`);
      assert.equal(done[0].stats.bytesSent, 4 * n * (size - 1) / size * 2);
    } else {
      assert.ok(err > 0 && done[0].stats.bytesSent < 4 * n, `${mode}: ${done[0].stats.bytesSent}`);
    }
    assert.ok(bufs.every((b) => b.every((v, i) => v === bufs[0][i])), "ranks agree bit for bit");
  }
  ctxs.forEach((c) => c.close());
});
