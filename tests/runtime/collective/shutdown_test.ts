// A neighbour that finishes first and leaves in the middle of this rank's operation fails it
// only where something is still owed (under load, a rank of the all-gather collective often
// finishes a hop before its right neighbour does).
import assert from "node:assert/strict";
import { RingContext } from "../../../runtime/collective/context.ts";
import { LinkError } from "../../../runtime/errors.ts";
import { memoryRing } from "../../../runtime/transport/memory.ts";
import type { ChunkMessage } from "../../../runtime/wire/messages.ts";

function chunk(ctx: RingContext, opId: number, segment: number): ChunkMessage {
  return {
    type: "chunk",
    ringId: ctx.ringId,
    epoch: ctx.epoch,
    opId,
    phase: "allGather",
    hop: 0,
    segment,
    totalLength: 8,
    offset: 0,
    count: 2,
    scheme: "fp32",
    bits: 32,
    payload: new Uint8Array(8),
  };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

Deno.test("the left neighbour's shutdown after its last chunk: queued chunks are still read, then a receive fails naming it", async () => {
  const ctxs = memoryRing(3).map((l, rank) => new RingContext({ rank, size: 3, ...l }));
  const [c0, c1, c2] = ctxs;
  const ops = ctxs.map((c) => c.beginOp());
  await c0.sendChunk(chunk(c0, ops[0], 0)); // to rank 1
  await c0.closeGracefully("done", 50); // rank 0 is done and leaves
  await tick();
  const deadline = performance.now() + 5000;
  const got = await c1.recvChunk(deadline, () => "segment 0");
  assert.equal(got.msg.segment, 0);
  got.release();
  c1.throwIfFailed(); // nothing owed yet: no failure
  await assert.rejects(
    c1.recvChunk(deadline, () => "segment 1"),
    (e: unknown) => e instanceof LinkError && /rank 0 shut down: done/.test(e.message),
  );
  c1.close();
  c2.close();
});

Deno.test("the right neighbour's shutdown mid-operation does not fail this rank by itself", async () => {
  const ctxs = memoryRing(3).map((l, rank) => new RingContext({ rank, size: 3, ...l }));
  const [c0, c1, c2] = ctxs;
  const ops = ctxs.map((c) => c.beginOp());
  await c2.sendChunk(chunk(c2, ops[2], 4)); // rank 2 → rank 0
  await c1.closeGracefully("done", 50); // rank 0's right neighbour leaves
  await tick();
  c0.throwIfFailed();
  const got = await c0.recvChunk(performance.now() + 5000, () => "segment 4");
  assert.equal(got.msg.segment, 4);
  got.release();
  c0.endOp();
  c0.close();
  c2.close();
});

Deno.test("the left neighbour leaving while this rank waits for a chunk fails the wait at once", async () => {
  const ctxs = memoryRing(2).map((l, rank) => new RingContext({ rank, size: 2, ...l }));
  const [c0, c1] = ctxs;
  ctxs.forEach((c) => c.beginOp());
  const t0 = performance.now();
  const wait = assert.rejects(c1.recvChunk(t0 + 10_000, () => "segment 0"), LinkError);
  await c0.closeGracefully("done", 50);
  await wait;
  assert(performance.now() - t0 < 5000, "failed at once, not at the deadline");
  c1.close();
});
