import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  type CoderName,
  CODERS,
  decode,
  encode,
  quantizeEncode,
} from "../../../runtime/coding/codec.ts";
import { NonFiniteError } from "../../../runtime/errors.ts";
import { CHUNK, STREAM_CHUNK } from "../../../runtime/kernels/kernels.ts";
import { nativeQuantKernel } from "../../../runtime/kernels/native.ts";
import { withNative } from "../../_support/kernels.ts";
import { LayerwiseQuantizer } from "../../../runtime/quant/layerwise.ts";
import { MaxMinQuantizer } from "../../../runtime/quant/max_min.ts";
import { QsgdQuantizer } from "../../../runtime/quant/qsgd.ts";
import { SCHEMES } from "../../../runtime/quant/types.ts";
import type { Quantizer, QuantizeStats } from "../../../runtime/quant/types.ts";
import { Rng } from "../../../runtime/rng.ts";
import { makeBlock } from "./_blocks.ts";

const LAYER = { name: "pin/kernel", type: "dense" };

function sha(a: ArrayBufferView): string {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  return createHash("sha256").update(bytes).digest("hex").slice(0, 32);
}

/** Heavy-tailed data with a few large rows and zero buckets at the start. */
function data(n: number, bucket: number, seed: number, rng = new Rng(seed)): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal() ** 3 * ((i >> 10) % 61 === 0 ? 25 : 1);
  for (let i = 0; i < Math.min(n, 2 * bucket + 1); i++) v[i] = 0;
  return v;
}

interface PinCase {
  name: string;
  scheme: "qsgd" | "layerwise";
  bits: number;
  n: number;
  bucket: number;
  normQ: number;
  levels?: "adapted" | "exponential";
  seed: number;
  /** What the implementation before the fused path produced. */
  frame: string;
  bytes: number;
  sqError: number;
  sqNorm: number;
  next: number;
  hist: string;
}

// Recorded with the kernels as they were before quantizeEncode() existed
// (commit f51a80d): the frames, the ε_Q sums, the level statistics and the
// next random draw of the WebAssembly kernel must not change.
// deno-fmt-ignore
const PINS: PinCase[] = [
  {
    name: "layerwise 4-bit adapted, bucket 1024", scheme: "layerwise", bits: 4, n: 100_003, bucket: 1024, normQ: 2, levels: "adapted", seed: 1,
    frame: "4e4345984614a1f9ebebb54467856117",
    bytes: 50466,
    sqError: 1032890.0655604241,
    sqNorm: 14203321.121102147,
    next: 975886191,
    hist: "205eef535b9b8eb794923c1b7b8b0081",
  },
  {
    name: "layerwise 4-bit adapted, 2 chunks + tail", scheme: "layerwise", bits: 4, n: 2 * (1 << 20) + 12_345, bucket: 1024, normQ: 2, levels: "adapted", seed: 2,
    frame: "51030f5035351db56b34fbb1c9b5a77f",
    bytes: 1063065,
    sqError: 28958718.999099586,
    sqNorm: 342204138.02632743,
    next: 3890987218,
    hist: "91a4e85538b61248f7e36543b93f63a1",
  },
  {
    name: "layerwise 2-bit adapted, bucket 1000", scheme: "layerwise", bits: 2, n: 65_541, bucket: 1000, normQ: 2, levels: "adapted", seed: 3,
    frame: "8075bd26c08375ce797825a3850a68a1",
    bytes: 16698,
    sqError: 106574434.43100353,
    sqNorm: 12183570.31081014,
    next: 2029899037,
    hist: "d07734858f992b7892c24208444a2ab7",
  },
  {
    name: "layerwise 3-bit exponential, bucket 3", scheme: "layerwise", bits: 3, n: 5_001, bucket: 3, normQ: 2, levels: "exponential", seed: 4,
    frame: "5b1f8d85f3a60df0585c892e50ad51ab",
    bytes: 8600,
    sqError: 256853.46723489763,
    sqNorm: 10194678.948300652,
    next: 2259901088,
    hist: "c6c9d1787c3d39ee1fb2e8765cde5907",
  },
  {
    name: "layerwise 8-bit adapted (level table lookup)", scheme: "layerwise", bits: 8, n: 20_011, bucket: 512, normQ: 2, levels: "adapted", seed: 5,
    frame: "5999302322904b0ad48b586b572e52fe",
    bytes: 20723,
    sqError: 1197.4239694794994,
    sqNorm: 296265.18330926466,
    next: 2514392503,
    hist: "50159ec5fd22696e88381dc742e652c8",
  },
  {
    name: "layerwise 4-bit L-infinity, bucket 100", scheme: "layerwise", bits: 4, n: 70_001, bucket: 100, normQ: Infinity, levels: "adapted", seed: 6,
    frame: "153ffbf3af0ad35b88af4a3e4657992d",
    bytes: 37877,
    sqError: 450661.6715022647,
    sqNorm: 18808068.47040132,
    next: 1850166655,
    hist: "10bb3fbe156d8590bbde35e70b5a76fd",
  },
  {
    name: "qsgd 4-bit, bucket 1024", scheme: "qsgd", bits: 4, n: 100_003, bucket: 1024, normQ: 2, seed: 7,
    frame: "27c6c5eff9a0f51d0b77e1634007b0e8",
    bytes: 50466,
    sqError: 12876001.621373747,
    sqNorm: 13104393.352413801,
    next: 65840197,
    hist: "",
  },
  {
    name: "qsgd 5-bit (16 levels), bucket 4096", scheme: "qsgd", bits: 5, n: 65_541, bucket: 4096, normQ: 2, seed: 8,
    frame: "f62a3a3ac3a19eb46f6ce1b0cc52b71e",
    bytes: 41136,
    sqError: 4944952.391828557,
    sqNorm: 9713976.188289378,
    next: 4063083273,
    hist: "",
  },
  {
    name: "qsgd 8-bit L-infinity, bucket 17", scheme: "qsgd", bits: 8, n: 9_999, bucket: 17, normQ: Infinity, seed: 9,
    frame: "a30ca29beff9f0e45f803f84cad99f4b",
    bytes: 12907,
    sqError: 1008.3000698438622,
    sqNorm: 11260136.129007569,
    next: 1621700886,
    hist: "",
  },
];

