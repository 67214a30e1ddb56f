/**
 * Transports: the abstract {@linkcode Link} a collective runs over, an
 * in-process ring of links ({@linkcode memoryRing}) and TCP links with an
 * authenticated handshake ({@linkcode connectTcpLinks}), whose chunk payloads
 * go through shared memory between processes on one host ({@linkcode ShmRegion}). Transports know
 * nothing of collectives: `connectTcpRing` in `@qoda/ring/collective` wraps
 * the links in a ring context.
 *
 * @example An in-process ring of three: each rank's two links
 * ```ts
 * import { memoryRing } from "@qoda/ring/transport";
 * const ring = memoryRing(3);
 * if (ring.length !== 3 || ring[0].right === null) throw new Error();
 * for (const { left, right } of ring) { left?.close(); right?.close(); }
 * ```
 *
 * @module
 */
export type { Link, Received } from "./link.ts";
export { memoryLinkPair, memoryRing } from "./memory.ts";
export { TcpAcceptor, type TcpAcceptorOptions } from "./acceptor.ts";
export { acceptorHandshake, connectorHandshake, type HandshakeParams } from "./handshake.ts";
export {
  connectTcpLinks,
  isLoopback,
  parseAddress,
  RingConfigError,
  type RingLinks,
  TcpLink,
  type TcpRingOptions,
} from "./tcp.ts";
export { type LinkSharedMemory } from "./tcp_link.ts";
export { MAX_SHM_SLOTS, sharedMemoryAvailable, type ShmOffer, ShmRegion } from "./shm.ts";
export type {
  AuthMessage,
  BarrierMessage,
  ChunkMessage,
  ControlMessage,
  ErrorMessage,
  HeartbeatMessage,
  HelloMessage,
  Phase,
  ShutdownMessage,
  StepCommandMessage,
  StepReportMessage,
  WireMessage,
} from "../wire/messages.ts";
export type { QodaError } from "../errors.ts";
