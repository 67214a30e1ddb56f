/**
 * Encodes {@linkcode WireMessage} values as length-prefixed, single-segment
 * Cap'n Proto frames and decodes them back, zero-copy.
 *
 * Frame layout (all little-endian):
 *
 * ```text
 * offset 0  u32  N = byte length of the message that follows (N % 8 == 0, 8 ≤ N ≤ MAX_FRAME_BYTES)
 * offset 4  N bytes: segment 0 of an unpacked, single-segment Cap'n Proto message
 *           whose root is `Frame` (runtime/wire/ring.capnp). No segment table, no packing.
 * ```
 *
 * This is the only module that touches the generated `ring_capnp.ts`.
 *
 * @module
 */

import { type Data, Message } from "capnp-es";
import { FrameError } from "../errors.ts";
import { Frame, Frame_Which, Phase as CapnpPhase } from "./ring_capnp.ts";
import type { ChunkMessage, Phase, WireMessage } from "./messages.ts";

/** Bytes of the little-endian u32 length prefix in front of every frame body. */
export const FRAME_PREFIX_BYTES = 4;

/**
 * Largest accepted frame body (the value of the length prefix): 64 MiB of
 * payload plus 4 KiB for the Cap'n Proto structs around it.
 */
export const MAX_FRAME_BYTES: number = 64 * 1024 * 1024 + 4096;

/** The largest UInt64 value. */
const MAX_U64 = (1n << 64n) - 1n;

// ─── encoding ────────────────────────────────────────────────────────────────

function checkInt(field: string, v: number, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${field} must be an integer in [${min}, ${max}], got ${v}`);
  }
  return v;
}
const u8 = (field: string, v: number) => checkInt(field, v, 0, 0xff);
const u32 = (field: string, v: number) => checkInt(field, v, 0, 0xffff_ffff);
const i32 = (field: string, v: number) => checkInt(field, v, -0x8000_0000, 0x7fff_ffff);
/** A `number` stored in a UInt64 field. */
const u64n = (field: string, v: number) => BigInt(checkInt(field, v, 0, Number.MAX_SAFE_INTEGER));
/** A `number` stored in an Int64 field. */
const i64n = (field: string, v: number) =>
  BigInt(checkInt(field, v, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));

function u64(field: string, v: bigint): bigint {
  if (typeof v !== "bigint" || v < 0n || v > MAX_U64) {
    throw new RangeError(`${field} must be a bigint in [0, 2^64 - 1], got ${String(v)}`);
  }
  return v;
}

function f64(field: string, v: number): number {
  if (typeof v !== "number") throw new TypeError(`${field} must be a number, got ${typeof v}`);
  return v;
}

function bool(field: string, v: boolean): boolean {
  if (typeof v !== "boolean") throw new TypeError(`${field} must be a boolean, got ${typeof v}`);
  return v;
}

function text(field: string, v: string): string {
  if (typeof v !== "string") throw new TypeError(`${field} must be a string, got ${typeof v}`);
  return v;
}

function bytes(field: string, v: Uint8Array): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${field} must be a Uint8Array`);
  if (v.byteLength > MAX_FRAME_BYTES) {
    throw new FrameError(
      `${field} of ${v.byteLength} bytes cannot fit a frame of at most ${MAX_FRAME_BYTES} bytes`,
    );
  }
  return v;
}

function phaseToWire(v: Phase): CapnpPhase {
  if (v === "reduceScatter") return CapnpPhase.REDUCE_SCATTER;
  if (v === "allGather") return CapnpPhase.ALL_GATHER;
  throw new RangeError(`chunk.phase must be "reduceScatter" or "allGather", got ${String(v)}`);
}

/** Copies `src` into a new Data field with one bulk copy. */
function initBytes(init: (n: number) => Data, src: Uint8Array): void {
  const d = init(src.byteLength);
  if (src.byteLength > 0) d.copyBuffer(src);
}

