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
import { connectorHandshake, type HandshakeParams } from "./handshake.ts";
import { TcpLink } from "./tcp_link.ts";
import { TcpAcceptor } from "./acceptor.ts";
import { type ShmOffer, ShmRegion } from "./shm.ts";

export { TcpLink };

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
  /**
   * The acceptor of this rank's address, kept across rings (a worker's
   * listener lives as long as the worker); else one is opened and closed.
   */
  acceptor?: TcpAcceptor;
  /** Receives one line per notable event (refused peers, retries, failures). */
  log?: (line: string) => void;
  /** Abandons the formation at once (the links made so far are closed). */
  signal?: AbortSignal;
  /**
   * Offer the right neighbour shared memory for chunk payloads, and accept the left
   * neighbour's, where both are processes on this host with the FFI permission (`shm.ts`);
   * elsewhere the links stay plain TCP. `QODA_RING_SHM=0` turns it off as false does.
   * @default {true}
   */
  sharedMemory?: boolean;
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
  const acceptor = options.acceptor ??
    new TcpAcceptor(
      Deno.listen({ hostname: self.hostname, port: self.port, transport: "tcp" }),
      { log: (l) => log(`rank ${rank}: ${l}`) },
    );
  // Every connection at this rank's address handshakes at once; the first
  // that proves to be the left neighbour of this ring and epoch is it.
  acceptor.setParams(params, leftRank);
  const acceptLeft = (): Promise<TcpLink> =>
    withDeadline(
      acceptor.next(),
      deadline,
      () => `rank ${rank}: rank ${leftRank} did not connect within ${connectTimeoutMs} ms`,
      leftRank,
    );

  const signal = options.signal;
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
      signal,
    );
    if (signal?.aborted) {
      conn.close();
      throw aborted(rank, signal);
    }
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

  let leftLink: TcpLink | undefined, rightLink: TcpLink | undefined, settled = false;
  // A link made after the formation was given up is closed at once.
  const keep = (l: TcpLink) => (settled ? (l.close(), l) : l);
  let onAbort = () => {};
  const abort = new Promise<never>((_, reject) => {
    onAbort = () => reject(aborted(rank, signal!));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
  abort.catch(() => {});
  try {
    [leftLink, rightLink] = await Promise.race([
      Promise.all([
        acceptLeft().then((l) => (leftLink = keep(l))),
        connectRight().then((l) => (rightLink = keep(l))),
      ]),
      abort,
    ]);
    const shm = options.sharedMemory ?? Deno.env.get("QODA_RING_SHM") !== "0";
    await negotiateSharedMemory(leftLink, rightLink, shm, deadline, rank, log);
  } catch (e) {
    settled = true;
    rightLink?.close();
    leftLink?.close();
    throw e;
  } finally {
    settled = true;
    signal?.removeEventListener("abort", onAbort);
    if (options.acceptor) acceptor.clear(`rank ${rank}: ring of epoch ${epoch} formed or failed`);
    else acceptor.close();
  }
  return { left: leftLink, right: rightLink };
}

/** Slots of a link's shared-memory region, and their size (one float32 segment fits a slot). */
const SHM_SLOTS = 8;
const SHM_SLOT_BYTES = 1 << 20;

/**
 * The last step of forming a ring: every rank offers its right neighbour a shared-memory
 * region (or none: `{"offer": null}`), answers its left neighbour's offer, and reads the
 * answer to its own; a region is used where the neighbour mapped it and found its token.
 * Every rank sends and answers exactly one offer, so ranks with and without shared memory
 * still form a ring (on TCP).
 */
async function negotiateSharedMemory(
  left: TcpLink,
  right: TcpLink,
  enabled: boolean,
  deadline: number,
  rank: number,
  log: (line: string) => void,
): Promise<void> {
  const tx = enabled ? ShmRegion.create(SHM_SLOTS, SHM_SLOT_BYTES) : null;
  let rx: ShmRegion | null = null;
  try {
    const control = (kind: string, value: unknown) =>
      ({ type: "control", kind, json: JSON.stringify(value), blob: new Uint8Array(0) }) as const;
    await right.send(control("shm-offer", { offer: tx?.offer() ?? null }));
    const offer = (await receiveControl(left, "shm-offer", deadline, rank)).offer;
    let reason = "";
    if (offer === null) reason = "no region offered";
    else if (!enabled) reason = "shared memory is turned off here";
    else {
      try {
        rx = ShmRegion.open(offer as ShmOffer);
      } catch (e) {
        reason = (e as Error).message;
        log(`rank ${rank}: declined rank ${left.peer}'s shared memory (TCP instead): ${reason}`);
      }
    }
    await left.send(control("shm-answer", { accepted: rx !== null, reason }));
    const answer = await receiveControl(right, "shm-answer", deadline, rank);
    tx?.unlink();
    if (tx && answer.accepted === true) right.useSharedMemory({ tx });
    else tx?.retire();
    if (rx) left.useSharedMemory({ rx });
  } catch (e) {
    tx?.unlink();
    tx?.retire();
    rx?.retire();
    throw e;
  }
}

/** The next frame on `link`, which must be the control message `kind`; its JSON fields. */
async function receiveControl(
  link: TcpLink,
  kind: string,
  deadline: number,
  rank: number,
): Promise<Record<string, unknown>> {
  const r = await withDeadline(
    link.receive(),
    deadline,
    () => `rank ${rank}: rank ${link.peer} sent no ${kind} while the ring formed`,
    link.peer,
  );
  if (r === null) {
    throw new LinkError("peer-closed", link.peer, `rank ${link.peer} left while the ring formed`);
  }
  r.release();
  const m = r.msg;
  let fields: unknown = null;
  if (m.type === "control" && m.kind === kind) {
    try {
      fields = JSON.parse(m.json);
    } catch {
      fields = null;
    }
  }
  if (fields === null || typeof fields !== "object") {
    throw new LinkError(
      "protocol",
      link.peer,
      `rank ${rank}: rank ${link.peer} sent ${
        m.type === "control" ? `control '${m.kind}'` : `a ${m.type} frame`
      } where its ${kind} was due`,
    );
  }
  return fields as Record<string, unknown>;
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
  signal?: AbortSignal,
): Promise<Deno.TcpConn> {
  let wait = 20;
  for (;;) {
    try {
      return await Deno.connect({ hostname, port });
    } catch (e) {
      if (signal?.aborted || performance.now() + wait > deadline) throw giveUp(e as Error);
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(500, wait * 2);
    }
  }
}

async function withDeadline<T>(
  p: Promise<T>,
  deadline: number,
  message: () => string,
  culprit: number,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  p.catch(() => {}); // the wait is abandoned after a timeout
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

function aborted(rank: number, signal: AbortSignal): LinkError {
  return new LinkError(
    "aborted",
    rank,
    `rank ${rank}: ring formation abandoned: ${String(signal.reason ?? "aborted")}`,
  );
}
