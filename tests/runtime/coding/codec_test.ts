import assert from "node:assert/strict";
import {
  type CoderName,
  CODERS,
  decode,
  encode,
  encodedLengthBound,
  FORMAT_VERSION,
  HEADER_BYTES,
} from "../../../runtime/coding/codec.ts";
import { QuantizationError, UnknownNameError } from "../../../runtime/errors.ts";
import { type Quantized, SCHEMES } from "../../../runtime/quant/types.ts";
import { type CodeKind, makeBlock, SIGNED_SCHEMES, UNSIGNED_SCHEMES } from "./_blocks.ts";

const BITS = [1, 2, 3, 4, 5, 7, 8, 12, 16];
const LENGTHS = [0, 1, 7, 1000, 1023, 1025, 4097];

function payloadCount(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset).getUint32(36, true);
}

function roundTrip(q: Quantized, coder: CoderName, what: string): Uint8Array {
  const bytes = encode(q, coder);
  assert.ok(
    bytes.length <= encodedLengthBound(q, coder),
    `${what}: ${bytes.length} > bound ${encodedLengthBound(q, coder)}`,
  );
  const back = decode(bytes);
  assert.deepStrictEqual(back, q, what);
  const side = 4 * (q.levels.length + q.meta.length + q.aux.length);
  assert.equal(bytes.length, HEADER_BYTES + side + payloadCount(bytes), `${what}: sizes`);
  if (coder === "fixed") {
    const expected = q.scheme === "none" ? 4 * q.length : Math.ceil((q.length * q.bits) / 8);
    assert.equal(payloadCount(bytes), expected, `${what}: fixed payload size`);
    assert.equal(bytes.length, encodedLengthBound(q, coder), `${what}: fixed bound is exact`);
  }
  return bytes;
}

Deno.test("encode()/decode() round-trip every scheme × coder × bits × length", () => {
  let seed = 1;
  let count = 0;
  const kinds: CodeKind[] = ["random", "zero", "max", "small"];
  for (const scheme of SCHEMES) {
    const coders: CoderName[] = scheme === "none" || scheme === "fp16" ? ["fixed"] : [...CODERS];
    const bitsList = scheme === "none" ? [32] : scheme === "fp16" ? [16] : BITS.filter(
      (b) => !SIGNED_SCHEMES.includes(scheme) || b >= 2,
    );
    for (const coder of coders) {
      for (const bits of bitsList) {
        for (const length of LENGTHS) {
          for (const kind of kinds) {
            // All kinds on the mid-sized lengths, random + zero elsewhere.
            if (length > 1025 && (kind === "max" || kind === "small")) continue;
            const q = makeBlock(scheme, bits, length, seed++, kind);
            roundTrip(q, coder, `${scheme}/${coder}/${bits} bits/n=${length}/${kind}`);
            count++;
          }
        }
      }
    }
  }
  assert.ok(count > 1000, `only ${count} round trips`);
});

Deno.test("decode() accepts unaligned views and returns arrays that do not alias the input", () => {
  const q = makeBlock("bhq", 5, 333, 7);
  const bytes = encode(q, "omega");
  const padded = new Uint8Array(bytes.length + 3);
  padded.set(bytes, 1);
  const view = padded.subarray(1, 1 + bytes.length);
  const back = decode(view);
  assert.deepStrictEqual(back, q);
  padded.fill(0);
  assert.deepStrictEqual(back, q, "decoded block changed when the input was cleared");
  const n = makeBlock("none", 32, 5, 8);
  const nb = encode(n);
  const pn = new Uint8Array(nb.length + 1);
  pn.set(nb, 1);
  assert.deepStrictEqual(decode(pn.subarray(1)), n);
});