function fillFrame(root: Frame, msg: WireMessage): void {
  switch (msg.type) {
    case "hello": {
      const nonce = bytes("hello.nonce", msg.nonce);
      const mac = bytes("hello.mac", msg.mac);
      const s = root._initHello();
      s.version = u32("hello.version", msg.version);
      s.ringId = u64("hello.ringId", msg.ringId);
      s.epoch = u32("hello.epoch", msg.epoch);
      s.rank = u32("hello.rank", msg.rank);
      s.worldSize = u32("hello.worldSize", msg.worldSize);
      initBytes((n) => s._initNonce(n), nonce);
      initBytes((n) => s._initMac(n), mac);
      return;
    }
    case "auth": {
      const mac = bytes("auth.mac", msg.mac);
      const s = root._initAuth();
      initBytes((n) => s._initMac(n), mac);
      return;
    }
    case "chunk": {
      const payload = bytes("chunk.payload", msg.payload);
      const s = root._initChunk();
      s.ringId = u64("chunk.ringId", msg.ringId);
      s.epoch = u32("chunk.epoch", msg.epoch);
      s.opId = u64n("chunk.opId", msg.opId);
      s.phase = phaseToWire(msg.phase);
      s.hop = u32("chunk.hop", msg.hop);
      s.segmentIndex = u32("chunk.segment", msg.segment);
      s.totalLength = u64n("chunk.totalLength", msg.totalLength);
      s.offset = u64n("chunk.offset", msg.offset);
      s.count = u64n("chunk.count", msg.count);
      s.scheme = text("chunk.scheme", msg.scheme);
      s.bits = u8("chunk.bits", msg.bits);
      if (msg.shm) {
        s.shmSlot = checkInt("chunk.shm.slot", msg.shm.slot, 0, 0xffff_fffe) + 1;
        s.shmBytes = u32("chunk.shm.bytes", msg.shm.bytes);
      }
      initBytes((n) => s._initPayload(n), payload);
      return;
    }
    case "barrier": {
      const s = root._initBarrier();
      s.epoch = u32("barrier.epoch", msg.epoch);
      s.id = u64("barrier.id", msg.id);
      return;
    }
    case "stepReport": {
      const s = root._initStepReport();
      s.epoch = u32("stepReport.epoch", msg.epoch);
      s.step = u64n("stepReport.step", msg.step);
      s.rank = u32("stepReport.rank", msg.rank);
      s.sqDiff = f64("stepReport.sqDiff", msg.sqDiff);
      s.nonFinite = bool("stepReport.nonFinite", msg.nonFinite);
      s.computeMs = f64("stepReport.computeMs", msg.computeMs);
      s.quantizeMs = f64("stepReport.quantizeMs", msg.quantizeMs);
      s.communicateMs = f64("stepReport.communicateMs", msg.communicateMs);
      s.checksum = u64("stepReport.checksum", msg.checksum);
      s.optimizerMs = f64("stepReport.optimizerMs", msg.optimizerMs);
      s.controlMs = f64("stepReport.controlMs", msg.controlMs);
      s.collectives = u32("stepReport.collectives", msg.collectives);
      s.bytesSent = u64n("stepReport.bytesSent", msg.bytesSent);
      return;
    }
    case "stepCommand": {
      const s = root._initStepCommand();
      s.epoch = u32("stepCommand.epoch", msg.epoch);
      s.step = u64n("stepCommand.step", msg.step);
      s.gamma = f64("stepCommand.gamma", msg.gamma);
      s.eta = f64("stepCommand.eta", msg.eta);
      s.skip = bool("stepCommand.skip", msg.skip);
      s.levelTableVersion = u32("stepCommand.levelTableVersion", msg.levelTableVersion);
      s.commit = bool("stepCommand.commit", msg.commit);
      return;
    }
    case "heartbeat": {
      const s = root._initHeartbeat();
      s.epoch = u32("heartbeat.epoch", msg.epoch);
      s.rank = u32("heartbeat.rank", msg.rank);
      s.timeMs = f64("heartbeat.timeMs", msg.timeMs);
      return;
    }
    case "error": {
      const s = root._initError();
      s.epoch = u32("error.epoch", msg.epoch);
      s.opId = i64n("error.opId", msg.opId);
      s.reporter = u32("error.reporter", msg.reporter);
      s.culprit = i32("error.culprit", msg.culprit);
      s.code = text("error.code", msg.code);
      s.message = text("error.message", msg.message);
      return;
    }
    case "shutdown": {
      const s = root._initShutdown();
      s.epoch = u32("shutdown.epoch", msg.epoch);
      s.reason = text("shutdown.reason", msg.reason);
      return;
    }
    case "control": {
      const blob = bytes("control.blob", msg.blob);
      const s = root._initControl();
      s.kind = text("control.kind", msg.kind);
      s.json = text("control.json", msg.json);
      initBytes((n) => s._initBlob(n), blob);
      return;
    }
    default: {
      const t = (msg as { type?: unknown }).type;
      throw new TypeError(`unknown wire message type ${JSON.stringify(t)}`);
    }
  }
}

