import assert from "node:assert/strict";
import { Rng } from "../../../runtime/rng.ts";
import {
  decodeFrame,
  encodeFrame,
  FrameError,
  FrameReader,
  type WireMessage,
  writeAll,
} from "../../../runtime/wire/mod.ts";
import { concat, piecewiseReader, randInt, randomBytes, sampleMessages } from "./_samples.ts";

function mixedMessages(rng: Rng): WireMessage[] {
  const msgs = sampleMessages(rng);
  for (const n of [100_000, 70_000, 8]) {
    msgs.push({
      type: "chunk",
      ringId: 1n,
      epoch: 1,
      opId: n,
      phase: "reduceScatter",
      hop: 0,
      segment: 0,
      totalLength: n,
      offset: 0,
      count: n / 4,
      scheme: "fp32",
      bits: 32,
      payload: randomBytes(rng, n),
    });
  }
  return msgs;
}

for (const readAheadBytes of [16, 4096, 65536]) {
  Deno.test(`FrameReader.next() reassembles frames from 1..7-byte reads (read-ahead ${readAheadBytes})`, async () => {
    const rng = new Rng(readAheadBytes);
    const msgs = mixedMessages(rng);
    const conn = piecewiseReader(concat(msgs.map(encodeFrame)), rng, 7);
    const reader = new FrameReader(conn, { readAheadBytes });
    for (const [i, m] of msgs.entries()) {
      const body = await reader.next();
      assert.ok(body !== null, `frame ${i}`);
      assert.equal(body.byteOffset, 0);
      assert.equal(body.byteLength, body.buffer.byteLength, "a body spans its buffer");
      const got = decodeFrame(body);
      assert.deepStrictEqual(got, m, `frame ${i}`);
      if (got.type === "chunk") assert.equal(got.payload.buffer, body.buffer, "zero-copy");
      reader.release(body);
    }
    assert.equal(await reader.next(), null);
    assert.equal(await reader.next(), null, "EOF is sticky");
  });
}

Deno.test("FrameReader bodies stay intact until released, however many next() calls follow", async () => {
  const rng = new Rng(5);
  const msgs = mixedMessages(rng);
  const reader = new FrameReader(piecewiseReader(concat(msgs.map(encodeFrame)), rng, 7), {
    poolSize: 2,
  });
  // Hold every body (more than the pool): none may be overwritten.
  const bodies: Uint8Array[] = [];
  for (let b = await reader.next(); b !== null; b = await reader.next()) bodies.push(b);
  assert.equal(bodies.length, msgs.length);
  const decoded = bodies.map(decodeFrame);
  assert.deepStrictEqual(decoded, msgs);
  for (const b of bodies) reader.release(b);
});

Deno.test("FrameReader reuses a released buffer of the frame's exact size, never one in use", async () => {
  const rng = new Rng(6);
  const big = encodeFrame({ type: "auth", mac: randomBytes(rng, 5000) });
  const small = encodeFrame({ type: "barrier", epoch: 1, id: 2n });
  const reader = new FrameReader(piecewiseReader(concat([big, big, small, big, small]), rng, 4096));
  const a = (await reader.next())!;
  const bufA = a.buffer;
  reader.release(a);
  const b = (await reader.next())!;
  assert.equal(b.buffer, bufA, "same kept buffer after release");
  // Held: the next body must come from elsewhere and leave `b` alone.
  const bCopy = b.slice();
  const c = (await reader.next())!;
  assert.notEqual(c.buffer, b.buffer);
  assert.equal(
    c.buffer.byteLength,
    small.length - 4,
    "a small frame gets a buffer of its own size",
  );
  assert.deepStrictEqual(b, bCopy);
  const bufC = c.buffer;
  reader.release(c);
  reader.release(b);
  const d = (await reader.next())!;
  assert.equal(d.buffer, bufA, "the big frame takes the big buffer, not the small one");
  assert.equal(d.buffer.byteLength, d.byteLength);
  assert.deepStrictEqual(decodeFrame(d), decodeFrame(big.slice(4)));
  reader.release(d);
  reader.release(d); // double release is harmless
  const e = (await reader.next())!;
  assert.equal(e.buffer, bufC, "the small frame takes the small buffer");
  reader.release(e);
  assert.equal(await reader.next(), null);
});

