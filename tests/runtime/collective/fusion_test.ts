// Tensor fusion: a model's small layers travel together, one frame per group of segments,
// in every mode; the group's payload layout round-trips, and a malformed one fails the ring
// naming the peer that sent it.
import assert from "node:assert/strict";
import {
  allreduce,
  type CompressionOptions,
  type LayerSpan,
} from "../../../runtime/collective/allreduce.ts";
import { packGroup, splitGroup } from "../../../runtime/collective/_ring_io.ts";
import { RingContext } from "../../../runtime/collective/context.ts";
import { groupSegments, planSegments } from "../../../runtime/collective/plan.ts";
import { CollectiveError } from "../../../runtime/errors.ts";
import { LayerwiseQuantizer } from "../../../runtime/quant/layerwise.ts";
import { Rng } from "../../../runtime/rng.ts";
import { memoryRing } from "../../../runtime/transport/memory.ts";
import { inputs, tampered } from "./_rings.ts";

/** 24 layers as a small MLP gives them: kernels of 150–400 values, each followed by its bias. */
function manyLayers(): { layout: LayerSpan[]; n: number } {
  const layout: LayerSpan[] = [];
  let at = 0;
  for (let i = 0; i < 12; i++) {
    const k = 150 + 25 * i, b = 5 + i;
    layout.push({ name: `d${i}/kernel`, type: "dense", offset: at, length: k });
    layout.push({ name: `d${i}/bias`, type: "bias", offset: at + k, length: b });
    at += k + b;
  }
  return { layout, n: at };
}

Deno.test("groupSegments: every segment once, in order, side by side; a group exceeds the limit only alone", () => {
  const { layout, n } = manyLayers();
  for (const size of [1, 2, 3, 5]) {
    for (const max of [1, 40, 500, 1e6]) {
      const plan = planSegments(n, size, layout, max);
      const groups = groupSegments(plan, max);
      assert.equal(groups.length, plan.length);
      let index = 0;
      groups.forEach((gs, c) => {
        assert.deepEqual(gs.flatMap((g) => g.members), plan[c], `chunk ${c}`);
        for (const g of gs) {
          assert.equal(g.index, index++);
          assert.equal(g.chunk, c);
          assert.equal(g.offset, g.members[0].offset);
          assert.equal(g.count, g.members.reduce((s, m) => s + m.count, 0));
          assert.ok(g.count <= max || g.members.length === 1, `group of ${g.count} > ${max}`);
          g.members.forEach((m, i) => {
            if (i > 0) assert.equal(m.offset, g.members[i - 1].offset + g.members[i - 1].count);
          });
        }
        // Greedy: no two neighbouring groups would have fitted in one.
        for (let i = 1; i < gs.length; i++) {
          assert.ok(
            gs[i - 1].count + gs[i].members[0].count > max,
            "a segment left out of a group",
          );
        }
      });
    }
  }
});

Deno.test("packGroup and splitGroup: tables, float32 views, parts that reuse one buffer", () => {
  const rng = new Rng(4);
  for (let trial = 0; trial < 200; trial++) {
    const k = 1 + (trial % 5);
    const parts = Array.from(
      { length: k },
      () => new Uint8Array(rng.nextU32() % 23).map(() => rng.nextU32() & 0xff),
    );
    // Each part is handed over in one scratch buffer, overwritten by the next.
    const scratch = new Uint8Array(32);
    const [payload, slot] = packGroup(
      k,
      (i) => {
        scratch.fill(0xee);
        scratch.set(parts[i]);
        return scratch.subarray(0, parts[i].length);
      },
      false,
      new Uint8Array(trial % 2 ? 0 : 4096),
    );
    if (k > 1) {
      assert.equal(payload.buffer, slot.buffer, "written into the slot");
      assert.equal(payload.byteOffset % 8, 0);
    }
    const back = splitGroup(k === 1 ? payload.slice() : payload, parts.map((p) => p.length), false);
    assert.deepEqual(
      back.map((b) => Array.from(b)),
      parts.map((p) => Array.from(p)),
      `trial ${trial}`,
    );
  }
  // Float32 values side by side are sent as one view of the buffer; apart, end to end.
  const buf = new Float32Array([1, 2, 3, 4, 5, 6]);
  const bytes = new Uint8Array(buf.buffer);
  const [side] = packGroup(
    2,
    (i) => bytes.subarray(i ? 8 : 0, i ? 24 : 8),
    true,
    new Uint8Array(0),
  );
  assert.equal(side.buffer, buf.buffer);
  assert.equal(side.length, 24);
  const [apart] = packGroup(
    2,
    (i) => bytes.subarray(i ? 16 : 0, i ? 24 : 8),
    true,
    new Uint8Array(0),
  );
  assert.deepEqual(Array.from(new Float32Array(apart.slice().buffer)), [1, 2, 5, 6]);
  assert.deepEqual(splitGroup(apart, [2, 2], true).map((p) => p.length), [8, 8]);
});

