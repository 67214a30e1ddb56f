/**
 * Every message that crosses a socket, as plain TypeScript values. This file
 * is types only: `runtime/wire/codec.ts` turns these into Cap'n Proto frames
 * and back, and nothing outside `runtime/wire/` touches Cap'n Proto objects.
 *
 * @module
 */

/** Protocol version carried in every handshake. */
export const PROTOCOL_VERSION = 2;

/** First message on a new connection, sent by both sides. */
export interface HelloMessage {
  /** Discriminant. */
  type: "hello";
  /** Protocol version ({@linkcode PROTOCOL_VERSION}). */
  version: number;
  /** Identifies the ring (all members share it). */
  ringId: bigint;
  /** Ring generation; bumped whenever the ring is re-formed. */
  epoch: number;
  /** The sender's rank. */
  rank: number;
  /** Number of ranks. */
  worldSize: number;
  /** 32 fresh random bytes. */
  nonce: Uint8Array;
  /** HMAC-SHA256 proof from the acceptor (empty in the connector's hello or without a secret). */
  mac: Uint8Array;
}

/** The connector's proof, answering the acceptor's hello. */
export interface AuthMessage {
  /** Discriminant. */
  type: "auth";
  /** HMAC-SHA256 proof (empty without a secret). */
  mac: Uint8Array;
}

/** Which half of the all-reduce a chunk belongs to. */
export type Phase = "reduceScatter" | "allGather";

/** One segment of data moving around the ring. */
export interface ChunkMessage {
  /** Discriminant. */
  type: "chunk";
  /** The ring the chunk belongs to (the handshake's ring id). */
  ringId: bigint;
  /** Ring generation the chunk was sent in. */
  epoch: number;
  /** Collective operation sequence number (same on every rank). */
  opId: number;
  /** Which half of the all-reduce the chunk belongs to. */
  phase: Phase;
  /** Step within the phase (0 .. N−2). */
  hop: number;
  /** Segment index within the operation's segment plan. */
  segment: number;
  /** Total number of float32 elements of the operation (for mismatch detection). */
  totalLength: number;
  /** Offset of the segment's first element in the flat buffer. */
  offset: number;
  /** Number of elements in the segment. */
  count: number;
  /** Scheme of the payload ("fp32" for raw float32, else a quantizer scheme name). */
  scheme: string;
  /** Bits per coordinate of the payload's quantizer (32 for fp32). */
  bits: number;
  /** The data: raw little-endian float32, or an encoded quantizer frame. A view, not a copy. */
  payload: Uint8Array;
  /**
   * Set on the wire only, by a link with shared memory (`transport/shm.ts`): the payload is
   * not in the frame (`payload` is empty there) but `bytes` bytes in the sender's
   * shared-memory slot `slot`. A receiving link resolves it into `payload` before a collective
   * sees the message.
   */
  shm?: { slot: number; bytes: number };
  /**
   * Bytes of `payload.buffer` just before the payload that the sending link
   * may overwrite, so that it can write the frame's head and the payload in
   * one call (a TCP link does when the head fits). Not sent. @default {0}
   */
  headroom?: number;
  /**
   * Bytes of `payload.buffer` just after the payload that the sending link
   * may overwrite (with the frame's zero padding, at most 7). Not sent.
   * @default {0}
   */
  tailroom?: number;
}

/** A barrier token. */
export interface BarrierMessage {
  /** Discriminant. */
  type: "barrier";
  /** Ring generation the barrier belongs to. */
  epoch: number;
  /** Barrier sequence number. */
  id: bigint;
}

/** A worker's per-step report to the supervisor (issue 4). */
export interface StepReportMessage {
  /** Discriminant. */
  type: "stepReport";
  /** Ring generation the step ran in. */
  epoch: number;
  /** The iteration reported (1-based). */
  step: number;
  /** The reporting worker's rank. */
  rank: number;
  /** ‖V̄_{t+1/2} − V̄_{t−1/2}‖². */
  sqDiff: number;
  /** True when any gradient value was NaN or ±Infinity. */
  nonFinite: boolean;
  /** Time in the oracle (the worker's own gradient or operator), in ms. */
  computeMs: number;
  /** Time spent quantizing and encoding inside the collectives, in ms. */
  quantizeMs: number;
  /** The rest of the collectives' time (transfer, waiting, decoding), in ms. */
  communicateMs: number;
  /** Parameter checksum, or 0n when not computed this step. */
  checksum: bigint;
  /** Milliseconds of the optimiser's own arithmetic. */
  optimizerMs: number;
  /** The previous step's wait for the supervisor's command, in ms. */
  controlMs: number;
  /** Collectives this step issued. */
  collectives: number;
  /** Payload bytes this rank sent this step. */
  bytesSent: number;
}

/** The supervisor's answer to the step reports (issue 4). */
export interface StepCommandMessage {
  /** Discriminant. */
  type: "stepCommand";
  /** Ring generation the step runs in. */
  epoch: number;
  /** The iteration decided (1-based). */
  step: number;
  /** QODA's γ for the next step's extrapolation. */
  gamma: number;
  /** QODA's η_{t+1} for this step's dual update (NaN when skipped). */
  eta: number;
  /** Skip this step (a rank reported non-finite values). */
  skip: boolean;
  /** Version of the level table to use. */
  levelTableVersion: number;
  /** Write a commit after this step. */
  commit: boolean;
}

/** Liveness signal. */
export interface HeartbeatMessage {
  /** Discriminant. */
  type: "heartbeat";
  /** The sender's ring generation. */
  epoch: number;
  /** The sender's rank. */
  rank: number;
  /** Sender's clock in ms since the epoch. */
  timeMs: number;
}

/** A failure report, forwarded around the ring so every rank fails the same operation. */
export interface ErrorMessage {
  /** Discriminant. */
  type: "error";
  /** Ring generation the failure happened in. */
  epoch: number;
  /** The operation that failed (−1 when none). */
  opId: number;
  /** The rank that reports it. */
  reporter: number;
  /** The rank held responsible (−1 when unknown). */
  culprit: number;
  /** Machine-readable kind, e.g. "peer-closed", "timeout", "mismatch". */
  code: string;
  /** What happened, in words. */
  message: string;
}

/** Orderly shutdown. */
export interface ShutdownMessage {
  /** Discriminant. */
  type: "shutdown";
  /** Ring generation being shut down. */
  epoch: number;
  /** Why, in words. */
  reason: string;
}

/**
 * A control-plane message between the supervisor and a worker: rendezvous,
 * ring assignments, level tables, commit parts. `kind` names it, `json` holds
 * its fields, `blob` bulk bytes (a view, valid until the frame is released).
 */
export interface ControlMessage {
  /** Discriminant. */
  type: "control";
  /** What it is, e.g. "join", "assign", "levels", "commitPart". */
  kind: string;
  /** Its fields, as JSON text. */
  json: string;
  /** Bulk bytes (may be empty). */
  blob: Uint8Array;
}

/** Every message type. */
export type WireMessage =
  | HelloMessage
  | AuthMessage
  | ChunkMessage
  | BarrierMessage
  | StepReportMessage
  | StepCommandMessage
  | HeartbeatMessage
  | ErrorMessage
  | ShutdownMessage
  | ControlMessage;