/**
 * Encodes one message as a complete frame: a 4-byte little-endian length
 * prefix, then the single-segment, unpacked Cap'n Proto message. The payload
 * (`nonce`, `mac`, `payload`) is copied in with one bulk copy; the frame is a
 * fresh buffer owned by the caller.
 *
 * @param msg The message to encode.
 * @returns The frame, ready for {@linkcode writeAll}.
 * @throws {FrameError} When the message would exceed {@linkcode MAX_FRAME_BYTES}
 *   or would not be a single segment.
 * @throws {RangeError} When a numeric field is not an integer, is out of its
 *   wire width (e.g. a negative rank), or a bigint is outside UInt64.
 * @throws {TypeError} When `type` is unknown or a field has the wrong JS type.
 *
 * @example Encode a heartbeat and decode it again
 * ```ts
 * import { decodeFrame, encodeFrame, FRAME_PREFIX_BYTES } from "@qoda/ring/wire";
 * import { deepStrictEqual } from "node:assert/strict";
 *
 * const hb = { type: "heartbeat", epoch: 1, rank: 2, timeMs: 1700000000000 } as const;
 * const frame = encodeFrame(hb);
 * const body = frame.slice(FRAME_PREFIX_BYTES);
 * deepStrictEqual(decodeFrame(body), hb);
 * ```
 */
export function encodeFrame(msg: WireMessage): Uint8Array {
  const m = new Message();
  fillFrame(m.initRoot(Frame), msg);
  const segments = m._capnp.segments;
  if (segments.length !== 1) {
    throw new FrameError(
      `a ${msg.type} message took ${segments.length} segments; frames must be single-segment`,
    );
  }
  const s = m.getSegment(0);
  const n = s.byteLength;
  if (n > MAX_FRAME_BYTES) {
    throw new FrameError(
      `a ${msg.type} message of ${n} bytes exceeds the frame limit of ${MAX_FRAME_BYTES} bytes`,
    );
  }
  const frame = new Uint8Array(FRAME_PREFIX_BYTES + n);
  new DataView(frame.buffer).setUint32(0, n, true);
  frame.set(new Uint8Array(s.buffer, 0, n), FRAME_PREFIX_BYTES);
  return frame;
}

/** A chunk frame split for a zero-copy send: write `head`, the payload, then `padding` zero bytes. */
export interface ChunkFrameParts {
  /** Length prefix and every word of the message before the payload bytes. */
  head: Uint8Array;
  /** Zero bytes after the payload (to the next 8-byte word), 0..7. */
  padding: number;
}

const textEncoder = new TextEncoder();

/** A struct pointer word: offset (words from the pointer's end), data and pointer section sizes. */
function structPointer(view: DataView, at: number, offset: number, data: number, ptrs: number) {
  view.setUint32(at, (offset << 2) >>> 0, true);
  view.setUint16(at + 4, data, true);
  view.setUint16(at + 6, ptrs, true);
}

/** A list pointer word to a byte list (element size 2) of `count` elements. */
function byteListPointer(view: DataView, at: number, offset: number, count: number) {
  view.setUint32(at, ((offset << 2) | 1) >>> 0, true);
  view.setUint32(at + 4, ((count << 3) | 2) >>> 0, true);
}

/**
 * The frame of a chunk message without its payload bytes, for sending the
 * payload straight from the caller's buffer (no copy, no allocation of its
 * size). The bytes on the wire are an ordinary single-segment frame, exactly
 * what {@linkcode decodeFrame} reads: root pointer → `Frame` (union tag 2) →
 * `Chunk` (7 data words, 2 pointers) → scheme text → payload (laid out last).
 * Fields are validated as {@linkcode encodeFrame} does.
 *
 * @example
 * ```ts
 * import { decodeFrame, encodeChunkFrameParts, FRAME_PREFIX_BYTES } from "@qoda/ring/wire";
 * const msg = {
 *   type: "chunk", ringId: 1n, epoch: 0, opId: 2, phase: "allGather", hop: 1, segment: 3,
 *   totalLength: 10, offset: 4, count: 1, scheme: "fp32", bits: 32,
 *   payload: new Uint8Array([1, 2, 3, 4]),
 * } as const;
 * const { head, padding } = encodeChunkFrameParts(msg);
 * const frame = new Uint8Array(head.length + 4 + padding);
 * frame.set(head);
 * frame.set(msg.payload, head.length);
 * const back = decodeFrame(frame.slice(FRAME_PREFIX_BYTES));
 * if (back.type !== "chunk" || back.payload[3] !== 4 || back.segment !== 3) throw new Error();
 * ```
 */
