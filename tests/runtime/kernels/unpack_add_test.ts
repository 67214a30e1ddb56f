// Kernels.smUnpackDequantizeAdd against the plain JS reference (unpack, table, add).
import assert from "node:assert/strict";
import { CHUNK, kernels } from "../../../runtime/kernels/kernels.ts";
import { Rng } from "../../../runtime/rng.ts";

function reference(
  bytes: Uint8Array,
  n: number,
  bits: number,
  bucket: number,
  norms: Float32Array,
  levels: Float32Array,
  acc: Float32Array,
): Float32Array {
  const out = acc.slice();
  for (let i = 0; i < n; i++) {
    const bit = i * bits;
    const c = (bytes[bit >> 3] >> (bit & 7)) & ((1 << bits) - 1);
    const m = Math.fround(norms[Math.floor(i / bucket)] * levels[c >> 1]);
    out[i] = Math.fround(out[i] + (c & 1 ? -m : m));
  }
  return out;
}

function pack(codes: Uint16Array, bits: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((codes.length * bits) / 8));
  codes.forEach((c, i) => out[(i * bits) >> 3] |= c << ((i * bits) & 7));
  return out;
}

Deno.test("smUnpackDequantizeAdd equals the JS reference (2, 4, 8 bits; odd sizes; > CHUNK)", () => {
  const rng = new Rng(11);
  const cases: [number, number, number][] = [];
  for (const bits of [2, 4, 8]) {
    for (const n of [1, 3, 16, 17, 47, 1000, 4099]) {
      for (const bucket of [1, 5, 16, 33, 1024]) cases.push([bits, n, bucket]);
    }
  }
  cases.push([4, CHUNK + 37, 1024], [2, CHUNK + 5, 7]);
  for (const [bits, n, bucket] of cases) {
    const nlev = 1 << (bits - 1);
    const levels = new Float32Array(nlev).map((_, k) => (k === nlev - 1 ? 1 : k / (nlev - 1)));
    const codes = new Uint16Array(n).map(() => rng.nextU32() % (2 * nlev));
    const bytes = pack(codes, bits);
    const norms = new Float32Array(Math.ceil(n / bucket)).map(() => Math.abs(rng.normal()) * 3);
    const acc = new Float32Array(n).map(() => rng.normal());
    const want = reference(bytes, n, bits, bucket, norms, levels, acc);
    const bad = kernels().smUnpackDequantizeAdd(
      bytes,
      n,
      bits as 2 | 4 | 8,
      bucket,
      norms,
      levels,
      acc,
    );
    assert.equal(bad, -1);
    assert(acc.every((x, i) => Object.is(x, want[i])), `${bits} bits, n ${n}, bucket ${bucket}`);
  }
});

Deno.test("smUnpackDequantizeAdd returns the first code beyond the table, acc unchanged", () => {
  const levels = new Float32Array([0, 0.5, 1]); // 6 valid codes
  for (const at of [0, 1, 15, 16, 17, 40, 99]) {
    const codes = new Uint16Array(100).fill(3);
    codes[at] = 6 + (at % 10);
    codes[99] = at === 99 ? codes[99] : 7; // a later bad code too
    const acc = new Float32Array(100).fill(2);
    const bad = kernels().smUnpackDequantizeAdd(
      pack(codes, 4),
      100,
      4,
      64,
      new Float32Array([1, 1]),
      levels,
      acc,
    );
    assert.equal(bad, at);
    assert(acc.every((x) => x === 2));
  }
});
