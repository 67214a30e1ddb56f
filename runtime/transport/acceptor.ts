/**
 * The accepting side of a listening port: one accept loop for the listener's
 * whole life, and a handshake per connection, all at once, each with its own
 * deadline, so that an idle or slow peer never holds up another (or a later
 * ring formation: nothing is left pending on the listener when one fails).
 *
 * Unauthenticated connections are capped, per peer address and in total;
 * when a cap is reached the oldest waiting connection (the idlest) is
 * dropped to make room, so a flood of idle connections cannot lock out a
 * real peer. Connections that arrive before the handshake parameters are
 * known (a neighbour connecting before this rank is ready) wait for them, up
 * to `waitMs`.
 *
 * @module
 */
import { HandshakeError } from "../errors.ts";
import { acceptorHandshake, type HandshakeParams } from "./handshake.ts";
import { TcpLink } from "./tcp_link.ts";

/** Options of {@linkcode TcpAcceptor}. */
export interface TcpAcceptorOptions {
  /** Most unauthenticated connections at once. @default {256} */
  maxPending?: number;
  /** Most unauthenticated connections from one peer address. @default {64} */
  maxPendingPerAddress?: number;
  /** How long a connection may wait for handshake parameters, ms. @default {30000} */
  waitMs?: number;
  /** One line per refused or dropped connection. */
  log?: (line: string) => void;
}

interface Pending {
  link: TcpLink;
  /** The peer's host (the per-address cap counts by it). */
  host: string;
  /** The peer's host:port, for messages. */
  address: string;
  since: number;
  /** The parameters generation it is handshaking under (0: waiting). */
  generation: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Accepts and authenticates connections on `listener` concurrently.
 *
 * @example Two connections, one of them idle: the real peer gets through at once
 * ```ts
 * import { connectorHandshake, TcpAcceptor, TcpLink } from "@qoda/ring/transport";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const port = (listener.addr as Deno.NetAddr).port;
 * const acceptor = new TcpAcceptor(listener);
 * const params = { ringId: 7n, epoch: 1, worldSize: 2, secret: null, timeoutMs: 5_000 };
 * acceptor.setParams({ ...params, rank: 1 }, 0);
 * const idle = await Deno.connect({ hostname: "127.0.0.1", port }); // sends nothing
 * const peer = new TcpLink(await Deno.connect({ hostname: "127.0.0.1", port }), 1);
 * const t0 = performance.now();
 * const [link] = await Promise.all([acceptor.next(), connectorHandshake(peer, { ...params, rank: 0 }, 1)]);
 * if (performance.now() - t0 > 2_000) throw new Error("the idle connection held up the peer");
 * link.close();
 * peer.close();
 * idle.close();
 * acceptor.close();
 * ```
 */
export class TcpAcceptor {
  readonly #listener: Deno.TcpListener;
  readonly #maxPending: number;
  readonly #maxPerAddress: number;
  readonly #waitMs: number;
  readonly #log: (line: string) => void;
  readonly #pending: Pending[] = [];
  readonly #ready: TcpLink[] = [];
  #waiters: { resolve: (l: TcpLink) => void; reject: (e: Error) => void }[] = [];
  #params: { params: HandshakeParams; peerRank: number } | null = null;
  #generation = 0;
  #closed = false;

  /**
   * Starts accepting on `listener` (the acceptor owns it from now on).
   * @param listener A listening TCP socket.
   * @param options Caps, waiting time, log.
   */
  constructor(listener: Deno.TcpListener, options: TcpAcceptorOptions = {}) {
    const { maxPending = 256, maxPendingPerAddress = 64, waitMs = 30_000 } = options;
    if (!(maxPending >= 1 && maxPendingPerAddress >= 1)) {
      throw new RangeError(
        `maxPending and maxPendingPerAddress must be ≥ 1, got ${maxPending} and ${maxPendingPerAddress}`,
      );
    }
    this.#listener = listener;
    this.#maxPending = maxPending;
    this.#maxPerAddress = maxPendingPerAddress;
    this.#waitMs = waitMs;
    this.#log = options.log ?? (() => {});
    this.#acceptLoop();
  }