Deno.test("encode() writes 4-bit fixed codes in exactly ceil(n/2) payload bytes", () => {
  for (const n of [0, 1, 2, 3, 999, 1000, 4097]) {
    const q = makeBlock("maxmin", 4, n, n + 100);
    const bytes = encode(q, "fixed");
    assert.equal(payloadCount(bytes), Math.ceil(n / 2), `n=${n}`);
    assert.equal(bytes.length, HEADER_BYTES + 4 * q.meta.length + Math.ceil(n / 2));
    // Low nibble first: code 2i in bits 0..3 of payload byte i.
    const payload = bytes.subarray(bytes.length - Math.ceil(n / 2));
    for (let i = 0; i < n; i++) {
      assert.equal((payload[i >> 1] >> (4 * (i & 1))) & 15, q.codes[i], `code ${i}`);
    }
  }
});

Deno.test("encode() writes the documented header layout", () => {
  const q = makeBlock("qsgd", 6, 50, 3);
  const bytes = encode(q, "gamma");
  const v = new DataView(bytes.buffer);
  assert.equal(HEADER_BYTES % 4, 0);
  assert.equal(String.fromCharCode(bytes[0], bytes[1]), "QR");
  assert.equal(bytes[2], FORMAT_VERSION);
  assert.equal(bytes[3], SCHEMES.indexOf("qsgd"));
  assert.equal(bytes[4], CODERS.indexOf("gamma"));
  assert.equal(bytes[5], 6);
  assert.equal(v.getUint16(6, true), 1, "signed flag");
  assert.equal(v.getFloat32(8, true), q.normQ);
  assert.equal(v.getUint32(12, true), q.bins);
  assert.equal(v.getUint32(16, true), 50);
  assert.equal(v.getUint32(20, true), q.bucketSize);
  assert.equal(v.getUint32(24, true), q.levels.length);
  assert.equal(v.getUint32(28, true), q.meta.length);
  assert.equal(v.getUint32(32, true), 0);
  assert.equal(v.getFloat32(HEADER_BYTES, true), q.levels[0]);
  assert.equal(v.getFloat32(HEADER_BYTES + 4 * q.levels.length, true), q.meta[0]);
});

Deno.test("Elias coders shrink small indices and match hand-computed sizes", () => {
  const q = makeBlock("qsgd", 8, 1000, 5, "zero");
  // index 0 → gamma(1) = omega(1) = 1 bit, no sign bit.
  assert.equal(payloadCount(encode(q, "gamma")), 125);
  assert.equal(payloadCount(encode(q, "omega")), 125);
  assert.equal(payloadCount(encode(q, "fixed")), 1000);
  // signed code 5 = index 2, negative: gamma(3) = 3 bits + sign = 4 bits.
  const q2 = { ...q, codes: new Uint16Array(1000).fill(5) };
  assert.equal(payloadCount(encode(q2, "gamma")), 500);
  // unsigned code 6 → gamma(7) = 5 bits, omega(7) = 6 bits.
  const u = makeBlock("ptq", 3, 8, 6);
  u.codes.fill(6);
  assert.equal(payloadCount(encode(u, "gamma")), 5);
  assert.equal(payloadCount(encode(u, "omega")), 6);
  for (const coder of CODERS) {
    assert.deepStrictEqual(decode(encode(q2, coder)), q2);
    assert.deepStrictEqual(decode(encode(u, coder)), u);
  }
});

Deno.test("encodedLengthBound() depends on header fields only and bounds the worst case", () => {
  for (const scheme of [...SIGNED_SCHEMES, ...UNSIGNED_SCHEMES]) {
    for (const bits of BITS) {
      if (SIGNED_SCHEMES.includes(scheme) && bits < 2) continue;
      for (const coder of CODERS) {
        const zero = makeBlock(scheme, bits, 257, 9, "zero");
        const max = makeBlock(scheme, bits, 257, 9, "max");
        const bound = encodedLengthBound(zero, coder);
        assert.equal(encodedLengthBound(max, coder), bound);
        // Worst case over every value: each code alone must fit the per-code bound.
        const maxCode = 2 ** bits - 1;
        let worst = 0;
        // Every code up to 8 bits; above that, both sides of each power of two and the top.
        const candidates = new Set<number>();
        for (let c = 0; c <= Math.min(maxCode, 255); c++) candidates.add(c);
        for (let k = 0; k <= bits; k++) {
          for (let d = -3; d <= 3; d++) candidates.add(Math.min(maxCode, Math.max(0, 2 ** k + d)));
        }
        for (let c = Math.max(0, maxCode - 64); c <= maxCode; c++) candidates.add(c);
        for (const c of candidates) {
          if (SIGNED_SCHEMES.includes(scheme) && c === 1) continue;
          const one = {
            ...zero,
            length: 1,
            codes: new Uint16Array([c]),
            meta: new Float32Array(0),
          };
          worst = Math.max(worst, payloadCount(encode(one, coder)));
        }
        const one = { ...zero, length: 1, codes: new Uint16Array(1), meta: new Float32Array(0) };
        const levelsBytes = 4 * zero.levels.length + 4 * zero.aux.length;
        assert.ok(worst <= encodedLengthBound(one, coder) - HEADER_BYTES - levelsBytes);
        assert.ok(encode(max, coder).length <= bound, `${scheme}/${coder}/${bits}`);
      }
    }
  }
});

