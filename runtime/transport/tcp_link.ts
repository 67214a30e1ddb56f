/**
 * A {@linkcode Link} over one TCP connection: frames are written with one
 * `writeAll` per message (never split, so Nagle cannot delay a header; a large
 * chunk goes out as head + the caller's payload, in one write when the caller
 * left room for the head before it: `ChunkMessage.headroom`),
 * `setNoDelay(true)` is set, and reads go into the frame reader's reused
 * buffers. Between two processes on one host, chunk payloads can go through
 * shared memory instead ({@linkcode TcpLink.useSharedMemory}, `shm.ts`): the
 * frame then carries only the head and a slot number.
 *
 * @module
 */
import { CollectiveError, LinkError } from "../errors.ts";
import { decodeFrame, encodeChunkFrameParts, encodeFrame } from "../wire/codec.ts";
import { FrameReader, writeAll } from "../wire/framing.ts";
import type { ChunkMessage, WireMessage } from "../wire/messages.ts";
import type { Link, Received } from "./link.ts";
import type { ShmRegion } from "./shm.ts";

/**
 * Chunk payloads from this size on are written from the caller's buffer, or go through shared
 * memory.
 */
const ZERO_COPY_MIN_BYTES = 16 * 1024;
const EMPTY = new Uint8Array(0);

/** Options of {@linkcode TcpLink.useSharedMemory}. */
export interface LinkSharedMemory {
  /** The region this side sends payloads through (its own, mapped by the peer). */
  tx?: ShmRegion;
  /** The region the peer sends payloads through (the peer's, mapped here). */
  rx?: ShmRegion;
  /**
   * How long a send waits for the peer to free a slot before the link fails, in ms.
   * @default {30000}
   */
  slotWaitMs?: number;
}

/** A {@linkcode Link} over a TCP connection. */
export class TcpLink implements Link {
  /** The peer's rank (−1 until the handshake says). */
  peer: number;
  /** The peer's address, "host:port". */
  readonly remote: string;
  readonly #conn: Deno.TcpConn;
  readonly #reader: FrameReader;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  #tx: ShmRegion | null = null;
  #rx: ShmRegion | null = null;
  #nextSlot = 0;
  #slotWaitMs = 30_000;
  /** Set once reading found the peer's end of the connection closed or broken. */
  #peerGone = false;

  /**
   * Wraps an open connection; the handshake is the caller's (see {@linkcode connectTcpLinks}).
   *
   * @param conn An open connection (`setNoDelay(true)` is applied here).
   * @param peer The peer's rank if known.
   */
  constructor(conn: Deno.TcpConn, peer = -1) {
    this.#conn = conn;
    this.peer = peer;
    const a = conn.remoteAddr as Deno.NetAddr;
    this.remote = `${a.hostname}:${a.port}`;
    conn.setNoDelay(true);
    this.#reader = new FrameReader(conn);
  }

  /**
   * From now on, sends chunk payloads of 16 KiB up to a slot's size through
   * `tx`'s slots, and resolves chunks that name a slot of `rx` (the regions
   * both sides agreed on while the ring formed; `negotiateSharedMemory`).
   * Closing the link retires them.
   */
  useSharedMemory(shm: LinkSharedMemory): void {
    this.#tx = shm.tx ?? this.#tx;
    this.#rx = shm.rx ?? this.#rx;
    this.#slotWaitMs = shm.slotWaitMs ?? this.#slotWaitMs;
  }

  /** True when chunk payloads go out through shared memory. */
  get sendsThroughSharedMemory(): boolean {
    return this.#tx !== null;
  }

