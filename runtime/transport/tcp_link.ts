/**
 * A {@linkcode Link} over one TCP connection: frames are written with one
 * `writeAll` per message (never split, so Nagle cannot delay a header; a large
 * chunk goes out as head + the caller's payload, in one write when the caller
 * left room for the head before it: `ChunkMessage.headroom`),
 * `setNoDelay(true)` is set, and reads go into the frame reader's reused
 * buffers.
 *
 * @module
 */
import { CollectiveError, LinkError } from "../errors.ts";
import { decodeFrame, encodeChunkFrameParts, encodeFrame } from "../wire/codec.ts";
import { FrameReader, writeAll } from "../wire/framing.ts";
import type { WireMessage } from "../wire/messages.ts";
import type { Link, Received } from "./link.ts";

/** Chunk payloads from this size on are written from the caller's buffer. */
const ZERO_COPY_MIN_BYTES = 16 * 1024;

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

  send(msg: WireMessage): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new LinkError("peer-closed", this.peer, `link to rank ${this.peer} is closed`),
      );
    }
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

  async receive(): Promise<Received | null> {
    let body: Uint8Array | null;
    try {
      body = await this.#reader.next();
    } catch (e) {
      if (this.#closed) return null;
      throw this.#ioError(e, "read");
    }
    if (body === null) return null;
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
