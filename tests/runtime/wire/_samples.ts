/**
 * Shared fixtures for the wire tests: sample messages of every type with
 * representative and extreme values, random bytes, and fake connections.
 *
 * @module
 */

import type { Rng } from "../../../runtime/rng.ts";
import type { WireMessage } from "../../../runtime/wire/mod.ts";

/** `n` random bytes. */
export function randomBytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  const words = n >>> 2;
  const w = new Uint32Array(out.buffer, 0, words);
  for (let i = 0; i < words; i++) w[i] = rng.nextU32();
  for (let i = words * 4; i < n; i++) out[i] = rng.nextU32() & 0xff;
  return out;
}

/** Uniform integer in [lo, hi]. */
export function randInt(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng.nextFloat() * (hi - lo + 1));
}

/** Messages of every type, small payloads, representative and extreme values. */
export function sampleMessages(rng: Rng): WireMessage[] {
  const U64_MAX = (1n << 64n) - 1n;
  return [
    {
      type: "hello",
      version: 1,
      ringId: 0x0123_4567_89ab_cdefn,
      epoch: 3,
      rank: 2,
      worldSize: 4,
      nonce: randomBytes(rng, 32),
      mac: new Uint8Array(0),
    },
    {
      type: "hello",
      version: 0xffff_ffff,
      ringId: U64_MAX,
      epoch: 0xffff_ffff,
      rank: 0xffff_ffff,
      worldSize: 0xffff_ffff,
      nonce: randomBytes(rng, 32),
      mac: randomBytes(rng, 32),
    },
    { type: "auth", mac: randomBytes(rng, 32) },
    { type: "auth", mac: new Uint8Array(0) },
    {
      type: "chunk",
      ringId: 42n,
      epoch: 1,
      opId: 17,
      phase: "reduceScatter",
      hop: 2,
      segment: 5,
      totalLength: 1_000_003,
      offset: 250_000,
      count: 250_001,
      scheme: "fp32",
      bits: 32,
      payload: randomBytes(rng, 1001),
    },
    {
      type: "chunk",
      ringId: U64_MAX,
      epoch: 0xffff_ffff,
      opId: Number.MAX_SAFE_INTEGER,
      phase: "allGather",
      hop: 0xffff_ffff,
      segment: 0xffff_ffff,
      totalLength: Number.MAX_SAFE_INTEGER,
      offset: Number.MAX_SAFE_INTEGER,
      count: Number.MAX_SAFE_INTEGER,
      scheme: "qsgd-Ω-🚀".repeat(10),
      bits: 255,
      payload: new Uint8Array(0),
    },
    {
      type: "chunk",
      ringId: 0n,
      epoch: 0,
      opId: 0,
      phase: "reduceScatter",
      hop: 0,
      segment: 0,
      totalLength: 0,
      offset: 0,
      count: 0,
      scheme: "",
      bits: 0,
      payload: randomBytes(rng, 7),
    },
    { type: "barrier", epoch: 9, id: 123n },
    { type: "barrier", epoch: 0xffff_ffff, id: U64_MAX },
    {
      type: "stepReport",
      epoch: 2,
      step: 1000,
      rank: 3,
      sqDiff: 0.125,
      nonFinite: false,
      computeMs: 12.5,
      quantizeMs: 1.25,
      communicateMs: 3.75,
      checksum: 0n,
      optimizerMs: 0.5,
      controlMs: 0.25,
      collectives: 2,
      bytesSent: 123_456,
    },
    {
      type: "stepReport",
      epoch: 0xffff_ffff,
      step: Number.MAX_SAFE_INTEGER,
      rank: 0xffff_ffff,
      sqDiff: NaN,
      nonFinite: true,
      computeMs: -0,
      quantizeMs: Number.MIN_VALUE,
      communicateMs: Infinity,
      checksum: U64_MAX,
      optimizerMs: NaN,
      controlMs: 0,
      collectives: 0xffff_ffff,
      bytesSent: Number.MAX_SAFE_INTEGER,
    },
    {
      type: "stepCommand",
      epoch: 4,
      step: 77,
      gamma: 0.9,
      eta: 0.01,
      skip: false,
      levelTableVersion: 3,
      commit: true,
    },
    {
      type: "stepCommand",
      epoch: 0,
      step: 0,
      gamma: -Infinity,
      eta: Number.MAX_VALUE,
      skip: true,
      levelTableVersion: 0xffff_ffff,
      commit: false,
    },
    { type: "heartbeat", epoch: 5, rank: 1, timeMs: 1_763_700_000_123 },
    { type: "heartbeat", epoch: 0, rank: 0, timeMs: 1_763_700_000_123.456 },
    {
      type: "error",
      epoch: 6,
      opId: -1,
      reporter: 2,
      culprit: -1,
      code: "peer-closed",
      message: "rank 3 closed the connection",
    },
    {
      type: "error",
      epoch: 6,
      opId: Number.MAX_SAFE_INTEGER,
      reporter: 0xffff_ffff,
      culprit: -0x8000_0000,
      code: "mismatch",
      message: "längen ≠ 🙃 ".repeat(2000),
    },
    {
      type: "error",
      epoch: 1,
      opId: Number.MIN_SAFE_INTEGER,
      reporter: 0,
      culprit: 0x7fff_ffff,
      code: "",
      message: "",
    },
    { type: "shutdown", epoch: 7, reason: "training finished" },
    { type: "shutdown", epoch: 0, reason: "" },
    {
      type: "control",
      kind: "assign",
      json: '{"rank":2,"peers":["127.0.0.1:9"]}',
      blob: new Uint8Array(0),
    },
    {
      type: "control",
      kind: "levels",
      json: "{}",
      blob: new Uint8Array(4099).map((_, i) => i * 7),
    },
  ];
}

/** A connection whose `read()` hands out `data` in random pieces of 1..maxPiece bytes. */
export function piecewiseReader(
  data: Uint8Array,
  rng: Rng,
  maxPiece = 7,
): { read(p: Uint8Array): Promise<number | null>; reads: number } {
  let pos = 0;
  const conn = {
    reads: 0,
    read(p: Uint8Array): Promise<number | null> {
      conn.reads++;
      if (pos >= data.length) return Promise.resolve(null);
      const n = Math.min(p.length, randInt(rng, 1, maxPiece), data.length - pos);
      p.set(data.subarray(pos, pos + n));
      pos += n;
      return Promise.resolve(n);
    },
  };
  return conn;
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
