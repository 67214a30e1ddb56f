// Shared memory between ring neighbours on one host (runtime/transport/shm.ts): regions and
// their checks, a TcpLink's payloads through slots, waiting for and failing on slots, hostile
// slot numbers, and rings that use it, decline it, or mix both, with the same sums.
import assert from "node:assert/strict";
import { LinkError } from "../../../runtime/errors.ts";
import { allreduce } from "../../../runtime/collective/allreduce.ts";
import { connectTcpRing } from "../../../runtime/collective/tcp_ring.ts";
import { RingContext } from "../../../runtime/collective/context.ts";
import { memoryRing } from "../../../runtime/transport/memory.ts";
import { TcpAcceptor } from "../../../runtime/transport/acceptor.ts";
import { acceptorHandshake, connectorHandshake } from "../../../runtime/transport/handshake.ts";
import { sharedMemoryAvailable, ShmRegion } from "../../../runtime/transport/shm.ts";
import { TcpLink } from "../../../runtime/transport/tcp_link.ts";
import type { ChunkMessage } from "../../../runtime/wire/messages.ts";
import { tcpLinkPair } from "./_tcp_pair.ts";
import { Rng } from "../../../runtime/rng.ts";

function chunk(payload: Uint8Array, segment: number): ChunkMessage {
  return {
    type: "chunk",
    ringId: 7n,
    epoch: 1,
    opId: 3,
    phase: "reduceScatter",
    hop: 0,
    segment,
    totalLength: 1 << 20,
    offset: 0,
    count: payload.length >> 2,
    scheme: "fp32",
    bits: 32,
    payload,
  };
}

/** A region of `slots` slots and its peer's mapping of it. */
function regions(slots: number, slotBytes: number): [ShmRegion, ShmRegion] {
  const tx = ShmRegion.create(slots, slotBytes);
  assert(tx !== null, "shared memory should be available under deno test -A on Linux");
  const rx = ShmRegion.open(tx.offer());
  tx.unlink();
  return [tx, rx];
}

Deno.test("ShmRegion: two mappings see the same bytes; the token proves it; bad offers are declined naming why", () => {
  assert.equal(sharedMemoryAvailable(), true);
  const tx = ShmRegion.create(3, 4096)!;
  try {
    const rx = ShmRegion.open(tx.offer());
    tx.slot(2).set([1, 2, 3], 100);
    assert.deepEqual([...rx.slot(2).subarray(100, 103)], [1, 2, 3]);
    Atomics.store(rx.flags, 1, 1);
    assert.equal(Atomics.load(tx.flags, 1), 1);
    const other = ShmRegion.create(3, 4096)!;
    const forged = { ...tx.offer(), token: other.offer().token };
    assert.throws(() => ShmRegion.open(forged), /does not hold the offered region/);
    assert.throws(
      () => ShmRegion.open({ ...tx.offer(), slots: 4 }),
      /has \d+ bytes, the offer says \d+/,
    );
    assert.throws(
      () => ShmRegion.open({ ...tx.offer(), path: "/etc/passwd" }),
      /malformed shared-memory offer/,
    );
    assert.throws(
      () => ShmRegion.open({ ...tx.offer(), path: "/dev/shm/qoda-ring-1-000000000000" }),
      /cannot open \/dev\/shm\/qoda-ring-1-000000000000 \(another host\?\)/,
    );
    other.unlink();
    other.retire();
    // Retired: the shared pages are gone; a view that outlived the region reads zeros.
    const view = rx.slot(2);
    rx.retire();
    assert.equal(view[100], 0);
    assert.throws(() => rx.slot(0), /is retired/);
    assert.equal(tx.slot(2)[101], 2); // the sender's mapping is its own
  } finally {
    tx.unlink();
    tx.retire();
  }
  assert.throws(() => ShmRegion.create(0, 4096), /slots must be an integer/);
  assert.throws(() => ShmRegion.create(2, 100), /slotBytes must be a positive multiple of 64/);
});

