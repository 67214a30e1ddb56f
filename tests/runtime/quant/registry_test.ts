import assert from "node:assert/strict";
import { createQuantizer } from "../../../runtime/quant/registry.ts";
import { SCHEMES } from "../../../runtime/quant/types.ts";
import { QuantizationError, UnknownNameError } from "../../../runtime/errors.ts";
import { Rng } from "../../../runtime/rng.ts";

Deno.test("createQuantizer() builds every scheme, and each round-trips a matrix", () => {
  const rng = new Rng(1);
  const v = new Float32Array(64 * 32).map(() => rng.normal());
  const layer = { name: "w", shape: [64, 32] };
  for (const scheme of SCHEMES) {
    const q = createQuantizer({ scheme, bits: 8, bucketSize: 256 });
    assert.equal(q.scheme, scheme);
    const back = q.dequantize(q.quantize(v, rng, layer));
    let err = 0, norm = 0;
    for (let i = 0; i < v.length; i++) {
      err += (back[i] - v[i]) ** 2;
      norm += v[i] ** 2;
    }
    assert.ok(err / norm < 0.05, `${scheme}: relative error ${err / norm}`);
  }
});

Deno.test("createQuantizer() names the valid schemes for an unknown one", () => {
  assert.throws(() => createQuantizer({ scheme: "int3" }), (e: unknown) => {
    assert.ok(e instanceof UnknownNameError);
    assert.equal(e.requested, "int3");
    assert.match(e.message, /unknown scheme 'int3'; valid: none, fp16, maxmin, qsgd, layerwise/);
    return true;
  });
  assert.throws(() => createQuantizer({ scheme: "maxmin", bits: 17 }), QuantizationError);
  assert.throws(() => createQuantizer({ scheme: "layerwise", bits: 1 }), QuantizationError);
});

Deno.test("every scheme rejects a layer shape that does not match the tensor", () => {
  const v = new Float32Array(30).fill(1);
  for (const scheme of SCHEMES) {
    const q = createQuantizer({ scheme, bits: 4, rowLength: 10 });
    assert.throws(
      () => q.quantize(v, new Rng(1), { name: "fc/kernel", shape: [4, 8] }),
      (e: unknown) =>
        e instanceof QuantizationError && e.layer === "fc/kernel" &&
        /holds 32 values/.test(e.message),
      scheme,
    );
  }
});