function pinQuantizer(c: PinCase): QsgdQuantizer | LayerwiseQuantizer {
  return c.scheme === "qsgd"
    ? new QsgdQuantizer({ bits: c.bits, bucketSize: c.bucket, normQ: c.normQ })
    : new LayerwiseQuantizer({
      bits: c.bits,
      bucketSize: c.bucket,
      normQ: c.normQ,
      adapt: { warmup: [1], every: 0 },
      initialLevels: c.levels === "exponential" ? "exponential" : "uniform",
    });
}

for (const fused of [false, true]) {
  Deno.test(`${fused ? "quantizeEncode()" : "encode(quantize())"} writes the pinned frames`, () => {
    withNative(false, () => pinnedFrames(fused));
  });
}

function pinnedFrames(fused: boolean): void {
  {
    for (const c of PINS) {
      const rng = new Rng(c.seed);
      const v = data(c.n, c.bucket, c.seed, rng);
      const q = pinQuantizer(c);
      if (c.levels === "adapted") {
        q.quantize(v, rng, LAYER);
        assert.ok(q instanceof QsgdQuantizer || q.maybeAdapt(1));
      }
      const stats: QuantizeStats = { sqError: 0, sqNorm: 0 };
      const frame = fused
        ? quantizeEncode(q, v, rng, { layer: LAYER, stats })
        : encode(q.quantize(v, rng, LAYER, stats));
      assert.equal(frame.length, c.bytes, c.name);
      assert.equal(sha(frame), c.frame, c.name);
      assert.equal(stats.sqError, c.sqError, c.name);
      assert.equal(stats.sqNorm, c.sqNorm, c.name);
      assert.equal(rng.nextU32(), c.next, c.name);
      if (q instanceof LayerwiseQuantizer) {
        assert.equal(sha(Float64Array.from(q.snapshot().histograms.dense)), c.hist, c.name);
      }
    }
  }
}

// The same, over a grid of small sizes (around the SIMD widths), bucket
// sizes, widths and norms: one hash over all the frames, sums and draws. The
// native kernel's (recorded with its first version) covers the frames and
// draws: its own random stream gives other frames.
const GRID_PIN = "ee99717ab682a55ec9e8ef69f8539b08";
const NATIVE_GRID_PIN = "e4f5b4cf619b529792af4605d350f84a";