Deno.test("FrameReader keeps at most poolSize buffers and poolBytes bytes, dropping the oldest", async () => {
  const rng = new Rng(8);
  const frames = [8, 16, 24, 16].map((n) =>
    encodeFrame({ type: "auth", mac: randomBytes(rng, n) })
  );
  const lengths = frames.map((f) => f.length - 4);
  const read = async (options: { poolSize?: number; poolBytes?: number }) => {
    const reader = new FrameReader(
      piecewiseReader(concat([...frames, ...frames]), rng, 64),
      options,
    );
    const first: Uint8Array[] = [];
    for (let i = 0; i < frames.length; i++) first.push((await reader.next())!);
    for (const body of first) reader.release(body); // released in order: 8, 16, 24, 16
    const again: Uint8Array[] = [];
    for (let i = 0; i < frames.length; i++) again.push((await reader.next())!);
    assert.deepStrictEqual(again.map((b) => b.byteLength), lengths);
    return again.map((b) => first.findIndex((f) => f.buffer === b.buffer));
  };
  // Enough room: every frame gets back a buffer of its size (the two of 16 in either order).
  const all = await read({});
  assert.deepStrictEqual([all[0], all[2]], [0, 2]);
  assert.deepStrictEqual([all[1], all[3]].sort(), [1, 3]);
  // Two buffers kept: the last two released (24 and the second 16).
  assert.deepStrictEqual(await read({ poolSize: 2 }), [-1, 3, 2, -1]);
  // Room for the bytes of the last two only.
  assert.deepStrictEqual(await read({ poolBytes: lengths[2] + lengths[3] }), [-1, 3, 2, -1]);
  // Nothing kept.
  assert.deepStrictEqual(await read({ poolSize: 0 }), [-1, -1, -1, -1]);
  assert.throws(
    () => new FrameReader(piecewiseReader(frames[0], rng, 64), { poolBytes: -1 }),
    /poolBytes/,
  );
});

Deno.test("FrameReader.next() fails on EOF inside a frame, and keeps failing", async () => {
  const rng = new Rng(7);
  const frame = encodeFrame({ type: "shutdown", epoch: 1, reason: "bye" });
  const midBody = new FrameReader(piecewiseReader(frame.subarray(0, frame.length - 3), rng));
  const err = await midBody.next().catch((e) => e);
  assert.ok(err instanceof FrameError);
  assert.match(err.message, /^truncated frame: stream ended after \d+ of \d+ body bytes/);
  assert.equal(await midBody.next().catch((e) => e), err, "errors are sticky");

  const midPrefix = new FrameReader(piecewiseReader(concat([frame, frame.subarray(0, 2)]), rng));
  assert.ok((await midPrefix.next()) !== null);
  await assert.rejects(midPrefix.next(), /truncated frame: stream ended after 2 of the 4/);

  const empty = new FrameReader(piecewiseReader(new Uint8Array(0), rng));
  assert.equal(await empty.next(), null);
});

Deno.test("FrameReader.next() rejects zero and oversized length prefixes before reading the body", async () => {
  const rng = new Rng(8);
  const prefix = (n: number) => {
    const p = new Uint8Array(4);
    new DataView(p.buffer).setUint32(0, n, true);
    return p;
  };
  const zero = new FrameReader(piecewiseReader(prefix(0), rng));
  await assert.rejects(
    zero.next(),
    (e: unknown) => e instanceof FrameError && /is 0/.test(e.message),
  );

  // Only the prefix is available: an error (not a wait for 4 GiB) proves the
  // limit is checked before any body read or allocation.
  const huge = new FrameReader(piecewiseReader(prefix(0xffff_ffff), rng));
  await assert.rejects(huge.next(), (e: unknown) => {
    assert.ok(e instanceof FrameError);
    assert.match(e.message, /frame length 4294967295 exceeds the limit of 67112960 bytes/);
    return true;
  });
  const custom = new FrameReader(piecewiseReader(prefix(1025), rng), { maxFrameBytes: 1024 });
  await assert.rejects(custom.next(), /frame length 1025 exceeds the limit of 1024 bytes/);
  const atLimit = new FrameReader(piecewiseReader(concat([prefix(16), new Uint8Array(16)]), rng), {
    maxFrameBytes: 16,
  });
  assert.equal((await atLimit.next())?.length, 16);
});

Deno.test("FrameReader passes read errors through and refuses concurrent next()", async () => {
  const boom = new Error("socket reset");
  const failing = new FrameReader({ read: () => Promise.reject(boom) });
  await assert.rejects(failing.next(), (e) => e === boom);
  await assert.rejects(failing.next(), (e) => e === boom);

  let release!: (n: number | null) => void;
  const slow = new FrameReader({
    read: () => new Promise<number | null>((r) => release = r),
  });
  const first = slow.next();
  await assert.rejects(slow.next(), /another next\(\) is pending/);
  release(null);
  assert.equal(await first, null);
});

Deno.test("writeAll() writes everything in order through partial writes", async () => {
  const rng = new Rng(9);
  for (const size of [0, 1, 7, 1000, 300_000]) {
    const data = randomBytes(rng, size);
    const out: Uint8Array[] = [];
    let calls = 0;
    await writeAll({
      write(p: Uint8Array): Promise<number> {
        calls++;
        const n = Math.min(p.length, randInt(rng, 1, 9000));
        out.push(p.slice(0, n));
        return Promise.resolve(n);
      },
    }, data);
    assert.deepStrictEqual(concat(out), data, `size ${size}`);
    if (size > 9000) assert.ok(calls > 1);
  }
  await assert.rejects(
    writeAll({ write: () => Promise.resolve(0) }, new Uint8Array(3)),
    Deno.errors.WriteZero,
  );
  await assert.rejects(
    writeAll({ write: () => Promise.resolve(4) }, new Uint8Array(3)),
    RangeError,
  );
});
