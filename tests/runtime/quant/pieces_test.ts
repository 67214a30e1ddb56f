// Pieces of layers (what a collective hands a quantizer after cutting the
// flat buffer at chunk and segment boundaries): psq and bhq cut a piece into
// its layer's rows, the last one possibly shorter, and stay unbiased.
import assert from "node:assert/strict";
import { BhqQuantizer } from "../../../runtime/quant/bhq.ts";
import { PsqQuantizer } from "../../../runtime/quant/max_min.ts";
import { layerPiece, layerQuantizer, layerRowLength } from "../../../runtime/quant/pieces.ts";
import { createQuantizer } from "../../../runtime/quant/registry.ts";
import { decode, encode } from "../../../runtime/coding/codec.ts";
import { NonFiniteError, QuantizationError } from "../../../runtime/errors.ts";
import { Rng } from "../../../runtime/rng.ts";
import type { LayerInfo, Quantizer } from "../../../runtime/quant/types.ts";

const LAYER = { name: "fc/kernel", shape: [12, 16], offset: 0, length: 192 };

/** 98 values (six rows of 16 and two more), row 2 heavy. */
function piece(seed = 1): Float32Array {
  const rng = new Rng(seed);
  return new Float32Array(98).map((_, i) => (Math.floor(i / 16) === 2 ? 50 : 1) * rng.normal());
}

Deno.test("layerRowLength and layerPiece: shape, else rowLength, else one row of the layer's length", () => {
  assert.equal(layerRowLength(LAYER), 16);
  assert.equal(layerRowLength({ name: "b", shape: [7] }), 7);
  assert.equal(layerRowLength({ name: "conv", shape: [3, 3, 2, 4] }), 24);
  assert.equal(layerRowLength({ name: "z", length: 9 }), 9);
  assert.equal(layerRowLength({ name: "x" }), undefined);
  assert.deepEqual(layerPiece(LAYER), { name: "fc/kernel", type: "dense", rowLength: 16 });
  assert.deepEqual(layerPiece({ name: "g/z", type: "dense", length: 5 }), {
    name: "g/z",
    type: "dense",
    rowLength: 5,
  });
});

for (const scheme of ["psq", "bhq"] as const) {
  Deno.test(`${scheme}: a piece with a short last row is cut into its layer's rows, unbiased, and survives the coder`, () => {
    const q = createQuantizer({ scheme, bits: 4 });
    const v = piece();
    const info: LayerInfo = layerPiece(LAYER);
    const block = q.quantize(v, new Rng(3), info);
    assert.equal(block.bucketSize, 16);
    assert.equal(block.length, 98);
    const back = q.dequantize(decode(encode(block)));
    assert.deepEqual(back, q.dequantize(block));
    // Unbiased: the mean of many draws approaches v; the mean squared error
    // approaches expectedVariance, within varianceBound.
    const draws = 3000, rng = new Rng(9);
    const mean = new Float64Array(98), each = new Float64Array(98);
    let sq = 0;
    for (let k = 0; k < draws; k++) {
      const r = q.dequantize(q.quantize(v, rng, info));
      for (let i = 0; i < 98; i++) {
        mean[i] += r[i] / draws;
        each[i] += (r[i] - v[i]) ** 2 / draws;
        sq += (r[i] - v[i]) ** 2 / draws;
      }
    }
    const expected = q.expectedVariance(v, info);
    assert.ok(expected <= q.varianceBound(v, info) + 1e-9);
    assert.ok(Math.abs(sq - expected) < 0.1 * expected, `${sq} vs ${expected}`);
    for (let i = 0; i < 98; i++) {
      assert.ok(Math.abs(mean[i] - v[i]) < 5 * Math.sqrt(each[i] / draws) + 1e-6, `${i}`);
    }
  });
}

Deno.test("bhq on a piece: the heavy row is grouped, the short last row never is; a NaN there is named", () => {
  const q = new BhqQuantizer({ bits: 4 });
  const v = piece();
  const block = q.quantize(v, new Rng(1), layerPiece(LAYER));
  assert.equal(block.meta.length, 3 * 7);
  assert.ok(block.aux[0] >= 1, "the heavy row has a group");
  assert.equal(block.aux[2], 2, "row 2 leads its group");
  for (let g = 0, pos = 1; g < block.aux[0]; g++) {
    const G = block.aux[pos];
    for (let j = 1; j <= G; j++) assert.ok(block.aux[pos + j] < 6, "only full rows are grouped");
    pos += 1 + G;
  }
  assert.equal(block.meta[2 * 7 + 6], 1, "the short row keeps scale 1");
  // A block whose group names the short row is refused.
  const aux = Uint32Array.from([1, 2, 2, 6]);
  assert.throws(() => q.dequantize({ ...block, aux }), /row 6 ≥ 6/);
  const bad = piece();
  bad[97] = NaN;
  assert.throws(
    () => q.quantize(bad, new Rng(1), layerPiece(LAYER)),
    (e: Error) => e instanceof NonFiniteError && /fc\/kernel/.test(e.message),
  );
});

Deno.test("a whole matrix still needs a length that is a multiple of its row length", () => {
  for (const q of [new PsqQuantizer({ bits: 4 }), new BhqQuantizer({ bits: 4 })] as Quantizer[]) {
    assert.throws(
      () => q.quantize(new Float32Array(98), new Rng(1), { name: "fc/kernel", shape: [7, 16] }),
      QuantizationError,
    );
    assert.throws(
      () => q.quantize(new Float32Array(98), new Rng(1), { name: "fc/kernel" }),
      /fc\/kernel.*row length unknown for a vector of length 98/,
    );
  }
});

Deno.test("layerQuantizer: psq and bhq get the layer's row length with every piece; other schemes are as they are", () => {
  for (const scheme of ["psq", "bhq"]) {
    const inner = createQuantizer({ scheme, bits: 4 });
    const q = layerQuantizer(inner, LAYER);
    assert.equal(q.scheme, scheme);
    assert.equal(q.bits, 4);
    assert.ok(q.unbiased);
    const v = piece();
    // A piece with only its name and type, as a collective hands it over.
    const b = q.quantize(v, new Rng(2), { name: "fc/kernel", type: "dense" });
    assert.deepEqual(b, inner.quantize(v, new Rng(2), layerPiece(LAYER)));
    // The whole layer, with its shape, is quantized as it would be without the binding.
    const w = new Float32Array(192).map((_, i) => Math.sin(i));
    assert.deepEqual(q.quantize(w, new Rng(2), LAYER), inner.quantize(w, new Rng(2), LAYER));
    assert.equal(
      q.expectedVariance(v, { name: "fc/kernel" }),
      inner.expectedVariance(v, layerPiece(LAYER)),
    );
    // A layer without a shape is one row of its length.
    const z = layerQuantizer(inner, { name: "game/z", length: 40 });
    const zb = z.quantize(new Float32Array(40).fill(1), new Rng(1));
    assert.equal(zb.bucketSize, 40);
    assert.equal(z.quantize(new Float32Array(13), new Rng(1), { name: "game/z" }).bucketSize, 40);
  }
  const qsgd = createQuantizer({ scheme: "qsgd", bits: 8 });
  assert.equal(layerQuantizer(qsgd, LAYER), qsgd);
  const fixed = createQuantizer({ scheme: "psq", bits: 4, rowLength: 8 });
  assert.equal(layerQuantizer(fixed, LAYER), fixed, "a configured row length wins");
});