Deno.test("TcpLink over shared memory: payloads from 16 KiB through reused slots, small ones inline, the same bytes", async () => {
  const [a, b] = await tcpLinkPair();
  const [tx, rx] = regions(4, 128 * 1024);
  a.useSharedMemory({ tx });
  b.useSharedMemory({ rx });
  try {
    assert.equal(a.sendsThroughSharedMemory, true);
    const rng = new Rng(5);
    // 4 slots, 12 large chunks: every slot is taken three times, each after its release.
    const sizes = [100_000, 1_000, 131_072, 16_384, 16_383, ...Array(9).fill(65_536)];
    for (const [i, len] of sizes.entries()) {
      const payload = new Uint8Array(len).map(() => rng.nextU32() & 255);
      const sent = a.send(chunk(payload, i));
      const got = (await b.receive())!;
      await sent;
      const m = got.msg as ChunkMessage;
      assert.equal(m.segment, i);
      assert.equal("shm" in m, false, "the slot reference is resolved");
      assert.deepEqual(m.payload, payload);
      const viaSlot = len >= 16_384 && len <= 131_072;
      // A slot view lies on the region's mapping, a TCP body on a buffer of its own.
      assert.equal(m.payload.buffer === rx.slot(0).buffer, viaSlot, `chunk ${i} (${len} B)`);
      got.release();
    }
    // Payloads larger than a slot go inline.
    const big = new Uint8Array(200_000).fill(9);
    const sent = a.send(chunk(big, 99));
    const got = (await b.receive())!;
    await sent;
    assert.deepEqual((got.msg as ChunkMessage).payload, big);
    got.release();
  } finally {
    a.close();
    b.close();
  }
  assert.equal(tx.retired && rx.retired, true, "closing the links retires their regions");
});

