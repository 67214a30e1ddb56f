/**
 * The state of one rank's membership in a ring: its two links, epoch and
 * operation counter, and its failure state.
 *
 * Data flows one way: a rank receives chunks from its left neighbour (rank
 * r − 1) and sends chunks to its right neighbour (rank r + 1). Both links also
 * carry control messages the other way, so a failure report reaches every rank.
 *
 * Failure is all-for-one: the first error a rank sees (a link closing, a
 * deadline passing, a mismatched frame, or an error report from a neighbour)
 * fails its pending operation, is forwarded to both neighbours, and makes every
 * later operation on this context fail at once. The ring must then be re-formed
 * (new links, a new epoch).
 *
 * @module
 */
import {
  CollectiveError,
  CollectiveTimeoutError,
  LinkError,
  RemoteFailureError,
} from "../errors.ts";
import type { ChunkMessage, WireMessage } from "../wire/messages.ts";
import type { Link, Received } from "../transport/link.ts";

/** Default per-operation deadline. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** Options of {@linkcode RingContext}. */
export interface RingContextOptions {
  /** This rank. */
  rank: number;
  /** Number of ranks. */
  size: number;
  /** Link from rank − 1 (null for a ring of one). */
  left: Link | null;
  /** Link to rank + 1 (null for a ring of one). */
  right: Link | null;
  /** Ring identifier. @default {0n} */
  ringId?: bigint;
  /** Ring generation. @default {0} */
  epoch?: number;
  /** Per-operation deadline in ms. @default {30000} */
  timeoutMs?: number;
  /** Receives one line per notable event (dropped frames, failures). */
  log?: (line: string) => void;
}

/** A chunk received from the left neighbour, with its buffer's release. */
export interface ReceivedChunk {
  /** The chunk; its payload is a view into the receive buffer. */
  msg: ChunkMessage;
  /** Hands the receive buffer back; call once the payload is no longer needed. */
  release(): void;
}

/**
 * One rank's view of a ring.
 *
 * @example A ring of three in one process
 * ```ts
 * import { allreduce, memoryRing, RingContext } from "@qoda/ring";
 * const links = memoryRing(3);
 * const ctxs = links.map((l, rank) => new RingContext({ rank, size: 3, ...l }));
 * const bufs = [0, 1, 2].map((r) => new Float32Array([r, 10 * r]));
 * await Promise.all(ctxs.map((c, r) => allreduce(c, bufs[r])));
 * if (bufs[2][0] !== 3 || bufs[0][1] !== 30) throw new Error("wrong sum");
 * if (ctxs[0].leftRank !== 2 || ctxs[0].rightRank !== 1) throw new Error("wrong neighbours");
 * ctxs.forEach((c) => c.close());
 * if (ctxs[1].failure !== null) throw new Error("a clean close is not a failure");
 * ```
 */
export class RingContext {
  /** This rank. */
  readonly rank: number;
  /** Number of ranks. */
  readonly size: number;
  /** Ring identifier. */
  readonly ringId: bigint;
  /** Ring generation. */
  readonly epoch: number;
  /** Per-operation deadline in ms. */
  readonly timeoutMs: number;
  readonly #left: Link | null;
  readonly #right: Link | null;
  readonly #log: (line: string) => void;
  readonly #chunks: ReceivedChunk[] = [];
  #waiter: { resolve: (c: ReceivedChunk) => void; reject: (e: Error) => void } | null = null;
  #failure: CollectiveError | null = null;
  #closing = false;
  readonly #pumps: Promise<void>[] = [];
  #opId = 0;
  #currentOp = -1;
  /** Set once the left neighbour has left (shut down or hung up after saying so). */
  #leftGone: string | null = null;

