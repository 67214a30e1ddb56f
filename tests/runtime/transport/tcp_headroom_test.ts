// A chunk whose payload has room around it goes out as one write (head, payload, padding in the
// caller's buffer); without room, as before. The peer reads the same frames either way.
import assert from "node:assert/strict";
import type { ChunkMessage } from "../../../runtime/wire/messages.ts";
import { tcpLinkPair } from "./_tcp_pair.ts";

function chunk(payload: Uint8Array, segment: number, room: [number, number]): ChunkMessage {
  return {
    type: "chunk",
    ringId: 7n,
    epoch: 1,
    opId: 3,
    phase: "allGather",
    hop: 0,
    segment,
    totalLength: 1 << 20,
    offset: 0,
    count: 4096,
    scheme: "layerwise",
    bits: 4,
    payload,
    headroom: room[0],
    tailroom: room[1],
  };
}

Deno.test("TcpLink: a chunk with head and tail room is sent from the caller's buffer", async () => {
  const [a, b] = await tcpLinkPair();
  try {
    const cases: [number, number, number][] = [
      [256, 8, 20_003], // room for both: one write, head written before the payload
      [256, 8, 20_000], // no padding needed
      [16, 8, 20_003], // too little head room: head and payload written separately
      [256, 0, 20_003], // no tail room for the padding: separately
    ];
    for (const [i, [head, tail, len]] of cases.entries()) {
      const buf = new Uint8Array(head + len + tail + 16).fill(0xee);
      const payload = buf.subarray(head, head + len);
      for (let k = 0; k < len; k++) payload[k] = (k * 7 + i) & 255;
      const before = buf.slice();
      const sent = a.send(chunk(payload, i, [head, tail]));
      const got = await b.receive();
      await sent;
      assert(got !== null);
      const m = got.msg as ChunkMessage;
      assert.equal(m.segment, i);
      assert.deepEqual(m.payload, payload.slice());
      assert.equal(m.headroom, undefined); // room is not sent
      got.release();
      const padding = (8 - (len % 8)) % 8;
      const oneWrite = head >= 128 && tail >= padding;
      // Nothing outside [payload − head, payload + padding) is touched; inside, only when used.
      const headUsed = oneWrite ? buf.subarray(0, head).findIndex((x, k) => x !== before[k]) : -1;
      assert.equal(headUsed >= 0, oneWrite, `case ${i}: head written in place`);
      assert.deepEqual(
        buf.subarray(0, headUsed < 0 ? head : headUsed),
        before.subarray(0, headUsed < 0 ? head : headUsed),
      );
      assert.deepEqual(buf.subarray(head, head + len), before.subarray(head, head + len));
      assert.deepEqual(buf.subarray(head + len + padding), before.subarray(head + len + padding));
    }
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("TcpLink: claimed room the buffer does not have is not used", async () => {
  const [a, b] = await tcpLinkPair();
  try {
    const payload = new Uint8Array(20_003).map((_, k) => k & 255); // at offset 0 of its buffer
    await Promise.all([
      a.send(chunk(payload, 9, [256, 8])),
      b.receive().then((got) => {
        assert(got !== null);
        assert.deepEqual((got.msg as ChunkMessage).payload, payload);
        got.release();
      }),
    ]);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("memoryRing: the sender's room is not passed on", async () => {
  const { memoryRing } = await import("../../../runtime/transport/memory.ts");
  const [r0, r1] = memoryRing(2);
  const buf = new Uint8Array(300).fill(1);
  await r0.right!.send(chunk(buf.subarray(256, 292), 1, [256, 8]));
  const got = await r1.left!.receive();
  assert(got !== null);
  const m = got.msg as ChunkMessage;
  assert.equal(m.headroom, undefined);
  assert.equal(m.tailroom, undefined);
  assert.equal(m.payload.length, 36);
});
