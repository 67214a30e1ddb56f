import assert from "node:assert/strict";
import { conv2dGeometry, im2col, samplePositions } from "../../../../models/tfjs/gpfq/im2col.ts";
import { initBackend } from "../../../../models/tfjs/backend/backend.ts";
import { Rng } from "../../../../runtime/rng.ts";

const { tf } = await initBackend("cpu");

const CASES: [string, number[], number[], [number, number], "same" | "valid", [number, number]][] =
  [
    ["3×3 same stride 1", [2, 7, 6, 3], [3, 3, 3, 4], [1, 1], "same", [1, 1]],
    ["3×3 same stride 2 (odd size)", [2, 9, 8, 2], [3, 3, 2, 5], [2, 2], "same", [1, 1]],
    ["2×3 valid stride (2, 1)", [1, 8, 7, 2], [2, 3, 2, 3], [2, 1], "valid", [1, 1]],
    ["3×3 same dilation 2", [1, 9, 9, 2], [3, 3, 2, 2], [1, 1], "same", [2, 2]],
    ["4×4 same stride 2 (even kernel)", [1, 10, 10, 1], [4, 4, 1, 2], [2, 2], "same", [1, 1]],
  ];

for (const [label, xShape, kShape, strides, padding, dilations] of CASES) {
  Deno.test(`im2col() patches × kernel equal tf.conv2d: ${label}`, () => {
    const rng = new Rng(xShape.reduce((a, b) => a * b, 1));
    const x = new Float32Array(xShape.reduce((a, b) => a * b, 1)).map(() => rng.normal());
    const k = new Float32Array(kShape.reduce((a, b) => a * b, 1)).map(() => rng.normal());
    const y = tf.tidy(() =>
      tf.conv2d(
        tf.tensor4d(x, xShape as [number, number, number, number]),
        tf.tensor4d(k, kShape as [number, number, number, number]),
        strides,
        padding,
        "NHWC",
        dilations,
      )
    );
    const geo = conv2dGeometry(xShape, kShape, strides, padding, dilations);
    assert.deepEqual(y.shape, [xShape[0], geo.outH, geo.outW, kShape[3]]);
    const yData = y.dataSync();
    y.dispose();
    const positions = samplePositions(geo.positions, Math.ceil(geo.positions / 2), rng);
    const rows = im2col(x, geo, positions);
    const cout = kShape[3];
    for (let r = 0; r < positions.length; r++) {
      for (let c = 0; c < cout; c++) {
        let dot = 0;
        for (let i = 0; i < geo.patchSize; i++) {
          dot += rows[r * geo.patchSize + i] * k[i * cout + c];
        }
        const want = yData[positions[r] * cout + c];
        assert.ok(
          Math.abs(dot - want) < 1e-4,
          `position ${positions[r]} channel ${c}: ${dot} vs ${want}`,
        );
      }
    }
  });
}

Deno.test("samplePositions() draws distinct sorted positions, roughly uniformly", () => {
  const rng = new Rng(9);
  const hits = new Float64Array(50);
  for (let rep = 0; rep < 400; rep++) {
    const p = samplePositions(50, 10, rng);
    assert.equal(p.length, 10);
    for (let i = 1; i < p.length; i++) assert.ok(p[i] > p[i - 1]);
    for (const v of p) hits[v]++;
  }
  // Each position is taken with probability 1/5: 80 of 400 expected, sd 8.
  for (let i = 0; i < 50; i++) assert.ok(Math.abs(hits[i] - 80) < 40, `position ${i}: ${hits[i]}`);
  assert.deepEqual([...samplePositions(4, 10, rng)], [0, 1, 2, 3]);
});

Deno.test("conv2dGeometry() rejects mismatched channels, unknown padding, oversize kernels", () => {
  assert.throws(
    () => conv2dGeometry([1, 5, 5, 3], [3, 3, 2, 4], [1, 1], "same"),
    /input has 3 channels but the kernel expects 2/,
  );
  assert.throws(
    () => conv2dGeometry([1, 5, 5, 3], [3, 3, 3, 4], [1, 1], "causal"),
    /unknown padding 'causal'; valid: same, valid/,
  );
  assert.throws(() => conv2dGeometry([1, 2, 2, 1], [3, 3, 1, 1], [1, 1], "valid"), /larger/);
  assert.throws(
    () =>
      im2col(
        new Float32Array(3),
        conv2dGeometry([1, 2, 2, 1], [1, 1, 1, 1], [1, 1], "valid"),
        new Uint32Array([0]),
      ),
    /input has 3 values, expected 1×2×2×1/,
  );
});
