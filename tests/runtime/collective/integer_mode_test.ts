// The integer mode of the all-reduce: reduction in the compressed domain (shared scales,
// integer codes added on the way). Bit-identical on every rank, unbiased, with the
// all-gather's variance at close to the ring's bytes; a hostile peer is named.
import assert from "node:assert/strict";
import {
  allreduce,
  type AllreduceStats,
  type CompressionOptions,
  type LayerSpan,
} from "../../../runtime/collective/allreduce.ts";
import { RingContext } from "../../../runtime/collective/context.ts";
import { CollectiveError } from "../../../runtime/errors.ts";
import { LayerwiseQuantizer } from "../../../runtime/quant/layerwise.ts";
import { Rng } from "../../../runtime/rng.ts";
import { memoryRing } from "../../../runtime/transport/memory.ts";
import { inputs, ring, tampered } from "./_rings.ts";

const layout = (n: number): LayerSpan[] => [
  { name: "dense/kernel", type: "dense", offset: 0, length: n - 10 },
  { name: "dense/bias", type: "bias", offset: n - 10, length: 10 },
];

/** One all-reduce on every rank; returns each rank's stats. */
async function reduce(
  bufs: Float32Array[],
  mode: CompressionOptions["mode"],
  seed: number,
  op: "sum" | "mean" = "mean",
  extra: { layout?: LayerSpan[]; maxSegmentElements?: number; bucket?: number } = {},
): Promise<AllreduceStats[]> {
  const ctxs = ring(bufs.length);
  try {
    const q = new LayerwiseQuantizer({ bits: 4, bucketSize: 512 });
    return await Promise.all(ctxs.map((c, r) =>
      allreduce(c, bufs[r], {
        op,
        layout: extra.layout,
        maxSegmentElements: extra.maxSegmentElements ?? 300,
        compression: {
          mode,
          rng: new Rng(seed * 31 + r),
          bucket: extra.bucket,
          quantizerFor: (l) => (l.type === "bias" ? null : q),
        },
      })
    ));
  } finally {
    ctxs.forEach((c) => c.close());
  }
}

Deno.test("integer mode: bit-identical on every rank, within one grid step per rank, N = 1..5", async () => {
  for (let size = 1; size <= 5; size++) {
    for (const n of [11, 1001, 4099]) {
      for (const op of ["sum", "mean"] as const) {
        const bufs = inputs(size, n, 7 * size + n);
        const exact = new Float64Array(n);
        for (const b of bufs) b.forEach((x, i) => (exact[i] += x));
        const maxAbs = Math.max(
          ...bufs.map((b) => b.reduce((m, x) => Math.max(m, Math.abs(x)), 0)),
        );
        await reduce(bufs, "integer", size, op, { layout: layout(n), bucket: 64 });
        const what = `N ${size} n ${n} ${op}`;
        for (const b of bufs) assert.deepEqual(b, bufs[0], `${what}: ranks differ`);
        const div = op === "mean" ? size : 1;
        for (let i = 0; i < n; i++) {
          // The bias layer is float32; the kernel's error is at most one step (scale/7) per rank.
          const tol = i >= n - 10 ? 1e-4 * size * maxAbs : (size * maxAbs) / 7 / div + 1e-5;
          assert.ok(Math.abs(bufs[0][i] - exact[i] / div) <= tol, `${what}: coordinate ${i}`);
        }
      }
    }
  }
});

Deno.test("integer mode is unbiased, and its variance is the all-gather's or lower, the ring's far above (same data, 4 ranks)", async () => {
  const size = 4, n = 2048, S = 60;
  const base = inputs(size, n, 99);
  const exact = new Float64Array(n);
  for (const b of base) b.forEach((x, i) => (exact[i] += x / size));
  const mse: Record<string, number> = {};
  let bias2 = 0;
  for (const mode of ["integer", "allgather", "ring"] as const) {
    const mean = new Float64Array(n);
    let single = 0;
    for (let s = 0; s < S; s++) {
      const bufs = base.map((b) => b.slice());
      await reduce(bufs, mode, s, "mean", { maxSegmentElements: 512 });
      for (let i = 0; i < n; i++) {
        mean[i] += bufs[0][i] / S;
        single += (bufs[0][i] - exact[i]) ** 2 / S;
      }
    }
    mse[mode] = single;
    if (mode === "integer") {
      for (let i = 0; i < n; i++) bias2 += (mean[i] - exact[i]) ** 2;
      assert.ok(bias2 <= (2 * single) / S, `‖mean − exact‖² = ${bias2}, single ${single}`);
    }
  }
  console.log(`mean squared error of the mean: ${JSON.stringify(mse)}`);
  assert.ok(mse.integer > 0);
  assert.ok(mse.integer <= mse.allgather * 1.1, JSON.stringify(mse));
  assert.ok(mse.ring > 1.5 * mse.integer, JSON.stringify(mse));
});

