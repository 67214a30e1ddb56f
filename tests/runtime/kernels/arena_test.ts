// kernelArena(): values in the kernels' own memory, quantized, decoded and reduced in place with
// the same results as the copying path, and the fall-backs where in place would not be the same.
import assert from "node:assert/strict";
import {
  arenaPages,
  CHUNK,
  kernelArena,
  kernels,
  MAX_PAGES,
  STREAM_CHUNK,
} from "../../../runtime/kernels/kernels.ts";
import { Rng } from "../../../runtime/rng.ts";
import {
  addOwnCodes,
  bucketMaxAbs,
  laneWidth,
  uniformGrid,
  unpackDequantize,
} from "../../../runtime/quant/shared_grid.ts";

const normal = (rng: Rng, n: number) => new Float32Array(n).map(() => rng.normal());

Deno.test("kernelArena() gives zeros in an instance of its own; kernels(x) finds it, other arrays get the default", () => {
  const a = kernelArena(5000), b = kernelArena(10);
  assert.equal(a.length, 5000);
  assert.ok(a.every((x) => x === 0));
  assert.notEqual(kernels(a), kernels());
  assert.notEqual(kernels(a), kernels(b));
  assert.equal(kernels(a.subarray(100, 200)), kernels(a), "a view of an arena finds its instance");
  assert.equal(kernels(new Float32Array(10)), kernels());
  assert.ok(a.byteOffset >= kernels(a).arenaAt);
  assert.throws(() => kernelArena(-1), /non-negative integer/);
});

Deno.test("arenaPages() sizes the scratch and the values, and refuses what exceeds the limit", () => {
  const at = kernels().arenaAt;
  assert.equal(arenaPages(0), 512, "never below the module's 32 MiB");
  const n = 40_000_000; // 160 MB of values
  assert.equal(arenaPages(n), Math.ceil((at + 4 * n) / 65536));
  assert.equal(arenaPages(n, arenaPages(n) - 1), 0);
  assert.equal(arenaPages(2 ** 30), 0, "4 GiB of values cannot fit a 32-bit memory");
  assert.equal(MAX_PAGES, 65536);
});

Deno.test("smQuantizeInto() on arena values: the codes, norms, sums, statistics and draws of the copy path", () => {
  const rng = new Rng(21);
  const levels = new Float32Array([0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.4, 1]);
  for (const [n, bucket] of [[3 * STREAM_CHUNK + 517, 1024], [1000, 7], [CHUNK + 9, 512]]) {
    const v = normal(rng, n);
    const arena = kernelArena(n + 16);
    const inArena = arena.subarray(16, 16 + n); // not at the arena's start
    inArena.set(v);
    const run = (x: Float32Array) => {
      const norms = new Float32Array(Math.ceil(n / bucket));
      const packed = new Uint8Array(Math.ceil(n / 2));
      const hist = new Float64Array(64);
      const r = new Rng(5);
      const s = kernels(x).smQuantizeInto(x, bucket, 2, levels, new Uint16Array(1), r, norms, {
        packed,
        bits: 4,
        hist,
      });
      return { s, norms, packed, hist, next: r.nextU32() };
    };
    const want = run(v), got = run(inArena);
    assert.deepStrictEqual(got, want, `n ${n}, bucket ${bucket}`);
    assert.deepStrictEqual(inArena, v, "the input is not written");
  }
});

Deno.test("smUnpackDequantize(Add) into arena values: the copy path's values, in place", () => {
  const rng = new Rng(22);
  for (const bits of [2, 4, 8] as const) {
    const nlev = 1 << (bits - 1); // a full table: every code is valid
    const levels = new Float32Array(nlev).map((_, k) => (k === nlev - 1 ? 1 : k / nlev));
    const n = 2 * STREAM_CHUNK + 4096 + 24, bucket = 512;
    const bytes = new Uint8Array(Math.ceil((n * bits) / 8)).map(() => rng.nextU32() & 255);
    const norms = new Float32Array(Math.ceil(n / bucket)).map(() => 1 + rng.nextFloat());
    const acc = normal(rng, n);
    const arena = kernelArena(n + 8).subarray(8, 8 + n);
    for (const add of [false, true]) {
      const want = acc.slice();
      arena.set(acc);
      const k = kernels(arena);
      const f = add ? "smUnpackDequantizeAdd" : "smUnpackDequantize";
      assert.equal(kernels()[f](bytes, n, bits, bucket, norms, levels, want), -1);
      assert.equal(k[f](bytes, n, bits, bucket, norms, levels, arena), -1);
      assert.ok(arena.every((x, i) => Object.is(x, want[i])), `${f}, ${bits} bits`);
    }
  }
});

Deno.test("smUnpackDequantizeAdd into an arena with a partial table leaves a bad chunk untouched, as the copy path does", () => {
  const rng = new Rng(23);
  const levels = new Float32Array([0, 0.25, 0.5, 1]); // 8 valid codes of 16
  const n = 4096, bucket = 256;
  const codes = new Uint8Array(n).map(() => rng.nextU32() % 8);
  codes[3000] = 13;
  const bytes = new Uint8Array(n / 2).map((_, i) => codes[2 * i] | (codes[2 * i + 1] << 4));
  const norms = new Float32Array(n / bucket).fill(2);
  const arena = kernelArena(n);
  arena.set(normal(rng, n));
  const before = arena.slice();
  assert.equal(
    kernels(arena).smUnpackDequantizeAdd(bytes, n, 4, bucket, norms, levels, arena),
    3000,
  );
  assert.deepStrictEqual(arena, before);
});

Deno.test("the integer collective's kernels on arena values: the maxima, hops (decoded into x itself) and decodes of plain arrays", () => {
  const rng = new Rng(24);
  const grid = uniformGrid(4), bucket = 512, n = 3 * STREAM_CHUNK + 1000;
  const x = normal(rng, n);
  const scales = new Float32Array(Math.ceil(n / bucket));
  bucketMaxAbs(x, bucket, scales);
  const own = (v: Float32Array, decoded: Float32Array | null) => {
    const lanes = new Uint8Array(Math.ceil((n * laneWidth(grid, 1)) / 8));
    addOwnCodes(null, 0, v, scales, bucket, grid, 7, lanes, null, 1);
    const out = new Uint8Array(Math.ceil((n * laneWidth(grid, 2)) / 8));
    addOwnCodes(lanes, 1, v, scales, bucket, grid, 8, out, decoded, 2);
    return out;
  };
  const arena = kernelArena(n);
  arena.set(x);
  const scalesArena = new Float32Array(scales.length);
  bucketMaxAbs(arena, bucket, scalesArena);
  assert.deepStrictEqual(scalesArena, scales);
  const decoded = new Float32Array(n);
  const want = own(x, decoded);
  const got = own(arena, arena); // the owner's hop: its sums decoded over its own values
  assert.deepStrictEqual(got, want);
  assert.ok(arena.every((v, i) => Object.is(v, decoded[i])));
  const plainOut = new Float32Array(n), arenaOut = kernelArena(n);
  unpackDequantize(want, 2, grid, scales, bucket, 2, plainOut);
  unpackDequantize(want, 2, grid, scales, bucket, 2, arenaOut);
  assert.ok(arenaOut.every((v, i) => Object.is(v, plainOut[i])));
});