for (const fused of [false, true]) {
  const name = fused ? "quantizeEncode()" : "encode(quantize())";
  Deno.test(`${name} writes the pinned grid`, () => {
    assert.equal(withNative(false, () => pinnedGrid(fused, true)), GRID_PIN);
  });
  Deno.test({
    name: `${name} writes the pinned grid with the native kernel`,
    ignore: nativeQuantKernel() === null,
    fn: () => {
      assert.equal(withNative(true, () => pinnedGrid(fused, false)), NATIVE_GRID_PIN);
    },
  });
}

/** The grid's hash: frames and draws, and the sums when `sums`. */
function pinnedGrid(fused: boolean, sums: boolean): string {
  {
    const hash = createHash("sha256");
    let count = 0;
    for (const n of [1, 7, 8, 9, 15, 16, 17, 33, 1000, 1023, 1025, 4097]) {
      for (const bucket of [1, 3, 8, 100, 1024]) {
        const rng = new Rng(n * 7 + bucket);
        const v = new Float32Array(n);
        for (let i = 0; i < n; i++) v[i] = i % 300 < 40 ? 0 : rng.normal() ** 3;
        for (const bits of [2, 3, 4, 5, 8]) {
          for (const normQ of [2, Infinity]) {
            for (const scheme of ["qsgd", "layerwise"]) {
              const q = scheme === "qsgd"
                ? new QsgdQuantizer({ bits, bucketSize: bucket, normQ })
                : new LayerwiseQuantizer({
                  bits,
                  bucketSize: bucket,
                  normQ,
                  initialLevels: "exponential",
                });
              const stats = { sqError: 0, sqNorm: 0 };
              const frame = fused
                ? quantizeEncode(q, v, rng, { stats })
                : encode(q.quantize(v, rng, undefined, stats));
              hash.update(frame);
              if (sums) {
                hash.update(new Uint8Array(new Float64Array([stats.sqError, stats.sqNorm]).buffer));
              }
              count++;
            }
          }
        }
        hash.update(new Uint8Array(new Uint32Array([rng.nextU32()]).buffer));
      }
    }
    assert.equal(count, 1200);
    return hash.digest("hex").slice(0, 32);
  }
}

/**
 * Runs `f` on a fresh quantizer and Rng; returns what it produced, the state
 * it left, and whether the blocks `quantize` returned had their codes packed
 * straight into the frame (empty `codes`).
 */
function run(
  make: () => Quantizer,
  f: (q: Quantizer, rng: Rng, stats: QuantizeStats) => Uint8Array,
  seed: number,
) {
  const q = make(), rng = new Rng(seed);
  const quantize = q.quantize.bind(q);
  let packed = false;
  q.quantize = (...args) => {
    const block = quantize(...args);
    packed = block.length > 0 && block.codes.length === 0;
    return block;
  };
  const stats: QuantizeStats = { sqError: 0, sqNorm: 0 };
  const frame = f(q, rng, stats).slice();
  const state = q instanceof LayerwiseQuantizer
    ? { snapshot: q.snapshot(), eps: q.eps.snapshot() }
    : null;
  return { frame, stats, next: rng.nextU32(), state, packed };
}

Deno.test("quantizeEncode() equals encode(quantize()) byte for byte, and leaves the same state", () => {
  const sizes = [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 1023, 1025, 4097, STREAM_CHUNK + 5];
  const buckets = [1, 3, 8, 100, 1000, 1024, 4096];
  let cases = 0;
  for (const n of sizes) {
    for (const bucket of buckets) {
      if (bucket < 8 && n > 5000) continue;
      const v = data(n, bucket, n + bucket);
      for (const bits of [2, 3, 4, 5, 8]) {
        const makers: (() => Quantizer)[] = [
          () => new QsgdQuantizer({ bits, bucketSize: bucket, normQ: bits === 3 ? Infinity : 2 }),
          () =>
            new LayerwiseQuantizer({
              bits,
              bucketSize: bucket,
              initialLevels: bits === 4 ? "exponential" : "uniform",
            }),
        ];
        for (const make of makers) {
          const what = `${make().scheme} ${bits} bits, n ${n}, bucket ${bucket}`;
          const want = run(make, (q, rng, s) => encode(q.quantize(v, rng, LAYER, s)), bits);
          // Into a dirty buffer, at an odd offset: every byte must be written.
          const dirty = new Uint8Array(want.frame.length + 9).fill(0xa5).subarray(3);
          const got = run(
            make,
            (q, rng, stats) => quantizeEncode(q, v, rng, { layer: LAYER, stats, out: dirty }),
            bits,
          );
          assert.deepStrictEqual(got.frame, want.frame, what);
          assert.deepStrictEqual(got.stats, want.stats, what);
          assert.equal(got.next, want.next, what);
          assert.deepStrictEqual(got.state, want.state, what);
          assert.equal(got.packed, n > 0, `${what}: packed by the kernel`);
          assert.equal(want.packed, false);
          cases++;
        }
      }
    }
  }
  assert.ok(cases > 500);
});