Deno.test("integer mode's bytes: below the all-gather's, close to the ring's (4 ranks, 4 bits)", async () => {
  const n = 1 << 15;
  const sent: Record<string, number> = {};
  for (const mode of ["integer", "allgather", "ring"] as const) {
    const stats = await reduce(inputs(4, n, 5), mode, 1, "mean", { maxSegmentElements: 4096 });
    sent[mode] = stats[0].bytesSent;
  }
  // Per coordinate of a chunk over the ring: 4 + 5 + 6 bits (reduce-scatter) + 3 × 6 (all-gather),
  // plus 4 bytes of scale per 512 coordinates and hop: 33/8 · n/4 + 3 · 4 · n/512 bytes.
  console.log(`bytes sent by rank 0: ${JSON.stringify(sent)}`);
  const want = (33 / 8) * (n / 4) + 3 * 4 * (n / 512);
  assert.ok(
    Math.abs(sent.integer / want - 1) < 0.02,
    `${sent.integer} bytes, about ${want} expected`,
  );
  assert.ok(sent.integer < 0.75 * sent.allgather, JSON.stringify(sent));
  assert.ok(sent.integer < 1.5 * sent.ring, JSON.stringify(sent));
});

Deno.test("integer mode: lanes a peer could not have sent, or a bad scale, fail the ring naming that peer", async () => {
  for (const target of ["grid", "scales"]) {
    const size = 3, n = 3000;
    const links = memoryRing(size);
    // Rank 1 sends garbage: every lane all ones (beyond ±2·7 at hop 0), or a NaN scale.
    links[1].right = tampered(links[1].right!, (m) => {
      if (m.type !== "chunk" || m.scheme !== target) return;
      const p = m.payload.slice();
      if (target === "grid") p.fill(0xff);
      else new Float32Array(p.buffer)[0] = NaN;
      m.payload = p;
    });
    const ctxs = links.map((l, rank) => new RingContext({ rank, size, timeoutMs: 5_000, ...l }));
    const bufs = inputs(size, n, 3);
    const q = new LayerwiseQuantizer({ bits: 4 });
    const res = await Promise.allSettled(ctxs.map((c, r) =>
      allreduce(c, bufs[r], {
        compression: { mode: "integer", rng: new Rng(r), quantizerFor: () => q },
      })
    ));
    ctxs.forEach((c) => c.close());
    const r2 = res[2];
    assert.equal(r2.status, "rejected", target);
    const e = (r2 as PromiseRejectedResult).reason;
    assert.ok(e instanceof CollectiveError, String(e));
    assert.match(e.message, /rank 2 could not use data from rank 1/, target);
    assert.match(e.message, target === "grid" ? /lane 0 holds \d+, outside ±7/ : /scale 0 is NaN/);
    assert.ok(res.every((x) => x.status === "rejected"), `${target}: every rank fails`);
  }
});

Deno.test("integer mode rejects a bad bucket and names non-finite input", async () => {
  const bufs = inputs(2, 100, 1);
  await assert.rejects(
    reduce(bufs, "integer", 1, "sum", { bucket: 0 }),
    /bucket must be a positive integer, got 0/,
  );
  const nan = inputs(2, 100, 1);
  nan[0][7] = NaN;
  await assert.rejects(reduce(nan, "integer", 1), /value 7 is NaN/);
});

Deno.test("every compressed mode: a link that reads a frame late (a slow socket) gives the same result as a prompt one", async () => {
  for (const mode of ["integer", "ring", "allgather"] as const) {
    const prompt = await lateReads(mode, 0);
    const late = await lateReads(mode, 2);
    assert.deepEqual(late, prompt, mode);
  }
});

/** Rank 0's result of a 2-rank mean whose links hand each frame over `delayMs` late. */
async function lateReads(mode: CompressionOptions["mode"], delayMs: number): Promise<Float32Array> {
  // A send resolves only once its bytes are taken: here after a delay, as on a busy link.
  const size = 2, n = 12_000;
  const links = memoryRing(size);
  for (const l of links) {
    const inner = l.right!;
    l.right = {
      peer: inner.peer,
      send: async (m) => {
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        return inner.send(m);
      },
      receive: () => inner.receive(),
      closeWrite: () => inner.closeWrite(),
      close: () => inner.close(),
    };
  }
  const ctxs = links.map((l, rank) => new RingContext({ rank, size, ...l }));
  const bufs = inputs(size, n, 8);
  const q = new LayerwiseQuantizer({ bits: 4 });
  await Promise.all(ctxs.map((c, r) =>
    allreduce(c, bufs[r], {
      op: "mean",
      maxSegmentElements: 1000,
      compression: { mode, rng: new Rng(r), quantizerFor: () => q },
    })
  ));
  ctxs.forEach((c) => c.close());
  assert.deepEqual(bufs[1], bufs[0], mode);
  return bufs[0];
}