export function encodeChunkFrameParts(msg: ChunkMessage): ChunkFrameParts {
  const payload = bytes("chunk.payload", msg.payload);
  const ringId = u64("chunk.ringId", msg.ringId);
  const epoch = u32("chunk.epoch", msg.epoch);
  const opId = u64n("chunk.opId", msg.opId);
  const phase = phaseToWire(msg.phase);
  const hop = u32("chunk.hop", msg.hop);
  const segment = u32("chunk.segment", msg.segment);
  const totalLength = u64n("chunk.totalLength", msg.totalLength);
  const offset = u64n("chunk.offset", msg.offset);
  const count = u64n("chunk.count", msg.count);
  const scheme = textEncoder.encode(text("chunk.scheme", msg.scheme));
  const bits = u8("chunk.bits", msg.bits);
  const shmSlot = msg.shm ? checkInt("chunk.shm.slot", msg.shm.slot, 0, 0xffff_fffe) + 1 : 0;
  const shmBytes = msg.shm ? u32("chunk.shm.bytes", msg.shm.bytes) : 0;
  // Words: 0 root ptr, 1 Frame data, 2 Frame ptr, 3..10 Chunk data, 11..12 Chunk ptrs,
  // 13.. scheme text (with NUL), then the payload.
  const textWords = Math.ceil((scheme.length + 1) / 8);
  const payloadWords = Math.ceil(payload.length / 8);
  const headWords = 13 + textWords;
  const bodyBytes = 8 * (headWords + payloadWords);
  if (bodyBytes > MAX_FRAME_BYTES) {
    throw new FrameError(
      `a chunk message of ${bodyBytes} bytes exceeds the frame limit of ${MAX_FRAME_BYTES} bytes`,
    );
  }
  const head = new Uint8Array(FRAME_PREFIX_BYTES + 8 * headWords);
  const v = new DataView(head.buffer);
  const w = (i: number) => FRAME_PREFIX_BYTES + 8 * i; // byte position of word i
  v.setUint32(0, bodyBytes, true);
  structPointer(v, w(0), 0, 1, 1); // root → Frame at word 1
  v.setUint16(w(1), Frame_Which.CHUNK, true); // union tag
  structPointer(v, w(2), 0, 8, 2); // Frame.chunk → Chunk at word 3
  v.setBigUint64(w(3), ringId, true);
  v.setUint32(w(4), epoch, true);
  v.setUint16(w(4) + 4, phase, true);
  v.setUint8(w(4) + 6, bits);
  v.setBigUint64(w(5), opId, true);
  v.setUint32(w(6), hop, true);
  v.setUint32(w(6) + 4, segment, true);
  v.setBigUint64(w(7), totalLength, true);
  v.setBigUint64(w(8), offset, true);
  v.setBigUint64(w(9), count, true);
  v.setUint32(w(10), shmSlot, true);
  v.setUint32(w(10) + 4, shmBytes, true);
  byteListPointer(v, w(11), 13 - 12, scheme.length + 1); // scheme at word 13
  byteListPointer(v, w(12), headWords - 13, payload.length); // payload after the text
  head.set(scheme, w(13));
  return { head, padding: 8 * payloadWords - payload.length };
}

// ─── decoding ────────────────────────────────────────────────────────────────

function safeNumber(field: string, v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new FrameError(`${field} = ${v} is outside the safe integer range of a number`);
  }
  return Number(v);
}

function phaseFromWire(v: number): Phase {
  if (v === CapnpPhase.REDUCE_SCATTER) return "reduceScatter";
  if (v === CapnpPhase.ALL_GATHER) return "allGather";
  throw new FrameError(`chunk.phase has unknown enum value ${v}`);
}

