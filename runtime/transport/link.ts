/**
 * A `Link` is one bidirectional connection to a peer rank. Collectives are
 * written against it and never see a socket: `tcp.ts` implements it over a
 * TCP connection, `memory.ts` over in-process queues (for tests).
 *
 * @module
 */
import type { WireMessage } from "../wire/messages.ts";

/** A received message. Its byte views (payload, nonce, mac) stay valid until `release()`. */
export interface Received {
  /** The message. */
  msg: WireMessage;
  /** Hands the receive buffer back; call once the message's bytes are no longer needed. */
  release(): void;
}

/** One connection to a peer rank. */
export interface Link {
  /** The peer's rank. */
  readonly peer: number;
  /** True when chunk payloads to the peer go through shared memory (a TCP link on one host). */
  readonly sendsThroughSharedMemory?: boolean;
  /**
   * Sends one message. Resolves once it is handed to the transport; rejects
   * with a `LinkError` when the link has failed or closed. The message's
   * byte views may be reused as soon as the promise resolves.
   */
  send(msg: WireMessage): Promise<void>;
  /**
   * The next message from the peer, in order; `null` once the peer closed the
   * connection cleanly. Rejects with a `LinkError` when the link failed. One
   * caller at a time.
   */
  receive(): Promise<Received | null>;
  /**
   * Stops sending (a half-close: the peer reads end-of-stream) while
   * receiving goes on, so this side can drain what the peer still sends.
   */
  closeWrite(): void;
  /** Closes the link; pending and later calls fail. Idempotent. */
  close(): void;
}
