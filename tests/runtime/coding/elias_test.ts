import assert from "node:assert/strict";
import { BitReader, BitWriter } from "../../../runtime/coding/bit_stream.ts";
import {
  eliasGammaLength,
  eliasOmegaLength,
  readEliasGamma,
  readEliasOmega,
  writeEliasGamma,
  writeEliasOmega,
} from "../../../runtime/coding/elias.ts";
import { FrameError } from "../../../runtime/errors.ts";

const CODES = [
  { name: "gamma", write: writeEliasGamma, read: readEliasGamma, len: eliasGammaLength },
  { name: "omega", write: writeEliasOmega, read: readEliasOmega, len: eliasOmegaLength },
] as const;

const LARGE = [
  65535,
  65536,
  65537,
  2 ** 20 + 3,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 31 + 12345,
  2 ** 32 - 2,
  2 ** 32 - 1,
];

/** The stream bits of what `fn` writes, as a "0"/"1" string. */
function bitString(fn: (w: BitWriter) => void): string {
  const w = new BitWriter(new Uint8Array(16));
  fn(w);
  const r = new BitReader(w.finish(), w.position);
  let s = "";
  while (r.remaining > 0) s += r.readBit();
  return s;
}

/** Reference omega length by the recursive definition. */
function omegaRef(n: number): number {
  let len = 1;
  while (n > 1) {
    const bits = n.toString(2).length;
    len += bits;
    n = bits - 1;
  }
  return len;
}

for (const c of CODES) {
  Deno.test(`Elias ${c.name} round-trips 1..100000 and large values`, () => {
    const values: number[] = [];
    for (let n = 1; n <= 100000; n++) values.push(n);
    values.push(...LARGE);
    let totalBits = 0;
    for (const v of values) totalBits += c.len(v);
    const w = new BitWriter(new Uint8Array(Math.ceil(totalBits / 8)));
    for (const v of values) {
      const before = w.position;
      c.write(w, v);
      assert.equal(w.position - before, c.len(v), `length of ${v}`);
    }
    assert.equal(w.position, totalBits);
    const r = new BitReader(w.finish(), w.position);
    for (const v of values) assert.equal(c.read(r), v);
    assert.equal(r.remaining, 0);
  });

  Deno.test(`Elias ${c.name} rejects non-positive and non-integer values`, () => {
    const w = new BitWriter(new Uint8Array(16));
    for (const bad of [0, -1, 1.5, 2 ** 32, NaN]) {
      assert.throws(() => c.write(w, bad), RangeError);
      assert.throws(() => c.len(bad), RangeError);
    }
  });

  Deno.test(`Elias ${c.name} throws FrameError on truncated codes`, () => {
    for (const v of [2, 5, 1000, 2 ** 31 + 7]) {
      const w = new BitWriter(new Uint8Array(16));
      c.write(w, v);
      for (let cut = 0; cut < w.position; cut++) {
        const r = new BitReader(w.finish(), cut);
        assert.throws(() => c.read(r), FrameError, `${v} cut at ${cut}`);
      }
    }
  });
}

Deno.test("eliasGammaLength() is 2⌊log₂n⌋+1 and eliasOmegaLength() follows the definition", () => {
  for (let n = 1; n <= 100000; n++) {
    assert.equal(eliasGammaLength(n), 2 * Math.floor(Math.log2(n)) + 1);
    assert.equal(eliasOmegaLength(n), omegaRef(n));
  }
  for (const n of LARGE) {
    assert.equal(eliasGammaLength(n), 2 * (n.toString(2).length - 1) + 1);
    assert.equal(eliasOmegaLength(n), omegaRef(n));
  }
});

Deno.test("Elias codewords match the textbook bit strings", () => {
  const g = (n: number) => bitString((w) => writeEliasGamma(w, n));
  const o = (n: number) => bitString((w) => writeEliasOmega(w, n));
  assert.equal(g(1), "1");
  assert.equal(g(2), "010");
  assert.equal(g(3), "011");
  assert.equal(g(4), "00100");
  assert.equal(g(17), "000010001");
  assert.equal(o(1), "0");
  assert.equal(o(2), "100");
  assert.equal(o(3), "110");
  assert.equal(o(4), "101000");
  assert.equal(o(7), "101110");
  assert.equal(o(8), "1110000");
  assert.equal(o(16), "10100100000");
  assert.equal(o(100), "1011011001000");
});

Deno.test("readEliasGamma() rejects a prefix of more than 31 zeros", () => {
  const bytes = new Uint8Array(16); // all zeros
  assert.throws(
    () => readEliasGamma(new BitReader(bytes)),
    (e) => e instanceof FrameError && /31 zeros/.test(e.message),
  );
  // 31 zeros then a 1 then 31 bits is the largest legal code.
  const w = new BitWriter(new Uint8Array(8));
  writeEliasGamma(w, 2 ** 32 - 1);
  assert.equal(w.position, 63);
});

Deno.test("readEliasOmega() rejects values beyond 32 bits", () => {
  // 2^32-1 = groups "11" "100" "11111" "1…1"(32) "0"; replace the final 0 by 1 and pad with 1s.
  const w = new BitWriter(new Uint8Array(16));
  writeEliasOmega(w, 2 ** 32 - 1);
  const n = w.position;
  const bytes = w.finish().slice();
  const big = new Uint8Array(16).fill(0xff);
  big.set(bytes);
  big[(n - 1) >> 3] |= 1 << ((n - 1) & 7);
  assert.throws(
    () => readEliasOmega(new BitReader(big)),
    (e) => e instanceof FrameError && /32 bits/.test(e.message),
  );
  // All ones: never terminates on its own, must stop with FrameError.
  assert.throws(() => readEliasOmega(new BitReader(new Uint8Array(64).fill(0xff))), FrameError);
});