/**
 * Reads a Data field as a view into the message buffer. {@linkcode validate}
 * has already checked the pointer; `has` guards the null case (the generated
 * getter would otherwise allocate into the message).
 */
function readBytes(has: boolean, get: () => Data, empty: Uint8Array): Uint8Array {
  return has ? get().toUint8Array() : empty;
}

// ─── structural validation ───────────────────────────────────────────────────
//
// Every pointer decodeFrame() follows is checked here, on the raw words, before
// capnp-es reads it. capnp-es bounds-checks only partly (a truncated Text still
// decodes) and its error path formats the offending list element by element,
// which takes seconds for a forged 2^29-element list. Far and capability
// pointers never occur in our single-segment frames and are rejected.

/** Pointer slots holding byte lists, per union arm, in ring.capnp order: [name, isText]. */
const BYTE_FIELDS: Record<number, readonly (readonly [string, boolean])[]> = {
  [Frame_Which.HELLO]: [["hello.nonce", false], ["hello.mac", false]],
  [Frame_Which.AUTH]: [["auth.mac", false]],
  [Frame_Which.CHUNK]: [["chunk.scheme", true], ["chunk.payload", false]],
  [Frame_Which.BARRIER]: [],
  [Frame_Which.STEP_REPORT]: [],
  [Frame_Which.STEP_COMMAND]: [],
  [Frame_Which.HEARTBEAT]: [],
  [Frame_Which.ERROR]: [["error.code", true], ["error.message", true]],
  [Frame_Which.SHUTDOWN]: [["shutdown.reason", true]],
  [Frame_Which.CONTROL]: [["control.kind", true], ["control.json", true], ["control.blob", false]],
};
const ARM_NAMES = [
  "hello",
  "auth",
  "chunk",
  "barrier",
  "stepReport",
  "stepCommand",
  "heartbeat",
  "error",
  "shutdown",
  "control",
];

interface StructRef {
  /** Byte offset of the data section. */
  data: number;
  dataWords: number;
  /** Byte offset of the pointer section. */
  ptrs: number;
  ptrCount: number;
}

/** Byte offset of the target of the non-null struct or list pointer at `at`. */
function target(dv: DataView, at: number, what: string): number {
  const lo = dv.getUint32(at, true);
  const kind = lo & 3;
  if (kind === 2) throw new FrameError(`${what}: far pointers are not allowed in a frame`);
  if (kind === 3) throw new FrameError(`${what}: capability pointers are not allowed in a frame`);
  const t = at + 8 + (lo >> 2) * 8;
  if (t < 0 || t > dv.byteLength) {
    throw new FrameError(
      `${what}: pointer target ${t} lies outside the ${dv.byteLength}-byte frame`,
    );
  }
  return t;
}

function isNullPtr(dv: DataView, at: number): boolean {
  return dv.getUint32(at, true) === 0 && dv.getUint32(at + 4, true) === 0;
}

/** The struct at pointer `at`, or null for a null pointer. */
function structAt(dv: DataView, at: number, what: string): StructRef | null {
  if (isNullPtr(dv, at)) return null;
  if ((dv.getUint32(at, true) & 3) !== 0) throw new FrameError(`${what} is not a struct pointer`);
  const data = target(dv, at, what);
  const hi = dv.getUint32(at + 4, true);
  const dataWords = hi & 0xffff;
  const ptrCount = hi >>> 16;
  if (data + (dataWords + ptrCount) * 8 > dv.byteLength) {
    throw new FrameError(`${what}: struct of ${dataWords + ptrCount} words runs past the frame`);
  }
  return { data, dataWords, ptrs: data + dataWords * 8, ptrCount };
}

/** Checks the byte list (Data or NUL-terminated Text) at pointer `at`; null is fine. */
function checkByteList(dv: DataView, at: number, what: string, isText: boolean): void {
  if (isNullPtr(dv, at)) return;
  if ((dv.getUint32(at, true) & 3) !== 1) throw new FrameError(`${what} is not a list pointer`);
  const hi = dv.getUint32(at + 4, true);
  if ((hi & 7) !== 2) throw new FrameError(`${what} is not a byte list (element size ${hi & 7})`);
  const count = hi >>> 3;
  const start = target(dv, at, what);
  if (start + count > dv.byteLength) {
    throw new FrameError(
      `${what}: ${count} bytes at ${start} run past the ${dv.byteLength}-byte frame`,
    );
  }
  if (isText && (count === 0 || dv.getUint8(start + count - 1) !== 0)) {
    throw new FrameError(`${what}: text is not NUL-terminated`);
  }
}

