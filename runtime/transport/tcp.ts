/**
 * Links over TCP, and connecting a rank to its two ring neighbours over them
 * (`connectTcpRing` in `collective/` wraps the two links in a ring context).
 *
 * Each rank listens on its own address and connects to its right neighbour;
 * the connection from its left neighbour arrives at its listener. Every new
 * connection runs the handshake (`handshake.ts`) before it carries data: a
 * peer that fails it is logged and dropped and never reaches a collective.
 * Listening on a non-loopback address requires a shared secret.
 *
 * Frames are written with one `writeAll` per message (never split, so Nagle
 * cannot delay a header), `setNoDelay(true)` is set on both ends, and reads go
 * into the frame reader's reused buffers.
 *
 * @module
 */
import { CollectiveError, HandshakeError, LinkError, QodaError } from "../errors.ts";
import { decodeFrame, encodeChunkFrameParts, encodeFrame } from "../wire/codec.ts";
import { FrameReader, writeAll } from "../wire/framing.ts";
import type { WireMessage } from "../wire/messages.ts";
import { acceptorHandshake, connectorHandshake, type HandshakeParams } from "./handshake.ts";
import type { Link, Received } from "./link.ts";

/** Chunk payloads from this size on are written from the caller's buffer. */
const ZERO_COPY_MIN_BYTES = 16 * 1024;

/** A {@linkcode Link} over a TCP connection. */
export class TcpLink implements Link {
  /** The peer's rank (−1 until the handshake says). */
  peer: number;
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
        parts = padding ? [head, msg.payload, new Uint8Array(padding)] : [head, msg.payload];
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

/** True for loopback host names and addresses. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Splits "host:port" (or "[v6]:port"). */
export function parseAddress(
  addr: string,
  allowPortZero = false,
): { hostname: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(addr);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !((port > 0 || (allowPortZero && port === 0)) && port < 65536)) {
    throw new RangeError(`'${addr}' is not a host:port address`);
  }
  return { hostname: m[1].replace(/^\[|\]$/g, ""), port };
}

/** Options of {@linkcode connectTcpLinks} (and of `connectTcpRing`). */
export interface TcpRingOptions {
  /** This rank. */
  rank: number;
  /** Every rank's "host:port", in rank order. */
  peers: string[];
  /** Shared secret (or set `QODA_RING_SECRET`); required off loopback. */
  secret?: string | Uint8Array | null;
  /** Ring identifier. @default {0n} */
  ringId?: bigint;
  /** Ring generation. @default {0} */
  epoch?: number;
  /** Deadline for forming the ring, in ms. @default {30000} */
  connectTimeoutMs?: number;
  /** Per-operation deadline of the returned context, in ms. @default {30000} */
  timeoutMs?: number;
  /** An already-open listener for this rank's address (else one is opened). */
  listener?: Deno.TcpListener;
  /** Receives one line per notable event (refused peers, retries, failures). */
  log?: (line: string) => void;
}