  /**
   * Joins a ring over the given links and starts reading from both of them.
   *
   * @param options Rank, size, links and deadlines (see {@linkcode RingContextOptions}).
   * @throws {RangeError} When the size is not a positive integer, the rank is
   *   outside 0..size − 1, or a ring of more than one lacks a link.
   */
  constructor(options: RingContextOptions) {
    const { rank, size, left, right, ringId = 0n, epoch = 0 } = options;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`ring size ${size} < 1`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= size) {
      throw new RangeError(`rank ${rank} is outside 0..${size - 1}`);
    }
    if (size > 1 && (!left || !right)) {
      throw new RangeError(`a ring of ${size} needs both a left and a right link`);
    }
    this.rank = rank;
    this.size = size;
    this.ringId = ringId;
    this.epoch = epoch;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#left = left;
    this.#right = right;
    this.#log = options.log ?? (() => {});
    if (left) this.#pumps.push(this.#pump(left, "left"));
    if (right) this.#pumps.push(this.#pump(right, "right"));
  }

  /** Rank of the left neighbour (which sends to this rank). */
  get leftRank(): number {
    return (this.rank + this.size - 1) % this.size;
  }

  /** Rank of the right neighbour (to which this rank sends). */
  get rightRank(): number {
    return (this.rank + 1) % this.size;
  }

  /**
   * How chunk payloads reach the right neighbour: `shm` (shared memory), `tcp`, or `memory`
   * (in-process links, or a ring of one).
   */
  get transport(): "shm" | "tcp" | "memory" {
    const r = this.#right;
    if (r?.sendsThroughSharedMemory) return "shm";
    return r && r.sendsThroughSharedMemory !== undefined ? "tcp" : "memory";
  }

  /** The error that broke this ring, or null. */
  get failure(): CollectiveError | null {
    return this.#failure;
  }

  /** Throws the ring's failure, if any. */
  throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
    if (this.#closing) throw new CollectiveError("closed", -1, "the ring context is closed");
  }

  /** Starts an operation: returns its id (the same sequence on every rank). */
  beginOp(): number {
    this.throwIfFailed();
    this.#currentOp = this.#opId++;
    return this.#currentOp;
  }

  /** Marks the current operation finished. */
  endOp(): void {
    this.#currentOp = -1;
  }

  /** Sends a chunk to the right neighbour; a failed send fails the ring. */
  async sendChunk(msg: ChunkMessage): Promise<void> {
    this.throwIfFailed();
    try {
      await this.#right!.send(msg);
    } catch (e) {
      throw this.fail(asCollective(e, this.rightRank));
    }
  }

  /**
   * The next chunk from the left neighbour, or a failure: the ring's error,
   * or a {@linkcode CollectiveTimeoutError} once `deadline`
   * (`performance.now()` time) passes.
   */
  recvChunk(deadline: number, what: () => string): Promise<ReceivedChunk> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#chunks.length) return Promise.resolve(this.#chunks.shift()!);
    if (this.#leftGone !== null) {
      return Promise.reject(this.fail(new LinkError("peer-closed", this.leftRank, this.#leftGone)));
    }
    return new Promise((resolve, reject) => {
      const ms = Math.max(0, deadline - performance.now());
      const timer = setTimeout(() => {
        this.#waiter = null;
        reject(this.fail(
          new CollectiveTimeoutError(
            this.leftRank,
            this.timeoutMs,
            `rank ${this.rank}: operation ${this.#currentOp} passed its ${this.timeoutMs} ms ` +
              `deadline waiting for ${what()} from rank ${this.leftRank}`,
          ),
        ));
      }, ms);
      this.#waiter = {
        resolve: (c) => {
          clearTimeout(timer);
          resolve(c);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /**
   * Records the ring's first failure (later ones are ignored), fails the
   * pending receive, and reports it to both neighbours. Returns the failure
   * in force, to be thrown.
   */
  fail(error: CollectiveError): CollectiveError {
    if (this.#failure) return this.#failure;
    this.#failure = error;
    this.#log(`rank ${this.rank}: ring failed: ${error.message}`);
    this.#rejectWaiter(error);
    for (const c of this.#chunks.splice(0)) c.release();
    const report: WireMessage = {
      type: "error",
      epoch: this.epoch,
      opId: this.#currentOp,
      reporter: error instanceof RemoteFailureError ? error.reporter : this.rank,
      culprit: error.culprit,
      code: error.code,
      message: error instanceof RemoteFailureError
        ? error.message.replace(/^rank \d+ reported: /, "")
        : error.message,
    };
    for (const link of [this.#left, this.#right]) {
      link?.send(report).catch(() => {}); // best effort: the link may be the broken one
    }
    return error;
  }

  /**
   * Leaves the ring cleanly: tells both neighbours (a shutdown, after any
   * failure report already queued), half-closes, and keeps draining until
   * both neighbours have hung up or `lingerMs` passes, then closes. Closing
   * with unread data would make TCP reset the connection and could overtake
   * the failure report, so a failed rank should leave this way.
   */
  async closeGracefully(reason = "closed", lingerMs = 2000): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#rejectWaiter(new CollectiveError("closed", -1, "the ring context is closed"));
    const links = [this.#left, this.#right].filter((l): l is Link => l !== null);
    const bye: WireMessage = { type: "shutdown", epoch: this.epoch, reason };
    await Promise.allSettled(links.map((l) => l.send(bye)));
    links.forEach((l) => l.closeWrite());
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled(this.#pumps),
      new Promise((r) => timer = setTimeout(r, lingerMs)),
    ]);
    clearTimeout(timer);
    links.forEach((l) => l.close());
  }

  /** Closes both links at once (tell the neighbours first). Idempotent. */
  close(reason = "closed"): void {
    if (this.#closing) return;
    this.#closing = true;
    const bye: WireMessage = { type: "shutdown", epoch: this.epoch, reason };
    for (const link of [this.#left, this.#right]) {
      if (!link) continue;
      link.send(bye).catch(() => {}).finally(() => link.close());
    }
    this.#rejectWaiter(new CollectiveError("closed", -1, "the ring context is closed"));
  }

  /** The left neighbour has left: a pending receive fails now, a later one once the queue is empty. */
  #leftLeaves(peer: number, what: string): void {
    this.#leftGone ??= `rank ${peer} ${what}`;
    if (this.#currentOp >= 0 && this.#waiter) {
      this.fail(new LinkError("peer-closed", peer, this.#leftGone));
    }
  }

  /** Fails the pending receive, if any. */
  #rejectWaiter(error: Error): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.reject(error);
  }

  async #pump(link: Link, side: "left" | "right"): Promise<void> {
    const peer = link.peer;
    let peerLeaving = false;
    for (;;) {
      let r: Received | null;
      try {
        r = await link.receive();
      } catch (e) {
        if (!this.#closing) this.fail(asCollective(e, peer));
        return;
      }
      if (r === null) {
        if (this.#closing) return;
        if (!peerLeaving) {
          this.fail(
            new LinkError(
              "peer-closed",
              peer,
              `rank ${peer} (${side} neighbour) closed the connection`,
            ),
          );
        } else if (side === "left") this.#leftLeaves(peer, "closed the connection");
        return;
      }
      const m = r.msg;
      if ("epoch" in m && m.epoch !== this.epoch) {
        r.release();
        if (m.epoch < this.epoch) {
          this.#log(`rank ${this.rank}: dropped a ${m.type} frame of old epoch ${m.epoch}`);
          continue;
        }
        this.fail(
          new CollectiveError(
            "protocol",
            peer,
            `rank ${peer} sent epoch ${m.epoch}, ahead of this ring's epoch ${this.epoch}`,
          ),
        );
        return;
      }
      switch (m.type) {
        case "chunk": {
          if (side !== "left" || m.ringId !== this.ringId) {
            r.release();
            this.fail(
              new CollectiveError(
                "protocol",
                peer,
                side !== "left"
                  ? `rank ${peer} sent data against the ring's direction`
                  : `rank ${peer} belongs to ring ${m.ringId}, not ${this.ringId}`,
              ),
            );
            return;
          }
          if (this.#failure) {
            r.release();
            continue;
          }
          const c = { msg: m, release: r.release };
          const w = this.#waiter;
          if (w) {
            this.#waiter = null;
            w.resolve(c);
          } else this.#chunks.push(c);
          continue; // the consumer releases it
        }
        case "error":
          this.fail(new RemoteFailureError(m.code, m.culprit, m.reporter, m.message));
          break;
        case "shutdown":
          // A neighbour that leaves in the middle of an operation (it finished first) fails
          // it only where something is still owed: chunks come from the left neighbour, after
          // which its shutdown travels on the same link, so only a receive with nothing left
          // queued fails; the right neighbour sends no data, and a send to it after it is
          // gone fails on its own.
          peerLeaving = true;
          if (side === "left") this.#leftLeaves(peer, `shut down: ${m.reason}`);
          break;
        default:
          break; // heartbeats and other control traffic are not for the collective
      }
      r.release();
    }
  }
}

function asCollective(e: unknown, peer: number): CollectiveError {
  if (e instanceof CollectiveError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new LinkError("io", peer, `link to rank ${peer} failed: ${message}`, { cause: e });
}
