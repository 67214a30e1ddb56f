import assert from "node:assert/strict";
import { MismatchError } from "../../runtime/errors.ts";
import { Qoda } from "../../runtime/optim/qoda.ts";
import { LayerwiseQuantizer, solveLevelTable } from "../../runtime/quant/layerwise.ts";
import { Rng } from "../../runtime/rng.ts";
import { StepSchedule } from "../../actors/schedule.ts";
import type { StepReportMessage } from "../../runtime/wire/messages.ts";

function report(rank: number, step: number, sqDiff: number, nonFinite = false): StepReportMessage {
  return {
    type: "stepReport",
    epoch: 1,
    step,
    rank,
    sqDiff,
    nonFinite,
    computeMs: 0,
    quantizeMs: 0,
    communicateMs: 0,
    checksum: 0n,
    optimizerMs: 0,
    controlMs: 0,
    collectives: 1,
    bytesSent: 0,
  };
}

Deno.test("StepSchedule: step sizes decided by the supervisor reproduce QODA's own adaptive rule bit for bit", async () => {
  const x0 = new Float32Array([1, -0.5, 0.25, 2]);
  const oracle = (z: Float32Array, out: Float32Array) => {
    // A monotone linear operator plus a fixed perturbation.
    out[0] = z[1] + 0.1 * z[0];
    out[1] = -z[0];
    out[2] = z[3] + 0.01;
    out[3] = -z[2];
  };
  const none = async (_v: Float32Array) => {};
  const local = new Qoda(x0, { lr: 0.3 });
  const remote = new Qoda(x0, { lr: 0.3 });
  const sched = new StepSchedule({ lrGamma: 0.3, lrEta: 0.3 });
  let gamma = sched.gamma;
  for (let t = 1; t <= 200; t++) {
    await local.step(oracle, none);
    await remote.step(oracle, none, {
      gamma,
      eta: async (sqDiff) => {
        await Promise.resolve(); // as if it came over the network
        const d = sched.decide([report(0, t, sqDiff), report(1, t, sqDiff)]);
        gamma = d.gamma;
        return d.eta;
      },
    });
  }
  assert.deepEqual(Array.from(remote.params), Array.from(local.params));
  assert.equal(sched.t, 200);
  assert.equal(sched.state().sumSq, local.sumSq);
});

Deno.test("StepSchedule refuses reports that disagree or name another step, and changes nothing", () => {
  const s = new StepSchedule({ lrGamma: 1, lrEta: 1 });
  s.decide([report(0, 1, 2), report(1, 1, 2)]);
  const before = s.state();
  assert.throws(() => s.decide([report(0, 2, 1), report(1, 2, 1.0000001)]), (e: unknown) => {
    assert.ok(e instanceof MismatchError);
    assert.match((e as Error).message, /rank 1 reports .* no longer agree/);
    return true;
  });
  assert.throws(
    () => s.decide([report(0, 3, 1), report(1, 3, 1)]),
    /reported step 3.*deciding step 2/,
  );
  assert.deepEqual(s.state(), before);
  assert.throws(() => new StepSchedule({ lrGamma: -1, lrEta: 1 }), /lrGamma/);
  assert.throws(() => s.restore({ t: -1, sumSq: 0, skipped: 0 }), /not a step schedule state/);
});

Deno.test("solveLevelTable over two ranks' statistics equals one quantizer that saw both", () => {
  const rng = new Rng(11);
  const data = [0, 1].map(() => new Float32Array(8192).map(() => rng.normal() ** 3));
  const layer = { name: "d/kernel", shape: [64, 128] };
  const never = { warmup: [], every: 0 };
  const ranks = data.map(() => new LayerwiseQuantizer({ bits: 4, adapt: never }));
  const single = new LayerwiseQuantizer({ bits: 4, adapt: never });
  data.forEach((v, i) => {
    ranks[i].quantize(v, new Rng(i), layer);
    single.quantize(v, new Rng(i), layer);
  });
  const table = solveLevelTable(ranks.map((q) => q.statistics()), (t) => single.bitsOf(t), 0)!;
  single.adaptNow();
  assert.deepEqual(table.levels, single.table().levels);
  assert.equal(table.version, 1);
  for (const q of ranks) {
    q.adopt(table);
    assert.deepEqual(q.table(), single.table());
    assert.ok(Object.values(q.statistics()).every((h) => h.every((c) => c === 0)));
  }
  // Too few samples: nothing to re-solve.
  const tiny = new LayerwiseQuantizer({ bits: 4, adapt: never });
  tiny.quantize(new Float32Array([1, 2]), rng, { name: "d/kernel", shape: [1, 2] });
  assert.equal(solveLevelTable([tiny.statistics()], () => 4, 3), null);
});