/** Configuration that cannot work (a non-loopback listener without a secret, …). */
export class RingConfigError extends QodaError {
  /**
   * Creates the error.
   *
   * @param message What is wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "RingConfigError";
  }
}

/** This rank's two links of a ring: from rank − 1 and to rank + 1 (null for a ring of one). */
export interface RingLinks {
  /** Link from rank − 1. */
  left: TcpLink | null;
  /** Link to rank + 1. */
  right: TcpLink | null;
}

/**
 * Connects this rank to its ring neighbours over TCP: listens, accepts and
 * authenticates the left neighbour, connects to and authenticates with the
 * right one. Resolves to the two links, like `memoryRing` gives in-process.
 *
 * @example A ring of one needs no sockets
 * ```ts
 * import { connectTcpLinks } from "@qoda/ring/transport";
 * const { left, right } = await connectTcpLinks({ rank: 0, peers: ["127.0.0.1:1"] });
 * if (left !== null || right !== null) throw new Error();
 * ```
 */
export async function connectTcpLinks(options: TcpRingOptions): Promise<RingLinks> {
  const { rank, peers, ringId = 0n, epoch = 0, connectTimeoutMs = 30_000, log = () => {} } =
    options;
  const size = peers.length;
  if (!Number.isInteger(rank) || rank < 0 || rank >= size) {
    throw new RangeError(`rank ${rank} is outside 0..${size - 1}`);
  }
  const secretOpt = options.secret ?? Deno.env.get("QODA_RING_SECRET") ?? null;
  const secret = secretOpt === null || secretOpt === ""
    ? null
    : typeof secretOpt === "string"
    ? new TextEncoder().encode(secretOpt)
    : secretOpt;
  if (size === 1) return { left: null, right: null };

  const self = parseAddress(peers[rank]);
  const right = parseAddress(peers[(rank + 1) % size]);
  if (!isLoopback(self.hostname) && !secret) {
    throw new RingConfigError(
      `refusing to listen on ${self.hostname}, which is not loopback, without a secret: ` +
        `pass --secret or set QODA_RING_SECRET`,
    );
  }
  const params: HandshakeParams = {
    ringId,
    epoch,
    rank,
    worldSize: size,
    secret,
    timeoutMs: Math.min(10_000, connectTimeoutMs),
  };
  const leftRank = (rank + size - 1) % size, rightRank = (rank + 1) % size;
  const deadline = performance.now() + connectTimeoutMs;
  const listener = options.listener ??
    Deno.listen({ hostname: self.hostname, port: self.port, transport: "tcp" });

  const acceptLeft = async (): Promise<TcpLink> => {
    for (;;) {
      const conn = await withDeadline(
        listener.accept(),
        deadline,
        () => `rank ${rank}: rank ${leftRank} did not connect within ${connectTimeoutMs} ms`,
        leftRank,
      );
      const link = new TcpLink(conn, leftRank);
      try {
        await acceptorHandshake(link, params, leftRank);
        return link;
      } catch (e) {
        log(
          `rank ${rank}: refused a connection from ${addr(conn.remoteAddr)}: ${
            (e as Error).message
          }`,
        );
        link.close();
      }
    }
  };

  const connectRight = async (): Promise<TcpLink> => {
    const conn = await connectRetrying(
      right.hostname,
      right.port,
      deadline,
      (e) =>
        new LinkError(
          "io",
          rightRank,
          `rank ${rank}: could not connect to rank ${rightRank} at ${peers[rightRank]} ` +
            `within ${connectTimeoutMs} ms: ${e.message}`,
        ),
    );
    const link = new TcpLink(conn, rightRank);
    try {
      await connectorHandshake(link, params, rightRank);
      return link;
    } catch (e) {
      link.close();
      throw e instanceof HandshakeError
        ? new HandshakeError(`rank ${rank} → rank ${rightRank}: ${e.message}`, { cause: e })
        : e;
    }
  };

  let leftLink: TcpLink | undefined, rightLink: TcpLink | undefined;
  try {
    [leftLink, rightLink] = await Promise.all([
      acceptLeft(),
      connectRight().then((l) => (rightLink = l)),
    ]);
  } catch (e) {
    rightLink?.close();
    leftLink?.close();
    throw e;
  } finally {
    if (!options.listener) listener.close();
  }
  return { left: leftLink, right: rightLink };
}

/**
 * Connects to `hostname:port`, retrying refused connections with backoff
 * (20 ms doubling to 500 ms) until `deadline` (`performance.now()` ms), then
 * throws `giveUp(lastError)`.
 */
export async function connectRetrying(
  hostname: string,
  port: number,
  deadline: number,
  giveUp: (e: Error) => Error,
): Promise<Deno.TcpConn> {
  let wait = 20;
  for (;;) {
    try {
      return await Deno.connect({ hostname, port });
    } catch (e) {
      if (performance.now() + wait > deadline) throw giveUp(e as Error);
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(500, wait * 2);
    }
  }
}

function addr(a: Deno.Addr): string {
  return "hostname" in a ? `${a.hostname}:${a.port}` : String(a);
}

async function withDeadline<T>(
  p: Promise<T>,
  deadline: number,
  message: () => string,
  culprit: number,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  p.catch(() => {}); // a pending accept rejects when the listener closes after a timeout
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new CollectiveError("timeout", culprit, message())),
      Math.max(0, deadline - performance.now()),
    );
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}
