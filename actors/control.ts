/**
 * The control plane between the supervisor and its workers: one
 * authenticated TCP connection per worker carrying Cap'n Proto frames
 * (`stepReport`, `stepCommand`, `heartbeat`, `shutdown` and `control`
 * messages whose `kind` names them). It runs the ring's HMAC handshake with
 * fixed pseudo-ranks, so a peer without the secret never gets a message in.
 *
 * A background reader turns the connection into a queue, so a worker can
 * react to `abort` while it is blocked in a collective and the supervisor
 * notices a dead worker (end of stream) at once.
 *
 * @module
 */
import { LinkError } from "../runtime/errors.ts";
import { connectorHandshake, type HandshakeParams } from "../runtime/transport/handshake.ts";
import type { TcpAcceptor } from "../runtime/transport/acceptor.ts";
import { connectRetrying, parseAddress, TcpLink } from "../runtime/transport/tcp.ts";
import type { Link } from "../runtime/transport/link.ts";
import type { WireMessage } from "../runtime/wire/messages.ts";
import type { ControlBodies, ControlKind, ControlMessage } from "./messages.ts";

/** Pseudo-rank of the supervisor in the control handshake. */
export const SUPERVISOR_RANK = 0xffff_ffff;
/** Pseudo-rank of a joining worker in the control handshake. */
export const WORKER_RANK = 0xffff_fffe;
/** Ring id of every control connection (distinct from data rings' ids). */
export const CONTROL_RING_ID = 0x51_0da_c0_57n;

/** A decoded control-plane message (bulk bytes copied out of the frame). */
export type ControlEvent =
  | (ControlMessage & { type: "control"; blob: Uint8Array })
  | Exclude<WireMessage, { type: "control" }>;

/** Every control kind, for checking what arrives. */
export const CONTROL_KINDS: readonly ControlKind[] = [
  "join",
  "beat",
  "assign",
  "ready",
  "stats",
  "commitPart",
  "params",
  "failed",
  "nonFinite",
  "abort",
  "levels",
  "evalRequest",
];

/**
 * A control frame's kind and JSON text as a typed message: the kind must be
 * one of {@linkcode CONTROL_KINDS} and the body a JSON object. The sender is
 * authenticated, so the body's fields are trusted as its kind says.
 *
 * @throws {TypeError} An unknown kind, malformed JSON or a body that is not an object.
 */
export function parseControl(kind: string, json: string): ControlMessage {
  if (!(CONTROL_KINDS as readonly string[]).includes(kind)) {
    throw new TypeError(`unknown control message kind "${kind}"`);
  }
  let body: unknown;
  try {
    body = json === "" ? {} : JSON.parse(json);
  } catch (e) {
    throw new TypeError(`control "${kind}" with malformed JSON: ${(e as Error).message}`);
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new TypeError(`control "${kind}" with a body that is not an object`);
  }
  return { kind, body } as ControlMessage;
}

function params(rank: number, secret: Uint8Array | null, timeoutMs: number): HandshakeParams {
  return { ringId: CONTROL_RING_ID, epoch: 0, rank, worldSize: 0, secret, timeoutMs, nameOf };
}

/** The control plane's pseudo-ranks, as messages name them. */
function nameOf(rank: number): string {
  return rank === SUPERVISOR_RANK
    ? "the supervisor"
    : rank === WORKER_RANK
    ? "a worker"
    : `rank ${rank}`;
}

/**
 * The shared secret as key bytes (null for none): `secret` when given, else
 * the `QODA_RING_SECRET` environment variable, else the contents of the file
 * `QODA_RING_SECRET_FILE` names (trailing newline dropped), so that a secret
 * never has to appear on a command line.
 *
 * @throws {TypeError} `QODA_RING_SECRET_FILE` names a file that cannot be read.
 */
export function secretBytes(secret: string | null | undefined): Uint8Array | null {
  let s = secret ?? Deno.env.get("QODA_RING_SECRET");
  const file = Deno.env.get("QODA_RING_SECRET_FILE");
  if (s === undefined && file) {
    try {
      s = Deno.readTextFileSync(file).replace(/\r?\n$/, "");
    } catch (e) {
      throw new TypeError(
        `QODA_RING_SECRET_FILE=${file}: cannot read the secret: ${(e as Error).message}`,
      );
    }
  }
  return !s ? null : new TextEncoder().encode(s);
}

/**
 * One end of a control connection.
 *
 * @example A supervisor and a worker on loopback
 * ```ts
 * import { acceptControl, joinControl } from "./control.ts";
 * import { TcpAcceptor } from "../runtime/transport/acceptor.ts";
 * const acceptor = new TcpAcceptor(Deno.listen({ hostname: "127.0.0.1", port: 0 }));
 * const [sup, worker] = await Promise.all([
 *   acceptControl(acceptor, null),
 *   joinControl(`127.0.0.1:${acceptor.addr.port}`, null),
 * ]);
 * await worker.send("join", { name: "w", address: "127.0.0.1:1", pid: 1, device: "cpu" });
 * const m = await sup.next();
 * if (m?.type !== "control" || m.kind !== "join") throw new Error();
 * worker.close();
 * if ((await sup.next()) !== null) throw new Error("end of stream");
 * sup.close();
 * acceptor.close();
 * ```
 */
