import assert from "node:assert/strict";
import { Rng } from "../../../runtime/rng.ts";
import { decodeFrame, encodeFrame, FrameError, FrameReader } from "../../../runtime/wire/mod.ts";
import type { FuzzResult } from "./_fuzz.ts";
import { concat, piecewiseReader, randInt, randomBytes, sampleMessages } from "./_samples.ts";

/** Rejects after `ms` unless `p` settles first; always clears its timer. */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("decodeFrame() throws only FrameError on 10,000+ malformed bodies, and never hangs", async () => {
  // Run in a worker: decoding is synchronous, so only terminating the worker
  // can bound a hang.
  const worker = new Worker(new URL("./_fuzz_worker.ts", import.meta.url), { type: "module" });
  try {
    const result = await within(
      60_000,
      "the decode fuzz",
      new Promise<FuzzResult>((resolve, reject) => {
        worker.onmessage = (e: MessageEvent<FuzzResult>) => resolve(e.data);
        worker.onerror = (e) => {
          e.preventDefault();
          reject(new Error(`fuzz worker failed: ${e.message}`));
        };
        worker.postMessage(20261121);
      }),
    );
    console.log(
      `decode fuzz: ${result.total} inputs, ${result.rejected} rejected, ${result.decoded} decoded`,
    );
    assert.ok(result.total >= 10_000, `only ${result.total} inputs`);
    assert.deepStrictEqual(result.failures, []);
    assert.deepStrictEqual(result.missed, [], "truncated frames must be rejected");
    assert.ok(result.rejected > result.total / 2);
  } finally {
    worker.terminate();
  }
});

/** Reads every frame of `conn`; returns how it ended. */
async function drain(reader: FrameReader): Promise<{ frames: number; end: "eof" | FrameError }> {
  let frames = 0;
  for (;;) {
    let body: Uint8Array | null;
    try {
      body = await reader.next();
    } catch (e) {
      if (e instanceof FrameError) return { frames, end: e };
      throw e;
    }
    if (body === null) return { frames, end: "eof" };
    frames++;
    try {
      decodeFrame(body);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
    }
    reader.release(body);
  }
}

Deno.test("FrameReader throws only FrameError on malformed streams, and never hangs", async () => {
  const rng = new Rng(77);
  let inputs = 0;
  await within(
    60_000,
    "the stream fuzz",
    (async () => {
      // Every truncation of a stream of three frames, read in pieces of 1..7 bytes.
      const msgs = sampleMessages(rng).filter((m) => m.type !== "error");
      for (let k = 0; k < 4; k++) {
        const frames = [0, 1, 2].map(() => encodeFrame(msgs[randInt(rng, 0, msgs.length - 1)]));
        const stream = concat(frames);
        const bounds = new Set([0]);
        let b = 0;
        for (const f of frames) bounds.add(b += f.length);
        for (let cut = 0; cut < stream.length; cut++) {
          inputs++;
          const r = await drain(new FrameReader(piecewiseReader(stream.subarray(0, cut), rng)));
          if (bounds.has(cut)) {
            assert.equal(r.end, "eof", `cut at frame boundary ${cut}`);
          } else {
            assert.ok(r.end instanceof FrameError, `cut at ${cut}`);
            assert.match(r.end.message, /^truncated frame/);
          }
        }
      }
      // Zero and oversized length prefixes, followed by a little data.
      for (let i = 0; i < 2000; i++) {
        inputs++;
        const max = randInt(rng, 8, 1 << 20);
        const len = i % 4 === 0 ? 0 : randInt(rng, max + 1, 0xffff_ffff);
        const head = new Uint8Array(4);
        new DataView(head.buffer).setUint32(0, len, true);
        const conn = piecewiseReader(concat([head, randomBytes(rng, randInt(rng, 0, 64))]), rng);
        const r = await drain(new FrameReader(conn, { maxFrameBytes: max }));
        assert.ok(r.end instanceof FrameError && r.frames === 0);
        assert.match(
          r.end.message,
          len === 0 ? /length prefix is 0/ : new RegExp(`${len}.*${max}`),
        );
      }
      // Random garbage streams, and valid frames with random garbage spliced in.
      for (let i = 0; i < 2000; i++) {
        inputs++;
        const parts = [randomBytes(rng, randInt(rng, 0, 200))];
        if (i % 2) parts.unshift(encodeFrame(msgs[randInt(rng, 0, msgs.length - 1)]));
        const conn = piecewiseReader(concat(parts), rng, 64);
        const r = await drain(new FrameReader(conn, { maxFrameBytes: 4096, readAheadBytes: 64 }));
        assert.ok(r.end === "eof" || r.end instanceof FrameError);
      }
    })(),
  );
  assert.ok(inputs >= 4000, `${inputs} streams`);
});
