import assert from "node:assert/strict";
import { BitReader, BitWriter, reverseBits } from "../../../runtime/coding/bit_stream.ts";
import { FrameError } from "../../../runtime/errors.ts";
import { Rng } from "../../../runtime/rng.ts";

Deno.test("BitWriter/BitReader round-trip random widths and values", () => {
  const rng = new Rng(11);
  const n = 20000;
  const widths = new Uint8Array(n);
  const values = new Uint32Array(n);
  let totalBits = 0;
  for (let i = 0; i < n; i++) {
    const w = rng.nextU32() % 33;
    widths[i] = w;
    values[i] = w === 32 ? rng.nextU32() : (rng.nextU32() & ((1 << w) - 1)) >>> 0;
    totalBits += w;
  }
  // A dirty buffer: the writer must overwrite what it reaches.
  const buf = new Uint8Array(Math.ceil(totalBits / 8)).fill(0xa5);
  const w = new BitWriter(buf);
  for (let i = 0; i < n; i++) {
    // Bits above the width are garbage the writer must ignore.
    const junk = widths[i] === 32 ? 0 : rng.nextU32() << widths[i];
    w.write(values[i] | junk, widths[i]);
  }
  assert.equal(w.position, totalBits);
  assert.equal(w.byteLength, buf.length);
  const r = new BitReader(w.finish());
  for (let i = 0; i < n; i++) assert.equal(r.read(widths[i]), values[i], `value ${i}`);
  assert.equal(r.remaining, buf.length * 8 - totalBits);
  if (totalBits % 8 !== 0) assert.equal(r.read(r.remaining), 0, "padding bits are 0");
});

Deno.test("BitWriter uses LSB-first bit order", () => {
  const w = new BitWriter(new Uint8Array(3));
  w.writeBit(1);
  w.write(0b10, 2); // bits 1..2: 0 then 1
  w.write(0xabc, 12);
  const b = w.finish();
  assert.equal(b.length, 2);
  // stream bit k is bit (k & 7) of byte k >> 3
  const bits = [1, 0, 1];
  for (let i = 0; i < 12; i++) bits.push((0xabc >>> i) & 1);
  for (let k = 0; k < bits.length; k++) {
    assert.equal((b[k >> 3] >> (k & 7)) & 1, bits[k], `bit ${k}`);
  }
  assert.equal(b[1] >> 7, 0);
});

Deno.test("BitReader throws FrameError when reading past the end", () => {
  const r = new BitReader(new Uint8Array([0xff, 0x01]), 12);
  assert.equal(r.read(10), 0x1ff);
  assert.throws(() => r.read(3), (e) => e instanceof FrameError && /truncated/.test(e.message));
  assert.equal(r.position, 10, "a failed read consumes nothing");
  assert.equal(r.read(2), 0);
  assert.throws(() => r.readBit(), FrameError);
  assert.throws(() => new BitReader(new Uint8Array(0)).read(1), FrameError);
  assert.equal(new BitReader(new Uint8Array(0)).read(0), 0);
  assert.throws(() => new BitReader(new Uint8Array(1), 9), RangeError);
});

Deno.test("BitWriter throws RangeError on overflow and bad widths", () => {
  const w = new BitWriter(new Uint8Array(1));
  w.write(0x7f, 7);
  assert.throws(() => w.write(0, 2), RangeError);
  assert.throws(() => w.write(0, 33), RangeError);
  w.writeBit(1);
  assert.throws(() => w.writeBit(1), RangeError);
  assert.deepEqual([...w.finish()], [0xff]);
});

Deno.test("reverseBits() reverses the low bits", () => {
  assert.equal(reverseBits(1, 1), 1);
  assert.equal(reverseBits(0b1101, 4), 0b1011);
  assert.equal(reverseBits(1, 32), 0x80000000);
  assert.equal(reverseBits(0x80000000, 32), 1);
});
