import assert from "node:assert/strict";
import { allreduce } from "../../../runtime/collective/allreduce.ts";
import { RingContext } from "../../../runtime/collective/context.ts";
import { AllreduceTrace, threadCpuClock, TRACE_PHASES } from "../../../runtime/collective/trace.ts";
import { LayerwiseQuantizer } from "../../../runtime/quant/layerwise.ts";
import { Rng } from "../../../runtime/rng.ts";
import { memoryRing } from "../../../runtime/transport/memory.ts";

async function run(traced: boolean, mode: "ring" | "allgather") {
  const N = 2, n = 20_001;
  const ctxs = memoryRing(N).map((l, rank) => new RingContext({ rank, size: N, ...l }));
  const bufs = ctxs.map((_, r) => new Float32Array(n).map((_, i) => Math.sin(i * (r + 1))));
  const traces = ctxs.map(() => (traced ? new AllreduceTrace() : undefined));
  // One quantizer per rank: a layer-wise quantizer adapts with every call it sees.
  const qs = ctxs.map(() => new LayerwiseQuantizer({ bits: 4 }));
  await Promise.all(ctxs.map((c, r) =>
    allreduce(c, bufs[r], {
      op: "mean",
      maxSegmentElements: 4096,
      trace: traces[r],
      compression: { mode, rng: new Rng(r + 1), quantizerFor: () => qs[r] },
    })
  ));
  ctxs.forEach((c) => c.close());
  return { bufs, traces };
}

for (const mode of ["ring", "allgather"] as const) {
  Deno.test(`trace (${mode}): every phase timed, the sum within the operation, results unchanged`, async () => {
    const plain = await run(false, mode);
    const traced = await run(true, mode);
    for (let r = 0; r < 2; r++) {
      assert(traced.bufs[r].every((x, i) => Object.is(x, plain.bufs[r][i])), `rank ${r} differs`);
    }
    for (const t of traced.traces) {
      const s = t!.summary();
      assert.equal(s.ops, 1);
      assert.equal(s.cpuClock, threadCpuClock() ? "thread" : "wall");
      let wall = 0;
      for (const ph of TRACE_PHASES) {
        assert(s.phases[ph].wallMs >= 0 && s.phases[ph].cpuMs >= 0, ph);
        wall += s.phases[ph].wallMs;
      }
      assert(s.phases.encode.wallMs > 0, JSON.stringify(s));
      // The all-gather collective decodes straight into its sums (reduce).
      if (mode === "ring") assert(s.phases.decode.wallMs > 0, JSON.stringify(s));
      assert(s.phases.reduce.wallMs > 0, JSON.stringify(s));
      assert(wall <= s.wallMs * 1.05 + 1, `${wall} > ${s.wallMs}`);
      t!.reset();
      assert.equal(t!.summary().ops, 0);
    }
  });
}

Deno.test("trace without clocks: CPU = wall, idle is the remainder", async () => {
  const ctxs = memoryRing(2).map((l, rank) => new RingContext({ rank, size: 2, ...l }));
  const traces = ctxs.map(() => new AllreduceTrace({ cpuClock: null, schedstat: false }));
  const bufs = ctxs.map(() => new Float32Array(5000).fill(1));
  await Promise.all(ctxs.map((c, r) => allreduce(c, bufs[r], { trace: traces[r] })));
  ctxs.forEach((c) => c.close());
  const s = traces[0].summary();
  assert.equal(s.cpuClock, "wall");
  assert.equal(s.schedstat, false);
  assert.equal(s.phases.framing.wallMs, 0);
  const sum = TRACE_PHASES.reduce((a, ph) => a + s.phases[ph].wallMs, 0);
  assert(Math.abs(sum - s.wallMs) < 1e-6 || sum <= s.wallMs, `${sum} vs ${s.wallMs}`);
});
