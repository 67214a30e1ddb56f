/**
 * The wire format of qoda-ring: every message that crosses a socket, its
 * Cap'n Proto encoding and the length-prefixed framing around it.
 *
 * - `messages.ts`: the {@linkcode WireMessage} union (plain TypeScript values).
 * - `codec.ts`: {@linkcode encodeFrame} / {@linkcode decodeFrame}; a frame is a
 *   little-endian u32 length then one unpacked, single-segment Cap'n Proto
 *   message (schema `ring.capnp`). Decoding is zero-copy and throws only
 *   {@linkcode FrameError} on malformed bytes.
 * - `framing.ts`: {@linkcode FrameReader} splits a stream into bodies held in
 *   pooled buffers until `release(body)`; {@linkcode writeAll} survives
 *   partial writes.
 *
 * Nothing outside `runtime/wire/` touches Cap'n Proto objects.
 *
 * @example Send a chunk over a stream and read it back
 * ```ts
 * import { decodeFrame, encodeFrame, FrameReader, type WireMessage, writeAll } from "@qoda/ring/wire";
 * import { deepStrictEqual, strictEqual } from "node:assert/strict";
 *
 * // An in-memory pipe standing in for a Deno.Conn.
 * const chunks: Uint8Array[] = [];
 * const writer = { write: (p: Uint8Array) => (chunks.push(p.slice()), Promise.resolve(p.length)) };
 * const reader = {
 *   read(p: Uint8Array): Promise<number | null> {
 *     const c = chunks.shift();
 *     if (c === undefined) return Promise.resolve(null);
 *     const n = Math.min(p.length, c.length);
 *     p.set(c.subarray(0, n));
 *     if (n < c.length) chunks.unshift(c.subarray(n));
 *     return Promise.resolve(n);
 *   },
 * };
 *
 * const sent: WireMessage = {
 *   type: "chunk", ringId: 42n, epoch: 1, opId: 7, phase: "reduceScatter", hop: 0,
 *   segment: 2, totalLength: 1000, offset: 500, count: 4, scheme: "fp32", bits: 32,
 *   payload: new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer),
 * };
 * await writeAll(writer, encodeFrame(sent));
 *
 * const frames = new FrameReader(reader);
 * const body = (await frames.next())!;
 * const got = decodeFrame(body);
 * deepStrictEqual(got, sent);
 * if (got.type === "chunk") {
 *   strictEqual(got.payload.buffer, body.buffer); // zero-copy view
 *   deepStrictEqual(new Float32Array(got.payload.buffer, got.payload.byteOffset, 4), new Float32Array([1, 2, 3, 4]));
 * }
 * frames.release(body); // `got.payload` is invalid from here on
 * strictEqual(await frames.next(), null);
 * ```
 *
 * @module
 */

export * from "./messages.ts";
export * from "./codec.ts";
export * from "./framing.ts";
export { FrameError } from "../errors.ts";
export type { QodaError } from "../errors.ts";
