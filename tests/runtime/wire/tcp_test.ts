import assert from "node:assert/strict";
import { Rng } from "../../../runtime/rng.ts";
import {
  type ChunkMessage,
  decodeFrame,
  encodeFrame,
  FrameReader,
  type WireMessage,
  writeAll,
} from "../../../runtime/wire/mod.ts";
import { randInt, randomBytes, sampleMessages } from "./_samples.ts";

/** A connected loopback pair with Nagle off on both ends. */
async function loopback(): Promise<{ client: Deno.TcpConn; server: Deno.TcpConn; close(): void }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const [server, client] = await Promise.all([
      listener.accept(),
      Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    ]);
    server.setNoDelay(true);
    client.setNoDelay(true);
    return {
      client,
      server,
      close() {
        client.close();
        server.close();
      },
    };
  } finally {
    listener.close();
  }
}

function chunk(payload: Uint8Array, opId: number): ChunkMessage {
  return {
    type: "chunk",
    ringId: 99n,
    epoch: 2,
    opId,
    phase: opId % 2 ? "allGather" : "reduceScatter",
    hop: opId % 3,
    segment: opId,
    totalLength: 64 * payload.length,
    offset: opId * payload.length,
    count: payload.length / 4,
    scheme: "fp32",
    bits: 32,
    payload,
  };
}

Deno.test("frames of mixed types and sizes cross a loopback TCP connection intact", async () => {
  const rng = new Rng(31);
  const samples = sampleMessages(rng);
  const msgs: WireMessage[] = [];
  for (let i = 0; i < 200; i++) {
    msgs.push(
      i % 3 === 0
        ? chunk(randomBytes(rng, 4 * randInt(rng, 0, i % 10 === 0 ? 262_144 : 2000)), i)
        : samples[randInt(rng, 0, samples.length - 1)],
    );
  }
  const link = await loopback();
  try {
    const send = (async () => {
      for (const m of msgs) await writeAll(link.client, encodeFrame(m));
      await link.client.closeWrite();
    })();
    const reader = new FrameReader(link.server);
    for (const [i, m] of msgs.entries()) {
      const body = await reader.next();
      assert.ok(body !== null, `frame ${i} arrived`);
      assert.deepStrictEqual(decodeFrame(body), m, `frame ${i}`);
      reader.release(body);
    }
    assert.equal(await reader.next(), null, "clean EOF after the last frame");
    await send;
  } finally {
    link.close();
  }
});

Deno.test("64 × 1 MiB chunk frames over loopback TCP (throughput, printed)", async () => {
  const rng = new Rng(32);
  const payload = randomBytes(rng, 1024 * 1024);
  const n = 64;
  const link = await loopback();
  try {
    const t0 = performance.now();
    const send = (async () => {
      for (let i = 0; i < n; i++) await writeAll(link.client, encodeFrame(chunk(payload, i)));
    })();
    const reader = new FrameReader(link.server);
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const body = (await reader.next())!;
      const m = decodeFrame(body) as ChunkMessage;
      assert.equal(m.opId, i);
      assert.equal(m.payload.length, payload.length);
      if (i === n - 1) assert.deepStrictEqual(m.payload, payload);
      bytes += m.payload.length;
      reader.release(body);
    }
    await send;
    const s = (performance.now() - t0) / 1000;
    // Last payload checked in full; the rest by length and opId.
    console.log(
      `loopback: ${n} × 1 MiB chunk frames in ${(s * 1000).toFixed(1)} ms = ` +
        `${(bytes / 1e6 / s).toFixed(0)} MB/s (encode + send + receive + decode)`,
    );
  } finally {
    link.close();
  }
});