  /** The listener's address. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr as Deno.NetAddr;
  }

  /** Unauthenticated connections held now (waiting or handshaking). */
  get pending(): number {
    return this.#pending.length;
  }

  /**
   * The handshake parameters of this side and the rank the peers must have:
   * every connection held, and every one that arrives, handshakes under them.
   * Links authenticated under earlier parameters and not yet taken are closed.
   */
  setParams(params: HandshakeParams, peerRank: number): void {
    this.#dropReady();
    this.#params = { params, peerRank };
    this.#generation++;
    for (const p of this.#pending) if (p.generation === 0) this.#handshake(p);
  }

  /** {@linkcode setParams}, unless parameters are already in force (a listener serving one kind of peer). */
  setParamsOnce(params: HandshakeParams, peerRank: number): void {
    if (!this.#params) this.setParams(params, peerRank);
  }

  /**
   * Forgets the parameters: connections that arrive now wait; authenticated
   * links not yet taken are closed; a pending {@linkcode next} rejects.
   */
  clear(reason = "the acceptor's parameters were cleared"): void {
    this.#params = null;
    this.#generation++;
    this.#dropReady();
    const w = this.#waiters;
    this.#waiters = [];
    for (const x of w) x.reject(new HandshakeError(reason));
  }

  /** The next authenticated link (in order of completed handshakes). */
  next(): Promise<TcpLink> {
    if (this.#closed) return Promise.reject(new HandshakeError("the acceptor is closed"));
    const l = this.#ready.shift();
    if (l) return Promise.resolve(l);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Stops accepting, closes the listener and every connection not taken. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.clear("the acceptor is closed");
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    for (const p of this.#pending.splice(0)) this.#drop(p);
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        this.close(); // the listener was closed
        return;
      }
      if (this.#closed) {
        conn.close();
        return;
      }
      this.#admit(conn);
    }
  }

  #admit(conn: Deno.TcpConn): void {
    const a = conn.remoteAddr as Deno.NetAddr;
    const host = a.hostname;
    const fromSame = this.#pending.filter((p) => p.host === host);
    if (fromSame.length >= this.#maxPerAddress) {
      this.#evict(fromSame[0], `more than ${this.#maxPerAddress} unauthenticated from ${host}`);
    }
    if (this.#pending.length >= this.#maxPending) {
      this.#evict(this.#pending[0], `more than ${this.#maxPending} unauthenticated connections`);
    }
    const p: Pending = {
      link: new TcpLink(conn, -1),
      host,
      address: `${host}:${a.port}`,
      since: performance.now(),
      generation: 0,
      timer: undefined,
    };
    p.timer = setTimeout(
      () => this.#evict(p, `no handshake within ${this.#waitMs} ms`),
      this.#waitMs,
    );
    this.#pending.push(p);
    if (this.#params) this.#handshake(p);
  }

  async #handshake(p: Pending): Promise<void> {
    const current = this.#params!;
    const generation = p.generation = this.#generation;
    try {
      await acceptorHandshake(p.link, current.params, current.peerRank);
    } catch (e) {
      if (this.#remove(p)) {
        this.#log(`refused a connection from ${p.address}: ${(e as Error).message}`);
        p.link.close();
      }
      return;
    }
    if (!this.#remove(p)) return; // evicted meanwhile
    if (generation !== this.#generation || this.#closed) {
      p.link.close(); // authenticated under parameters no longer in force
      return;
    }
    p.link.peer = current.peerRank;
    const w = this.#waiters.shift();
    if (w) w.resolve(p.link);
    else this.#ready.push(p.link);
  }

  #evict(p: Pending, why: string): void {
    if (!this.#remove(p)) return;
    this.#log(`dropped a connection from ${p.address}: ${why}`);
    this.#drop(p);
  }

  /** Takes `p` off the pending list; false if it was not on it. */
  #remove(p: Pending): boolean {
    const i = this.#pending.indexOf(p);
    if (i < 0) return false;
    this.#pending.splice(i, 1);
    clearTimeout(p.timer);
    return true;
  }

  #drop(p: Pending): void {
    clearTimeout(p.timer);
    p.link.close();
  }

  #dropReady(): void {
    for (const l of this.#ready.splice(0)) l.close();
  }
}
