import assert from "node:assert/strict";
import {
  allreduceAuto,
  AUTO_CANDIDATES,
  AUTO_MARGIN,
  CollectiveTrials,
} from "../../../runtime/collective/auto.ts";
import { QsgdQuantizer } from "../../../runtime/quant/qsgd.ts";
import { Rng } from "../../../runtime/rng.ts";
import { inputs, ring } from "./_rings.ts";

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

Deno.test("CollectiveTrials: another candidate must beat float32 by more than the margin", () => {
  // 10% by default: 91 of float32's 100 is not enough, 89 is.
  assert.equal(new CollectiveTrials().decide(Float32Array.of(100, 91, 95)), "fp32");
  assert.equal(new CollectiveTrials().decide(Float32Array.of(100, 91, 89)), "allgather");
  // Among those that beat it, the fastest; margin 0 is the plain minimum.
  assert.equal(new CollectiveTrials().decide(Float32Array.of(100, 50, 60)), "integer");
  assert.equal(
    new CollectiveTrials(AUTO_CANDIDATES, 2, 0).decide(Float32Array.of(100, 99, 99.5)),
    "integer",
  );
  assert.throws(
    () => new CollectiveTrials(AUTO_CANDIDATES, 2, 1),
    /margin must be in \[0, 1\), got 1/,
  );
  assert.throws(() => new CollectiveTrials(AUTO_CANDIDATES, 2, NaN), /margin must be in/);
  // A commit keeps the margin; one without it (older runs) gets the default.
  const t = new CollectiveTrials(AUTO_CANDIDATES, 2, 0.3);
  assert.equal(CollectiveTrials.restore(t.state()).margin, 0.3);
  const { margin: _, ...old } = t.state();
  assert.equal(CollectiveTrials.restore(old).margin, AUTO_MARGIN);
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