/** Validates every pointer decodeFrame() will follow. */
function validate(dv: DataView): void {
  const root = structAt(dv, 0, "root");
  if (root === null) throw new FrameError("frame has a null root pointer");
  const tag = root.dataWords > 0 ? dv.getUint16(root.data, true) : 0;
  const fields = BYTE_FIELDS[tag];
  if (fields === undefined) throw new FrameError(`unknown message tag ${tag}`);
  const name = ARM_NAMES[tag];
  const arm = root.ptrCount > 0 ? structAt(dv, root.ptrs, name) : null;
  if (arm === null) throw new FrameError(`${name} frame has a null body pointer`);
  for (const [i, [what, isText]] of fields.entries()) {
    if (i < arm.ptrCount) checkByteList(dv, arm.ptrs + i * 8, what, isText);
  }
}

function missing(arm: string): never {
  throw new FrameError(`${arm} frame has a null body pointer`);
}

function readFrame(root: Frame, empty: Uint8Array): WireMessage {
  const tag = root.which();
  switch (tag) {
    case Frame_Which.HELLO: {
      if (!root._hasHello()) missing("hello");
      const s = root.hello;
      return {
        type: "hello",
        version: s.version,
        ringId: s.ringId,
        epoch: s.epoch,
        rank: s.rank,
        worldSize: s.worldSize,
        nonce: readBytes(s._hasNonce(), () => s.nonce, empty),
        mac: readBytes(s._hasMac(), () => s.mac, empty),
      };
    }
    case Frame_Which.AUTH: {
      if (!root._hasAuth()) missing("auth");
      const s = root.auth;
      return { type: "auth", mac: readBytes(s._hasMac(), () => s.mac, empty) };
    }
    case Frame_Which.CHUNK: {
      if (!root._hasChunk()) missing("chunk");
      const s = root.chunk;
      return {
        type: "chunk",
        ringId: s.ringId,
        epoch: s.epoch,
        opId: safeNumber("chunk.opId", s.opId),
        phase: phaseFromWire(s.phase),
        hop: s.hop,
        segment: s.segmentIndex,
        totalLength: safeNumber("chunk.totalLength", s.totalLength),
        offset: safeNumber("chunk.offset", s.offset),
        count: safeNumber("chunk.count", s.count),
        scheme: s.scheme,
        bits: s.bits,
        payload: readBytes(s._hasPayload(), () => s.payload, empty),
        ...(s.shmSlot > 0 ? { shm: { slot: s.shmSlot - 1, bytes: s.shmBytes } } : {}),
      };
    }
    case Frame_Which.BARRIER: {
      if (!root._hasBarrier()) missing("barrier");
      const s = root.barrier;
      return { type: "barrier", epoch: s.epoch, id: s.id };
    }
    case Frame_Which.STEP_REPORT: {
      if (!root._hasStepReport()) missing("stepReport");
      const s = root.stepReport;
      return {
        type: "stepReport",
        epoch: s.epoch,
        step: safeNumber("stepReport.step", s.step),
        rank: s.rank,
        sqDiff: s.sqDiff,
        nonFinite: s.nonFinite,
        computeMs: s.computeMs,
        quantizeMs: s.quantizeMs,
        communicateMs: s.communicateMs,
        checksum: s.checksum,
        optimizerMs: s.optimizerMs,
        controlMs: s.controlMs,
        collectives: s.collectives,
        bytesSent: safeNumber("stepReport.bytesSent", s.bytesSent),
      };
    }
    case Frame_Which.STEP_COMMAND: {
      if (!root._hasStepCommand()) missing("stepCommand");
      const s = root.stepCommand;
      return {
        type: "stepCommand",
        epoch: s.epoch,
        step: safeNumber("stepCommand.step", s.step),
        gamma: s.gamma,
        eta: s.eta,
        skip: s.skip,
        levelTableVersion: s.levelTableVersion,
        commit: s.commit,
      };
    }
    case Frame_Which.HEARTBEAT: {
      if (!root._hasHeartbeat()) missing("heartbeat");
      const s = root.heartbeat;
      return { type: "heartbeat", epoch: s.epoch, rank: s.rank, timeMs: s.timeMs };
    }
    case Frame_Which.ERROR: {
      if (!root._hasError()) missing("error");
      const s = root.error;
      return {
        type: "error",
        epoch: s.epoch,
        opId: safeNumber("error.opId", s.opId),
        reporter: s.reporter,
        culprit: s.culprit,
        code: s.code,
        message: s.message,
      };
    }
    case Frame_Which.SHUTDOWN: {
      if (!root._hasShutdown()) missing("shutdown");
      const s = root.shutdown;
      return { type: "shutdown", epoch: s.epoch, reason: s.reason };
    }
    case Frame_Which.CONTROL: {
      if (!root._hasControl()) missing("control");
      const s = root.control;
      return {
        type: "control",
        kind: s.kind,
        json: s.json,
        blob: readBytes(s._hasBlob(), () => s.blob, empty),
      };
    }
    default:
      throw new FrameError(`unknown message tag ${tag as number}`);
  }
}