  send(msg: WireMessage): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new LinkError("peer-closed", this.peer, `link to rank ${this.peer} is closed`),
      );
    }
    const tx = this.#tx;
    if (
      tx && msg.type === "chunk" && msg.payload.byteLength >= ZERO_COPY_MIN_BYTES &&
      msg.payload.byteLength <= tx.slotBytes
    ) return this.#sendThroughSlot(msg, tx);
    // Large chunks go out as header + the caller's payload bytes (no copy);
    // everything else as one encoded frame.
    let parts: Uint8Array[];
    try {
      if (msg.type === "chunk" && msg.payload.byteLength >= ZERO_COPY_MIN_BYTES) {
        const { head, padding } = encodeChunkFrameParts(msg);
        const p = msg.payload;
        const room = (msg.headroom ?? 0) >= head.length && p.byteOffset >= head.length &&
          (msg.tailroom ?? 0) >= padding &&
          p.byteOffset + p.length + padding <= p.buffer.byteLength;
        if (room) {
          // The caller left room around the payload: head, payload and padding in one write.
          const frame = new Uint8Array(
            p.buffer,
            p.byteOffset - head.length,
            head.length + p.length + padding,
          );
          frame.set(head);
          frame.fill(0, head.length + p.length);
          parts = [frame];
        } else parts = padding ? [head, p, new Uint8Array(padding)] : [head, p];
      } else parts = [encodeFrame(msg)];
    } catch (e) {
      return Promise.reject(e);
    }
    // Writes are chained so frames never interleave.
    const done = this.#writing.then(async () => {
      for (const p of parts) await writeAll(this.#conn, p);
    }).catch((e) => {
      throw this.#ioError(e, "write");
    });
    this.#writing = done.catch(() => {});
    return done;
  }

  /** A chunk whose payload goes into the next free slot of `tx`; the frame names the slot. */
  #sendThroughSlot(msg: ChunkMessage, tx: ShmRegion): Promise<void> {
    const p = msg.payload;
    const frameOf = (slot: number) =>
      encodeChunkFrameParts({ ...msg, payload: EMPTY, shm: { slot, bytes: p.byteLength } }).head;
    try {
      frameOf(0); // a bad field fails here, before anything is queued
    } catch (e) {
      return Promise.reject(e);
    }
    // In the write chain: slots are taken and frames written in the order of the calls.
    const done = this.#writing.then(async () => {
      const k = await this.#freeSlot(tx);
      tx.slot(k).set(p);
      Atomics.store(tx.flags, k, 1);
      await writeAll(this.#conn, frameOf(k));
    }).catch((e) => {
      throw this.#ioError(e, "write");
    });
    this.#writing = done.catch(() => {});
    return done;
  }

  /** The next slot of `tx` in turn, once the peer has released it. */
  async #freeSlot(tx: ShmRegion): Promise<number> {
    const k = this.#nextSlot;
    this.#nextSlot = (k + 1) % tx.slots;
    const t0 = performance.now();
    for (let i = 0; Atomics.load(tx.flags, k) !== 0; i++) {
      // A peer that is gone never releases its slot: fail now rather than at the wait's end.
      if (this.#closed || this.#peerGone) {
        throw new LinkError(
          "peer-closed",
          this.peer,
          this.#closed
            ? `link to rank ${this.peer} is closed`
            : `rank ${this.peer} closed the connection while holding shared-memory slot ${k}`,
        );
      }
      if (performance.now() - t0 > this.#slotWaitMs) {
        throw new LinkError(
          "io",
          this.peer,
          `rank ${this.peer} did not release shared-memory slot ${k} within ${this.#slotWaitMs} ms`,
        );
      }
      await new Promise((r) => setTimeout(r, i < 16 ? 0 : 1));
    }
    return k;
  }

  async receive(): Promise<Received | null> {
    let body: Uint8Array | null;
    try {
      body = await this.#reader.next();
    } catch (e) {
      this.#peerGone = true;
      if (this.#closed) return null;
      throw this.#ioError(e, "read");
    }
    if (body === null) {
      this.#peerGone = true;
      return null;
    }
    let msg: WireMessage;
    try {
      msg = decodeFrame(body);
    } catch (e) {
      this.#reader.release(body);
      throw new LinkError(
        "protocol",
        this.peer,
        `rank ${this.peer} sent a malformed frame: ${(e as Error).message}`,
        { cause: e },
      );
    }
    if (msg.type === "chunk" && msg.shm) {
      this.#reader.release(body);
      return this.#fromSlot(msg);
    }
    const b = body;
    let released = false;
    return {
      msg,
      release: () => {
        if (released) return;
        released = true;
        this.#reader.release(b);
      },
    };
  }

  /** A chunk that names a slot of the peer's region: its payload is read in place. */
  #fromSlot(msg: ChunkMessage): Received {
    const rx = this.#rx;
    const { slot, bytes } = msg.shm!;
    const wrong = !rx
      ? "but this link has no shared memory"
      : slot >= rx.slots || bytes > rx.slotBytes
      ? `outside its region of ${rx.slots} slots of ${rx.slotBytes} bytes`
      : msg.payload.byteLength !== 0
      ? `with ${msg.payload.byteLength} inline payload bytes as well`
      : null;
    if (!rx || wrong) {
      throw new LinkError(
        "protocol",
        this.peer,
        `rank ${this.peer} sent a chunk in shared-memory slot ${slot} (${bytes} bytes), ${wrong}`,
      );
    }
    const payload = rx.slot(slot).subarray(0, bytes);
    const { shm: _, ...rest } = msg;
    let released = false;
    return {
      msg: { ...rest, payload },
      release: () => {
        if (released) return;
        released = true;
        Atomics.store(rx.flags, slot, 0);
      },
    };
  }

  closeWrite(): void {
    if (this.#closed) return;
    // After the queued frames: end-of-stream for the peer, reading goes on.
    this.#writing = this.#writing.then(() => this.#conn.closeWrite()).catch(() => {});
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    this.#tx?.retire();
    this.#rx?.retire();
  }

  #ioError(e: unknown, what: string): CollectiveError {
    if (e instanceof CollectiveError) return e;
    const reset = e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BrokenPipe;
    return new LinkError(
      reset ? "peer-closed" : "io",
      this.peer,
      `${what} to/from rank ${this.peer} failed: ${(e as Error).message}`,
      { cause: e },
    );
  }
}
