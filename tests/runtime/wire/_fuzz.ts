/**
 * Malformed-input generator for decodeFrame(). Runs inside a Worker from
 * fuzz_test.ts so that a hang can be cut off by terminating the worker.
 *
 * @module
 */

import { Rng } from "../../../runtime/rng.ts";
import {
  decodeFrame,
  encodeFrame,
  FRAME_PREFIX_BYTES,
  FrameError,
} from "../../../runtime/wire/mod.ts";
import { randInt, randomBytes, sampleMessages } from "./_samples.ts";

/** What a fuzz run found. */
export interface FuzzResult {
  /** Inputs tried. */
  total: number;
  /** Inputs rejected with FrameError. */
  rejected: number;
  /** Inputs that decoded (possible for bit flips of data fields). */
  decoded: number;
  /** Inputs that must be rejected but decoded (truncations). */
  missed: string[];
  /** Inputs that threw something other than FrameError. */
  failures: string[];
}

/** Tries every kind of malformed body; never throws. */
export function runDecodeFuzz(seed: number): FuzzResult {
  const rng = new Rng(seed);
  const bases = sampleMessages(rng).map((m) => encodeFrame(m).slice(FRAME_PREFIX_BYTES));
  const res: FuzzResult = { total: 0, rejected: 0, decoded: 0, missed: [], failures: [] };
  const VALID_TYPES = new Set([
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
  ]);

  function attempt(kind: string, body: Uint8Array, mustReject: boolean): void {
    res.total++;
    const before = body.slice();
    try {
      const m = decodeFrame(body);
      if (!VALID_TYPES.has(m.type)) res.failures.push(`${kind}: decoded type ${m.type}`);
      res.decoded++;
      if (mustReject && res.missed.length < 20) res.missed.push(`${kind}: len ${body.length}`);
    } catch (e) {
      if (e instanceof FrameError) res.rejected++;
      else if (res.failures.length < 20) {
        res.failures.push(`${kind}: ${e instanceof Error ? `${e.name}: ${e.message}` : e}`);
      }
    }
    if (before.some((v, i) => v !== body[i])) res.failures.push(`${kind}: the body was modified`);
  }

  // 1. Every truncation of every sample (all message types).
  for (const [i, b] of bases.entries()) {
    for (let n = 0; n < b.length; n++) attempt(`truncate #${i} to ${n}`, b.slice(0, n), true);
  }
  // 2. Random bytes, and random bytes behind a plausible root pointer.
  for (let i = 0; i < 3000; i++) {
    const n = rng.nextFloat() < 0.5 ? randInt(rng, 0, 300) : 8 * randInt(rng, 1, 40);
    attempt("random", randomBytes(rng, n), false);
  }
  for (let i = 0; i < 3000; i++) {
    const b = randomBytes(rng, 8 * randInt(rng, 2, 40));
    const dv = new DataView(b.buffer);
    dv.setUint32(0, 0, true); // struct pointer, offset 0
    dv.setUint16(4, 1, true); // 1 data word
    dv.setUint16(6, 1, true); // 1 pointer
    dv.setUint16(8, randInt(rng, 0, 9), true); // a (mostly) valid tag
    attempt("rooted random", b, false);
  }
  // 3. Bit flips.
  for (let i = 0; i < 4000; i++) {
    const b = bases[randInt(rng, 0, bases.length - 1)].slice();
    const flips = randInt(rng, 1, 4);
    for (let f = 0; f < flips; f++) {
      const bit = randInt(rng, 0, b.length * 8 - 1);
      b[bit >>> 3] ^= 1 << (bit & 7);
    }
    attempt("bit flip", b, false);
  }
  // 4. Random union tags (the Frame struct's data word starts at byte 8).
  for (let i = 0; i < 1500; i++) {
    const b = bases[randInt(rng, 0, bases.length - 1)].slice();
    const tag = rng.nextFloat() < 0.5 ? randInt(rng, 0, 12) : randInt(rng, 0, 0xffff);
    new DataView(b.buffer).setUint16(8, tag, true);
    attempt(`tag ${tag}`, b, false);
  }
  // 5. A random word replaced by a random pointer (struct/list/far/other, any offset and size).
  for (let i = 0; i < 2500; i++) {
    const b = bases[randInt(rng, 0, bases.length - 1)].slice();
    const dv = new DataView(b.buffer);
    const w = 8 * randInt(rng, 0, b.length / 8 - 1);
    const type = randInt(rng, 0, 3);
    const offset = rng.nextFloat() < 0.5 ? randInt(rng, -8, 64) : (rng.nextU32() >> 2);
    dv.setUint32(w, ((offset << 2) | type) >>> 0, true);
    dv.setUint32(w + 4, rng.nextFloat() < 0.5 ? randInt(rng, 0, 256) : rng.nextU32(), true);
    attempt(`pointer word ${w}`, b, false);
  }
  return res;
}