/**
 * Decodes one frame body (the bytes after the 4-byte length prefix).
 *
 * **Zero-copy.** When `body` spans its whole `ArrayBuffer` (`byteOffset === 0`
 * and `byteLength === body.buffer.byteLength`, as for bodies from
 * {@linkcode FrameReader} or a `slice()`), the message is parsed in place and
 * the returned `payload`, `nonce` and `mac` are views into `body.buffer`
 * (8-byte aligned, so `payload` can be viewed as a `Float32Array`). They stay
 * valid only as long as the body does. Any other view (an offset, trailing
 * bytes after it, a `SharedArrayBuffer`) is copied once first, because
 * Cap'n Proto pointers are bounds-checked against the whole buffer.
 *
 * The body is never written to.
 *
 * @param body The message bytes, without the length prefix.
 * @returns The decoded message.
 * @throws {FrameError} For every malformed input: bad length, null root, bad
 *   or out-of-bounds pointers, wrong pointer kinds, unknown union tag or enum
 *   value, a UInt64 beyond `Number.MAX_SAFE_INTEGER` where the field is a
 *   `number`. Errors from capnp-es are wrapped with the original as `cause`.
 *
 * @example Decode a frame body zero-copy
 * ```ts
 * import { decodeFrame, encodeFrame, FRAME_PREFIX_BYTES } from "@qoda/ring/wire";
 * import { strictEqual } from "node:assert/strict";
 *
 * const frame = encodeFrame({ type: "auth", mac: new Uint8Array([1, 2, 3]) });
 * const body = frame.slice(FRAME_PREFIX_BYTES); // owns its buffer from offset 0
 * const msg = decodeFrame(body);
 * strictEqual(msg.type, "auth");
 * if (msg.type === "auth") strictEqual(msg.mac.buffer, body.buffer);
 * ```
 */
export function decodeFrame(body: Uint8Array): WireMessage {
  if (!(body instanceof Uint8Array)) throw new TypeError("decodeFrame() needs a Uint8Array");
  const n = body.byteLength;
  if (n < 8 || n % 8 !== 0) {
    throw new FrameError(`frame body of ${n} bytes is not a whole number of 8-byte words`);
  }
  if (n > MAX_FRAME_BYTES) {
    throw new FrameError(`frame body of ${n} bytes exceeds the limit of ${MAX_FRAME_BYTES} bytes`);
  }
  let ab: ArrayBuffer;
  if (
    body.byteOffset === 0 && body.buffer instanceof ArrayBuffer && body.buffer.byteLength === n
  ) {
    ab = body.buffer;
  } else {
    ab = new ArrayBuffer(n);
    new Uint8Array(ab).set(body);
  }
  validate(new DataView(ab));
  try {
    const m = new Message(ab, false, true);
    // capnp-es charges 8 per pointer object it creates, not per byte read, so
    // this bound holds for any payload size up to MAX_FRAME_BYTES.
    m._capnp.traversalLimit = MAX_FRAME_BYTES;
    return readFrame(m.getRoot(Frame), new Uint8Array(ab, 0, 0));
  } catch (e) {
    if (e instanceof FrameError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    throw new FrameError(`malformed frame of ${n} bytes: ${why}`, { cause: e });
  }
}