export class ControlChannel {
  /** The connection (TCP between processes, in memory within one). */
  readonly link: Link;
  /** Address of the other end, for messages. */
  readonly remote: string;
  readonly #queue: (ControlEvent | null | Error)[] = [];
  #waiter: (() => void) | null = null;
  #closed = false;

  /**
   * Creates it.
   * @param link An authenticated link (or an in-memory one).
   * @param remote The peer's address.
   */
  constructor(link: Link, remote: string) {
    this.link = link;
    this.remote = remote;
    this.#pump();
  }

  async #pump(): Promise<void> {
    for (;;) {
      let item: ControlEvent | null | Error;
      try {
        const r = await this.link.receive();
        if (r === null) item = null;
        else {
          const m = r.msg;
          if (m.type === "control") {
            let msg: ControlMessage;
            try {
              msg = parseControl(m.kind, m.json);
            } catch (e) {
              r.release();
              throw new LinkError("protocol", -1, `${this.remote} sent ${(e as Error).message}`);
            }
            item = { type: "control", ...msg, blob: m.blob.slice() };
          } else if (m.type === "chunk" || m.type === "hello" || m.type === "auth") {
            r.release();
            throw new LinkError(
              "protocol",
              -1,
              `${this.remote} sent a ${m.type} on the control plane`,
            );
          } else item = m;
          r.release();
        }
      } catch (e) {
        item = e instanceof Error ? e : new Error(String(e));
      }
      this.#queue.push(item);
      this.#waiter?.();
      if (item === null || item instanceof Error) return;
    }
  }

  /**
   * The next message; null once the peer closed the connection. Rejects with
   * the link's error (a reset, a malformed frame).
   */
  async next(): Promise<ControlEvent | null> {
    while (this.#queue.length === 0) {
      await new Promise<void>((r) => (this.#waiter = r));
      this.#waiter = null;
    }
    const item = this.#queue[0];
    if (item === null || item instanceof Error) {
      if (item instanceof Error) throw item;
      return null;
    }
    this.#queue.shift();
    return item;
  }

  /** Sends a `control` message of `kind` with its body and optional bulk bytes. */
  send<K extends ControlKind>(kind: K, body: ControlBodies[K], blob?: Uint8Array): Promise<void> {
    return this.link.send({
      type: "control",
      kind,
      json: JSON.stringify(body),
      blob: blob ?? new Uint8Array(0),
    });
  }

  /** Sends any other wire message (step report, command, heartbeat, shutdown). */
  sendWire(msg: WireMessage): Promise<void> {
    return this.link.send(msg);
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the connection. */
  close(): void {
    this.#closed = true;
    this.link.close();
  }
}

/**
 * Supervisor side: the next worker connection that passes the control
 * handshake at `acceptor`. Connections handshake concurrently, each with its
 * own deadline (see {@linkcode TcpAcceptor}), so an idle or hostile one never
 * holds up a worker; refused ones are logged by the acceptor.
 *
 * @param acceptor The acceptor of the supervisor's control listener.
 * @param secret Shared secret (null: none, loopback only).
 * @param timeoutMs Handshake deadline of each connection.
 */
export async function acceptControl(
  acceptor: TcpAcceptor,
  secret: Uint8Array | null,
  timeoutMs = 10_000,
): Promise<ControlChannel> {
  acceptor.setParamsOnce(params(SUPERVISOR_RANK, secret, timeoutMs), WORKER_RANK);
  const link = await acceptor.next();
  return new ControlChannel(link, link.remote);
}

/**
 * Worker side: connects to the supervisor at `address` ("host:port") and
 * authenticates, retrying the connection for up to `timeoutMs`.
 *
 * @param address The supervisor's control address.
 * @param secret Shared secret (null: none).
 * @param timeoutMs How long to keep trying.
 */
export async function joinControl(
  address: string,
  secret: Uint8Array | null,
  timeoutMs = 30_000,
): Promise<ControlChannel> {
  const { hostname, port } = parseAddress(address);
  const deadline = performance.now() + timeoutMs;
  const conn = await connectRetrying(
    hostname,
    port,
    deadline,
    (e) =>
      new LinkError(
        "io",
        -1,
        `could not reach the supervisor at ${address} within ${timeoutMs} ms: ${e.message}`,
      ),
  );
  const link = new TcpLink(conn, -1);
  try {
    await connectorHandshake(link, params(WORKER_RANK, secret, timeoutMs), SUPERVISOR_RANK);
  } catch (e) {
    link.close();
    throw e;
  }
  return new ControlChannel(link, address);
}
