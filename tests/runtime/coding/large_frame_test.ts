import assert from "node:assert/strict";
import { decode, encode } from "../../../runtime/coding/codec.ts";
import type { Quantized } from "../../../runtime/quant/types.ts";

Deno.test("encode()/decode() round-trip 16M 4-bit codes across kernel chunks (timing printed)", () => {
  const n = 16 * 1024 * 1024;
  const codes = new Uint16Array(n);
  for (let i = 0; i < n; i++) codes[i] = Math.imul(i, 0x9e3779b1) >>> 28;
  const q: Quantized = {
    scheme: "maxmin",
    length: n,
    bits: 4,
    bucketSize: n,
    signed: false,
    normQ: 0,
    bins: 15,
    levels: new Float32Array(0),
    meta: new Float32Array([0.25, -1]),
    aux: new Uint32Array(0),
    codes,
    raw: new Float32Array(0),
  };
  let bytes = encode(q); // warm-up
  let t0 = performance.now();
  bytes = encode(q);
  const encMs = performance.now() - t0;
  let back = decode(bytes);
  t0 = performance.now();
  back = decode(bytes);
  const decMs = performance.now() - t0;
  assert.equal(bytes.length, 40 + 8 + n / 2);
  assert.deepStrictEqual(back.codes, codes);
  const mb = (n / 2) / 1e6; // packed payload megabytes
  console.log(
    `4-bit fixed, ${n} codes (${mb.toFixed(1)} MB packed): ` +
      `encode ${encMs.toFixed(1)} ms = ${(mb / (encMs / 1e3)).toFixed(0)} MB/s ` +
      `(${(n / 1e6 / (encMs / 1e3)).toFixed(0)} Mcodes/s), ` +
      `decode ${decMs.toFixed(1)} ms = ${(mb / (decMs / 1e3)).toFixed(0)} MB/s ` +
      `(${(n / 1e6 / (decMs / 1e3)).toFixed(0)} Mcodes/s)`,
  );
});
