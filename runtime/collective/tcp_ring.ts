/**
 * Forming a ring across processes or hosts: TCP links to both neighbours
 * (`transport/tcp.ts`) wrapped in a {@linkcode RingContext}.
 *
 * @module
 */
import { connectTcpLinks, type TcpRingOptions } from "../transport/tcp.ts";
import { RingContext } from "./context.ts";

/**
 * Forms this rank's part of a TCP ring and resolves to a
 * {@linkcode RingContext} ready for collectives. Every rank calls it with the
 * same `peers` list (every rank's `host:port`, in rank order) and its own
 * `rank`; off loopback a shared `secret` is required.
 *
 * @example A ring of one needs no sockets
 * ```ts
 * import { connectTcpRing } from "./tcp_ring.ts";
 * const ctx = await connectTcpRing({ rank: 0, peers: ["127.0.0.1:1"] });
 * if (ctx.size !== 1) throw new Error();
 * ctx.close();
 * ```
 */
export async function connectTcpRing(options: TcpRingOptions): Promise<RingContext> {
  const { rank, peers, ringId = 0n, epoch = 0, timeoutMs, log = () => {} } = options;
  const links = await connectTcpLinks(options);
  return new RingContext({ rank, size: peers.length, ringId, epoch, timeoutMs, log, ...links });
}
