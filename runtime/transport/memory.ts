/**
 * In-process links: pairs of queues that behave like a connection (ordered,
 * closable), for tests and single-process simulations. Payload bytes are
 * copied on send, as a socket would.
 *
 * @module
 */
import { LinkError } from "../errors.ts";
import type { WireMessage } from "../wire/messages.ts";
import type { Link, Received } from "./link.ts";

const NO_RELEASE = () => {};

/** One end of an in-memory connection. */
class MemoryLink implements Link {
  readonly peer: number;
  other!: MemoryLink;
  readonly #queue: (Received | null)[] = [];
  #waiter: ((r: Received | null) => void) | null = null;
  #closed = false;
  #writeClosed = false;

  constructor(peer: number) {
    this.peer = peer;
  }

  send(msg: WireMessage): Promise<void> {
    if (this.#closed || this.#writeClosed || this.other.#closed) {
      return Promise.reject(
        new LinkError("peer-closed", this.peer, `link to rank ${this.peer} is closed`),
      );
    }
    this.other.#deliver({ msg: copyBytes(msg), release: NO_RELEASE });
    return Promise.resolve();
  }

  receive(): Promise<Received | null> {
    if (this.#queue.length) return Promise.resolve(this.#queue.shift()!);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiter = resolve);
  }

  closeWrite(): void {
    if (this.#writeClosed || this.#closed) return;
    this.#writeClosed = true;
    this.other.#deliver(null);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#deliver(null);
    if (!this.#writeClosed) this.other.#deliver(null);
  }

  #deliver(r: Received | null): void {
    const w = this.#waiter;
    if (w) {
      this.#waiter = null;
      w(r);
    } else this.#queue.push(r);
  }
}

function copyBytes(msg: WireMessage): WireMessage {
  switch (msg.type) {
    case "chunk": {
      // The sender's room around its payload is not the receiver's (and is not sent).
      const { headroom: _h, tailroom: _t, ...rest } = msg;
      return { ...rest, payload: msg.payload.slice() };
    }
    case "hello":
      return { ...msg, nonce: msg.nonce.slice(), mac: msg.mac.slice() };
    case "auth":
      return { ...msg, mac: msg.mac.slice() };
    default:
      return { ...msg };
  }
}

/**
 * Two connected in-memory links: `a` talks to rank `rankB`, `b` to `rankA`.
 *
 * @example A heartbeat from one end to the other
 * ```ts
 * import { memoryLinkPair } from "@qoda/ring/transport";
 * const [a, b] = memoryLinkPair(0, 1);
 * await a.send({ type: "heartbeat", epoch: 0, rank: 0, timeMs: 1 });
 * const got = await b.receive();
 * if (got?.msg.type !== "heartbeat") throw new Error("lost");
 * ```
 */
export function memoryLinkPair(rankA: number, rankB: number): [Link, Link] {
  const a = new MemoryLink(rankB), b = new MemoryLink(rankA);
  a.other = b;
  b.other = a;
  return [a, b];
}

/**
 * The links of an in-memory ring of `size` ranks: `links[r]` is rank r's
 * `{ left, right }` (left: from rank r−1, right: to rank r+1). For a ring of
 * one, both are null.
 *
 * @example What rank 0 sends right, rank 1 receives on its left
 * ```ts
 * import { memoryRing } from "@qoda/ring";
 * const ring = memoryRing(3);
 * if (ring[0].right?.peer !== 1 || ring[0].left?.peer !== 2) throw new Error("wrong peers");
 * await ring[0].right.send({ type: "heartbeat", epoch: 0, rank: 0, timeMs: 5 });
 * const got = await ring[1].left!.receive();
 * if (got?.msg.type !== "heartbeat" || got.msg.rank !== 0) throw new Error("lost");
 * got.release();
 * for (const { left, right } of ring) { left?.close(); right?.close(); }
 * if (memoryRing(1)[0].left !== null) throw new Error("a ring of one has no links");
 * ```
 */
export function memoryRing(size: number): { left: Link | null; right: Link | null }[] {
  const out = Array.from({ length: size }, () => ({
    left: null as Link | null,
    right: null as Link | null,
  }));
  if (size < 2) return out;
  for (let r = 0; r < size; r++) {
    const next = (r + 1) % size;
    const [toNext, fromPrev] = memoryLinkPair(r, next);
    out[r].right = toNext;
    out[next].left = fromPrev;
  }
  return out;
}
