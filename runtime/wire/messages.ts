/**
 * Every message that crosses a socket, as plain TypeScript values. This file
 * is types only: `runtime/wire/codec.ts` turns these into Cap'n Proto frames
 * and back, and nothing outside `runtime/wire/` touches Cap'n Proto objects.
 *
 * @module
 */

/** Protocol version carried in every handshake. */
export const PROTOCOL_VERSION = 1;

/** First message on a new connection, sent by both sides. */
export interface HelloMessage {
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
  type: "auth";
  /** HMAC-SHA256 proof (empty without a secret). */
  mac: Uint8Array;
}

/** Which half of the all-reduce a chunk belongs to. */
export type Phase = "reduceScatter" | "allGather";

/** One segment of data moving around the ring. */
export interface ChunkMessage {
  type: "chunk";
  ringId: bigint;
  epoch: number;
  /** Collective operation sequence number (same on every rank). */
  opId: number;
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
}

/** A barrier token. */
export interface BarrierMessage {
  type: "barrier";
  epoch: number;
  /** Barrier sequence number. */
  id: bigint;
}

/** A worker's per-step report to the supervisor (issue 4). */
export interface StepReportMessage {
  type: "stepReport";
  epoch: number;
  step: number;
  rank: number;
  /** ‖V̄_{t+1/2} − V̄_{t−1/2}‖². */
  sqDiff: number;
  /** True when any gradient value was NaN or ±Infinity. */
  nonFinite: boolean;
  computeMs: number;
  quantizeMs: number;
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
  type: "stepCommand";
  epoch: number;
  step: number;
  gamma: number;
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
  type: "heartbeat";
  epoch: number;
  rank: number;
  /** Sender's clock in ms since the epoch. */
  timeMs: number;
}

/** A failure report, forwarded around the ring so every rank fails the same operation. */
export interface ErrorMessage {
  type: "error";
  epoch: number;
  /** The operation that failed (−1 when none). */
  opId: number;
  /** The rank that reports it. */
  reporter: number;
  /** The rank held responsible (−1 when unknown). */
  culprit: number;
  /** Machine-readable kind, e.g. "peer-closed", "timeout", "mismatch". */
  code: string;
  message: string;
}

/** Orderly shutdown. */
export interface ShutdownMessage {
  type: "shutdown";
  epoch: number;
  reason: string;
}

/**
 * A control-plane message between the supervisor and a worker: rendezvous,
 * ring assignments, level tables, commit parts. `kind` names it, `json` holds
 * its fields, `blob` bulk bytes (a view, valid until the frame is released).
 */
export interface ControlMessage {
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