Deno.test("a send waits for a slot the receiver still holds, and fails naming the peer if it is never released", async () => {
  const [a, b] = await tcpLinkPair();
  const [tx, rx] = regions(1, 64 * 1024);
  a.useSharedMemory({ tx, slotWaitMs: 300 });
  b.useSharedMemory({ rx });
  try {
    const p = new Uint8Array(20_000).fill(1);
    await a.send(chunk(p, 0));
    const first = (await b.receive())!;
    // The only slot is held: the next send waits until it is released.
    let done = false;
    const second = a.send(chunk(p.fill(2), 1)).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(done, false, "the send must wait for the held slot");
    assert.equal((first.msg as ChunkMessage).payload[0], 1, "the held payload is not overwritten");
    first.release();
    await second;
    const got = (await b.receive())!;
    assert.equal((got.msg as ChunkMessage).payload[0], 2);
    // Never released: the send fails after slotWaitMs, naming the peer.
    const t0 = performance.now();
    await assert.rejects(
      () => a.send(chunk(p, 2)),
      (e) =>
        e instanceof LinkError &&
        /rank 1 did not release shared-memory slot 0 within 300 ms/.test(e.message),
    );
    assert(performance.now() - t0 >= 290);
    got.release();
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("a chunk naming a slot outside the region, or shared memory the link lacks, fails the receive naming the peer", async () => {
  for (const withRegion of [false, true]) {
    const [a, b] = await tcpLinkPair();
    const [tx, rx] = regions(2, 64 * 1024);
    if (withRegion) b.useSharedMemory({ rx });
    try {
      // A plain link sends the forged reference as it is.
      const forged = { ...chunk(new Uint8Array(0), 0), shm: { slot: 5, bytes: 100 } };
      await a.send(forged);
      await assert.rejects(
        () => b.receive(),
        (e) =>
          e instanceof LinkError && e.code === "protocol" &&
          (withRegion
            ? /rank 0 sent a chunk in shared-memory slot 5 \(100 bytes\), outside its region of 2 slots/
            : /rank 0 sent a chunk in shared-memory slot 5 \(100 bytes\), but this link has no shared memory/)
            .test(e.message),
      );
    } finally {
      a.close();
      b.close();
      tx.unlink();
      tx.retire();
      rx.retire();
    }
  }
});

/** A TCP ring of `n` ranks in this process; `shm[r]` is rank r's sharedMemory option. */
async function ring(shm: boolean[]) {
  const acceptors = shm.map(() => new TcpAcceptor(Deno.listen({ hostname: "127.0.0.1", port: 0 })));
  const peers = acceptors.map((a) => `127.0.0.1:${a.addr.port}`);
  try {
    return await Promise.all(
      acceptors.map((acceptor, rank) =>
        connectTcpRing({ rank, peers, acceptor, sharedMemory: shm[rank] })
      ),
    );
  } finally {
    acceptors.forEach((a) => a.close());
  }
}

Deno.test("TCP rings on one host: shared memory where both neighbours take it, TCP elsewhere, the same sums", async () => {
  const n = 3, len = 1_000_003; // several 1 MiB segments per chunk, and a ragged end
  const inputs = Array.from({ length: n }, (_, r) => {
    const rng = new Rng(r + 11);
    return Float32Array.from({ length: len }, () => rng.nextFloat() * 2 - 1);
  });
  const results: Record<string, Float32Array[]> = {};
  for (
    const [name, shm, want] of [
      ["shm", [true, true, true], ["shm", "shm", "shm"]],
      ["tcp", [false, false, false], ["tcp", "tcp", "tcp"]],
      // Rank 1 neither offers nor accepts: rank 0's sends to it and its sends to rank 2 are TCP.
      ["mixed", [true, false, true], ["tcp", "tcp", "shm"]],
    ] as const
  ) {
    const ctxs = await ring([...shm]);
    try {
      assert.deepEqual(ctxs.map((c) => c.transport), want, name);
      const bufs = inputs.map((x) => x.slice());
      for (let rep = 0; rep < 2; rep++) {
        bufs.forEach((b, r) => b.set(inputs[r]));
        await Promise.all(ctxs.map((c, r) => allreduce(c, bufs[r])));
      }
      results[name] = bufs;
    } finally {
      await Promise.all(ctxs.map((c) => c.closeGracefully()));
    }
  }
  for (const name of ["shm", "mixed"]) {
    for (let r = 0; r < n; r++) {
      assert.deepEqual(
        results[name][r],
        results.tcp[r],
        `${name}, rank ${r}: the same float32 sums`,
      );
    }
  }
  // In-process links and a ring of one have no sockets at all.
  const mem = memoryRing(2).map((l, rank) => new RingContext({ rank, size: 2, ...l }));
  assert.deepEqual(mem.map((c) => c.transport), ["memory", "memory"]);
  mem.forEach((c) => c.close());
  let err = 0;
  for (let i = 0; i < len; i += 997) {
    err = Math.max(err, Math.abs(results.shm[0][i] - (inputs[0][i] + inputs[1][i] + inputs[2][i])));
  }
  assert(err < 1e-5, `max error ${err}`);
});

Deno.test({
  name:
    "a region that does not fit its tmpfs is refused when made (TCP then), never a SIGBUS later",
  ignore: Deno.uid() !== 0,
  async fn() {
    const dir = await Deno.makeTempDir();
    const mount = new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=4m", "tmpfs", dir],
    });
    if ((await mount.output()).code !== 0) return; // no mount here: nothing to check
    try {
      assert.equal(ShmRegion.create(8, 1 << 20, dir), null, "8 MiB cannot fit 4 MiB");
      const small = ShmRegion.create(2, 1 << 20, dir);
      assert(small !== null, "2 MiB fits");
      small.slot(1).fill(7); // every page is there
      small.unlink();
      small.retire();
      assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing left behind");
    } finally {
      await new Deno.Command("umount", { args: [dir] }).output();
      await Deno.remove(dir);
    }
  },
});

Deno.test("a neighbour that sends something else where its shared-memory offer is due fails the formation, naming it", async () => {
  const l0 = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const l1 = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const peers = [`127.0.0.1:${l0.addr.port}`, `127.0.0.1:${l1.addr.port}`];
  const params = { ringId: 0n, epoch: 0, rank: 1, worldSize: 2, secret: null, timeoutMs: 5000 };
  // A fake rank 1: it passes both handshakes, then sends a bogus control frame to rank 0.
  const fake = (async () => {
    const fromRank0 = new TcpLink(await l1.accept(), 0);
    await acceptorHandshake(fromRank0, params, 0);
    let conn: Deno.TcpConn | undefined;
    for (let i = 0; i < 100 && !conn; i++) {
      conn = await Deno.connect({ hostname: "127.0.0.1", port: l0.addr.port }).catch(() =>
        undefined
      );
    }
    const toRank0 = new TcpLink(conn!, 0);
    await connectorHandshake(toRank0, params, 0);
    await toRank0.send({
      type: "control",
      kind: "shm-offer-please",
      json: "{}",
      blob: new Uint8Array(0),
    });
    return [fromRank0, toRank0];
  })();
  const acceptor = new TcpAcceptor(l0);
  try {
    await assert.rejects(
      () => connectTcpRing({ rank: 0, peers, acceptor, connectTimeoutMs: 5000 }),
      (e) =>
        e instanceof LinkError && e.code === "protocol" &&
        /rank 0: rank 1 sent control 'shm-offer-please' where its shm-offer was due/.test(
          e.message,
        ),
    );
  } finally {
    acceptor.close();
    l1.close();
    for (const link of await fake) link.close();
  }
});

Deno.test("a send waiting for a slot fails at once when the peer's connection closes, naming it", async () => {
  const [a, b] = await tcpLinkPair();
  const [tx, rx] = regions(1, 64 * 1024);
  a.useSharedMemory({ tx, slotWaitMs: 20_000 });
  b.useSharedMemory({ rx });
  try {
    const p = new Uint8Array(20_000).fill(1);
    await a.send(chunk(p, 0));
    await b.receive(); // held, never released
    const reading = a.receive(); // a ring reads both of its links all the time
    const t0 = performance.now();
    const waiting = a.send(chunk(p, 1));
    await new Promise((r) => setTimeout(r, 50));
    b.close();
    assert.equal(await reading, null);
    await assert.rejects(
      () => waiting,
      (e) =>
        e instanceof LinkError &&
        /rank 1 closed the connection while holding shared-memory slot 0/.test(e.message),
    );
    assert(performance.now() - t0 < 5_000, "long before the 20 s wait would end");
  } finally {
    a.close();
    b.close();
  }
});