Deno.test("splitGroup rejects a table that does not describe the payload", () => {
  const [good] = packGroup(2, (i) => new Uint8Array(i ? 3 : 9), false, new Uint8Array(0));
  const payload = good.slice();
  assert.throws(() => splitGroup(payload.subarray(0, 4), [9, 3], false), /no table/);
  const long = payload.slice();
  new DataView(long.buffer).setUint32(4, 1000, true);
  assert.throws(
    () => splitGroup(long, [9, 3], false),
    /segment 2 of 2 in a group claims 1000 bytes/,
  );
  const extra = new Uint8Array(payload.length + 8);
  extra.set(payload);
  assert.throws(() => splitGroup(extra, [9, 3], false), /covers 32 of its 40 bytes/);
  assert.throws(
    () => splitGroup(new Uint8Array(12), [2, 2], true),
    /float32 group of 16 bytes came as 12/,
  );
});

/** A ring whose contexts count the chunk frames they send. */
function countingRing(size: number, links = memoryRing(size)) {
  const frames = new Array(size).fill(0);
  const ctxs = links.map((l, rank) => {
    const c = new RingContext({ rank, size, timeoutMs: 10_000, ...l });
    const send = c.sendChunk.bind(c);
    c.sendChunk = (m) => {
      frames[rank]++;
      return send(m);
    };
    return c;
  });
  return { ctxs, frames };
}

Deno.test("every mode sends one frame per group, not per layer, with biases in float32 between quantized kernels", async () => {
  const { layout, n } = manyLayers();
  const size = 4, max = 4096;
  const groups = groupSegments(planSegments(n, size, layout, max), max);
  assert.ok(planSegments(n, size, layout, max).flat().length >= 24, "many segments");
  const exact = new Float64Array(n);
  const grads = inputs(size, n, 11);
  for (const g of grads) g.forEach((x, i) => (exact[i] += x / size));
  const q = new LayerwiseQuantizer({ bits: 8, bucketSize: 64, adapt: false });
  for (const mode of [null, "ring", "allgather", "integer"] as const) {
    const { ctxs, frames } = countingRing(size);
    const bufs = grads.map((g) => g.slice());
    const compression: CompressionOptions | undefined = mode
      ? { mode, rng: new Rng(3), quantizerFor: (l) => (l.type === "bias" ? null : q) }
      : undefined;
    await Promise.all(
      ctxs.map((c, r) =>
        allreduce(c, bufs[r], { op: "mean", layout, maxSegmentElements: max, compression })
      ),
    );
    ctxs.forEach((c) => c.close());
    const label = mode ?? "fp32";
    for (let r = 1; r < size; r++) assert.deepEqual(bufs[r], bufs[0], `${label}: rank ${r}`);
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(bufs[0][i] - exact[i]));
    assert.ok(worst < (mode ? 0.25 : 1e-5), `${label}: off by ${worst}`);
    // The ring: at each of its 2(N − 1) steps every chunk's groups travel once, on some
    // link; integer adds N − 1 frames of scales per rank; the all-gather sends every group
    // at each of N − 1 hops from every rank.
    const total = groups.reduce((s, gs) => s + gs.length, 0);
    assert.equal(total, size, "one group per chunk");
    const want = mode === "allgather"
      ? size * (size - 1) * total
      : 2 * (size - 1) * total + (mode === "integer" ? size * (size - 1) : 0);
    assert.equal(frames.reduce((s, f) => s + f, 0), want, `${label}: frames ${frames}`);
  }
});

Deno.test("a group whose table lies fails the ring naming the peer, in every compressed mode", async () => {
  const { layout, n } = manyLayers();
  for (const mode of ["ring", "allgather", "integer"] as const) {
    const size = 3;
    const links = memoryRing(size);
    // Rank 1 claims more bytes for a group's first segment than the frame holds.
    links[1].right = tampered(links[1].right!, (m) => {
      if (m.type !== "chunk" || m.scheme !== "mixed") return;
      const p = m.payload.slice();
      new DataView(p.buffer).setUint32(0, p.length, true);
      m.payload = p;
    });
    const ctxs = links.map((l, rank) => new RingContext({ rank, size, timeoutMs: 5_000, ...l }));
    const q = new LayerwiseQuantizer({ bits: 4 });
    const bufs = inputs(size, n, 5);
    const res = await Promise.allSettled(ctxs.map((c, r) =>
      allreduce(c, bufs[r], {
        layout,
        compression: { mode, rng: new Rng(r), quantizerFor: (l) => (l.type === "bias" ? null : q) },
      })
    ));
    ctxs.forEach((c) => c.close());
    const e = (res[2] as PromiseRejectedResult).reason;
    assert.ok(e instanceof CollectiveError, `${mode}: ${String(e)}`);
    assert.match(
      e.message,
      /rank 2 could not use data from rank 1: segment 1 of \d+ in a group claims/,
    );
    assert.ok(res.every((x) => x.status === "rejected"), `${mode}: every rank fails`);
  }
});