Deno.test("encode() rejects invalid blocks with QuantizationError", () => {
  const good = makeBlock("qsgd", 4, 10, 1);
  const bad = (patch: Partial<Quantized>, coder: CoderName = "fixed", re?: RegExp) =>
    assert.throws(
      () => encode({ ...good, ...patch }, coder),
      (e) => e instanceof QuantizationError && (!re || re.test(e.message)),
      JSON.stringify(Object.keys(patch)),
    );
  bad({ codes: new Uint16Array(9) }, "fixed", /codes.length/);
  bad({ codes: new Uint16Array(10).fill(16) }, "fixed", /code 16 at index 0/);
  bad({ codes: new Uint16Array(10).fill(16) }, "gamma", /code 16/);
  bad({ codes: new Uint16Array([0, 2, 1, 0, 0, 0, 0, 0, 0, 0]) }, "gamma", /negative zero/);
  bad({ codes: new Uint16Array([0, 2, 1, 0, 0, 0, 0, 0, 0, 0]) }, "omega", /negative zero/);
  bad({ bits: 0 }, "fixed", /bits/);
  bad({ bits: 17 }, "fixed", /bits/);
  bad({ bits: 1 }, "fixed", /signed/);
  bad({ bits: 2.5 }, "fixed", /bits/);
  bad({ length: -1 }, "fixed", /length/);
  bad({ bucketSize: 2 ** 32 }, "fixed", /bucketSize/);
  bad({ normQ: NaN }, "fixed", /normQ/);
  bad({ normQ: 0.1 }, "fixed", /normQ/);
  bad({ raw: new Float32Array(1) }, "fixed", /raw/);
  bad({ scheme: "nope" as Quantized["scheme"] }, "fixed", /unknown scheme/);
  // a signed negative zero is fine under fixed coding
  const negZero = { ...good, codes: new Uint16Array(10).fill(1) };
  assert.deepStrictEqual(decode(encode(negZero)), negZero);
  for (const scheme of ["none", "fp16"] as const) {
    const q = makeBlock(scheme, 0, 4, 2);
    for (const coder of ["gamma", "omega"] as const) {
      for (const f of [() => encode(q, coder), () => encodedLengthBound(q, coder)]) {
        assert.throws(f, (e) =>
          e instanceof QuantizationError && e.message.includes(coder) &&
          e.message.includes(scheme));
      }
    }
    assert.throws(() => encode({ ...q, bits: 8 }), QuantizationError);
  }
  const none = makeBlock("none", 32, 4, 2);
  assert.throws(() => encode({ ...none, raw: new Float32Array(3) }), QuantizationError);
  assert.throws(() => encode({ ...none, codes: new Uint16Array(4) }), QuantizationError);
});

Deno.test("encode() and encodedLengthBound() reject unknown coders with UnknownNameError", () => {
  const q = makeBlock("maxmin", 4, 10, 1);
  for (
    const f of [
      () => encode(q, "zstd" as CoderName),
      () => encodedLengthBound(q, "rle" as CoderName),
    ]
  ) {
    assert.throws(f, (e) => e instanceof UnknownNameError && e.valid.includes("gamma"));
  }
});
