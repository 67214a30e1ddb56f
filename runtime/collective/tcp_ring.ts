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
 * @example A ring of two over loopback TCP, in one process
 * ```ts
 * import { allreduce, connectTcpRing } from "@qoda/ring";
 * import { TcpAcceptor } from "@qoda/ring/transport";
 * // Acceptors on free ports; each rank's address is then known to all.
 * const acceptors = [0, 1].map(() => new TcpAcceptor(Deno.listen({ hostname: "127.0.0.1", port: 0 })));
 * const peers = acceptors.map((a) => `127.0.0.1:${a.addr.port}`);
 * const ctxs = await Promise.all(
 *   acceptors.map((acceptor, rank) => connectTcpRing({ rank, peers, acceptor })),
 * );
 * acceptors.forEach((a) => a.close());
 * const bufs = [new Float32Array([1, 2]), new Float32Array([10, 20])];
 * await Promise.all(ctxs.map((c, r) => allreduce(c, bufs[r])));
 * if (bufs[0].join() !== "11,22" || bufs[1].join() !== "11,22") throw new Error("wrong sum");
 * await Promise.all(ctxs.map((c) => c.closeGracefully()));
 * ```
 *
 * @example A ring of one needs no sockets
 * ```ts
 * import { connectTcpRing } from "@qoda/ring";
 * const ctx = await connectTcpRing({ rank: 0, peers: ["127.0.0.1:1"] });
 * if (ctx.size !== 1 || ctx.leftRank !== 0) throw new Error();
 * ctx.close();
 * ```
 */
export async function connectTcpRing(options: TcpRingOptions): Promise<RingContext> {
  const { rank, peers, ringId = 0n, epoch = 0, timeoutMs, log = () => {} } = options;
  const links = await connectTcpLinks(options);
  return new RingContext({ rank, size: peers.length, ringId, epoch, timeoutMs, log, ...links });
}