Deno.test("quantizeEncode() streams a multi-chunk tensor into a reused buffer", () => {
  const n = CHUNK + STREAM_CHUNK + 11, bucket = 1000;
  const v = data(n, bucket, 77);
  const make = () => new LayerwiseQuantizer({ bits: 4, bucketSize: bucket });
  const want = run(make, (q, rng, s) => encode(q.quantize(v, rng, LAYER, s)), 5);
  let buf: Uint8Array = new Uint8Array(0);
  const got = run(make, (q, rng, stats) => {
    // Twice: the second call writes into the first call's buffer.
    buf = quantizeEncode(q, v, new Rng(99), { layer: LAYER, out: buf });
    const frame = quantizeEncode(q, v, rng, { layer: LAYER, stats, out: buf });
    assert.equal(frame.buffer, buf.buffer, "the frame is a view of the reused buffer");
    return frame;
  }, 5);
  assert.deepStrictEqual(got.frame, want.frame);
  assert.deepStrictEqual(got.stats, want.stats);
  assert.equal(got.next, want.next);
  assert.ok(got.packed);
});

Deno.test("quantizeEncode() falls back to encode(quantize()) where the kernel does not pack", () => {
  const v = data(5000, 100, 3);
  const makers: [string, () => Quantizer, CoderName][] = [
    ["maxmin", () => new MaxMinQuantizer({ bits: 4, bucketSize: 100 }), "fixed"],
    ["layerwise gamma", () => new LayerwiseQuantizer({ bits: 4, bucketSize: 100 }), "gamma"],
    ["qsgd omega", () => new QsgdQuantizer({ bits: 8, bucketSize: 100 }), "omega"],
    ["layerwise L3", () => new LayerwiseQuantizer({ bits: 4, bucketSize: 100, normQ: 3 }), "fixed"],
  ];
  for (const [what, make, coder] of makers) {
    const want = run(make, (q, rng, s) => encode(q.quantize(v, rng, LAYER, s), coder), 1);
    const out = new Uint8Array(want.frame.length + 100).fill(7);
    const got = run(
      make,
      (q, rng, stats) => quantizeEncode(q, v, rng, { layer: LAYER, stats, coder, out }),
      1,
    );
    assert.deepStrictEqual(got.frame, want.frame, what);
    assert.deepStrictEqual(got.stats, want.stats, what);
    assert.equal(got.next, want.next, what);
    assert.deepStrictEqual(got.state, want.state, what);
    assert.equal(got.packed, false, what);
  }
});

Deno.test("quantizeEncode() raises what encode(quantize()) raises", () => {
  const v = data(3000, 100, 4);
  v[2500] = NaN;
  const q = new LayerwiseQuantizer({ bits: 4, bucketSize: 100 });
  assert.throws(() => quantizeEncode(q, v, new Rng(1), { layer: LAYER }), NonFiniteError);
  assert.throws(() => encode(q.quantize(v, new Rng(1), LAYER)), NonFiniteError);
});

Deno.test("encode() into a reused buffer writes what a fresh encode() writes", () => {
  let buf: Uint8Array = new Uint8Array(0);
  for (const scheme of SCHEMES) {
    for (const coder of CODERS) {
      if ((scheme === "none" || scheme === "fp16") && coder !== "fixed") continue;
      for (const n of [0, 1, 7, 1000, 1025]) {
        const q = makeBlock(scheme, 5, n, n + scheme.length, "random");
        const want = encode(q, coder);
        buf.fill(0xff);
        const got = encode(q, coder, buf);
        assert.deepStrictEqual(got, want, `${scheme} ${coder} n ${n}`);
        assert.deepStrictEqual(decode(got), q);
        if (got.buffer === buf.buffer) assert.equal(got.byteOffset, buf.byteOffset);
        else buf = new Uint8Array(got.length + 64).subarray(1); // larger next time, odd offset
      }
    }
  }
});
