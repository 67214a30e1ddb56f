import assert from "node:assert/strict";
import type * as tfjs from "@tensorflow/tfjs";
import { initBackend } from "../../../../models/tfjs/backend/backend.ts";
import { exportQuantizedModel, quantizeLayersModel } from "../../../../models/tfjs/gpfq/layers.ts";
import {
  loadLayersModel,
  ModelFileError,
  readModelArtifacts,
  saveLayersModel,
} from "../../../../models/tfjs/io.ts";
import { Rng } from "../../../../runtime/rng.ts";

const { tf } = await initBackend("cpu");

/**
 * A tiny conv + dense model on 8×8×3 "images" given as [N, 192]. (GPFQ needs a few dozen inputs
 * per neuron to beat round-to-nearest: with a 3×3×1 conv, N0 = 9, it often does not.)
 */
function tinyModel(): tfjs.Sequential {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  return tf.sequential({
    layers: [
      tf.layers.reshape({ targetShape: [8, 8, 3], inputShape: [192], name: "img" }),
      tf.layers.conv2d({
        filters: 8,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
        name: "conv",
        kernelInitializer: init(1),
        biasInitializer: tf.initializers.constant({ value: 0.05 }),
      }),
      tf.layers.maxPooling2d({ poolSize: 2, name: "pool" }),
      tf.layers.flatten({ name: "flat" }),
      tf.layers.dense({
        units: 32,
        activation: "relu",
        name: "hidden",
        kernelInitializer: init(2),
      }),
      tf.layers.dense({ units: 3, name: "out", kernelInitializer: init(3) }),
    ],
  });
}

function calibration(count: number, rng: Rng): tfjs.Tensor {
  const v = new Float32Array(count * 192);
  for (let i = 0; i < v.length; i++) v[i] = Math.max(0, rng.normal());
  return tf.tensor2d(v, [count, 192]);
}

function outputs(model: tfjs.LayersModel, x: tfjs.Tensor): Float32Array {
  const y = model.predict(x) as tfjs.Tensor;
  const data = y.dataSync() as Float32Array;
  y.dispose();
  return data;
}

function mse(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / a.length;
}

const OPTS = { calibration, samples: 128, chunk: 50, seed: 3 } as const;

Deno.test("quantizeLayersModel(): the Gram and residual forms give the same quantized model", async () => {
  const model = tinyModel();
  const a = await quantizeLayersModel(tf, model, {
    ...OPTS,
    method: "gpfq",
    bits: 3,
    form: "gram",
  });
  const b = await quantizeLayersModel(tf, model, {
    ...OPTS,
    method: "gpfq",
    bits: 3,
    form: "residual",
  });
  assert.deepEqual([...a.codes.keys()], ["conv/kernel", "hidden/kernel", "out/kernel"]);
  for (const [name, c] of a.codes) {
    assert.deepEqual([...c.codes], [...b.codes.get(name)!.codes], name);
    assert.equal(c.min, b.codes.get(name)!.min);
  }
  const conv = a.layers.find((l) => l.name === "conv")!;
  assert.equal(conv.n0, 27);
  assert.equal(conv.rows, 128 * 16); // 25% of 64 positions per image
  assert.ok(a.layers.every((l) => l.levelsUsed <= 9));
  a.model.dispose();
  b.model.dispose();
  model.dispose();
});

Deno.test("quantizeLayersModel(): GPFQ tracks the float outputs better than RTN; float model untouched", async () => {
  const model = tinyModel();
  const before = model.getWeights().map((w) => Array.from(w.dataSync()));
  const x = calibration(300, new Rng(77)); // fresh data, not the calibration draws
  const ref = outputs(model, x);
  for (const bits of [2, 3, 4]) {
    const g = await quantizeLayersModel(tf, model, { ...OPTS, method: "gpfq", bits });
    const r = await quantizeLayersModel(tf, model, { method: "rtn", bits });
    const eg = mse(outputs(g.model, x), ref), er = mse(outputs(r.model, x), ref);
    assert.ok(eg < er, `${bits} bits: gpfq ${eg} ≥ rtn ${er}`);
    assert.equal(r.layers.find((l) => l.name === "out")!.biasCorrected, false);
    assert.equal(g.layers.find((l) => l.name === "out")!.biasCorrected, true);
    g.model.dispose();
    r.model.dispose();
  }
  assert.deepEqual(model.getWeights().map((w) => Array.from(w.dataSync())), before);
  x.dispose();
  model.dispose();
});

Deno.test("quantizeLayersModel(): mixed precision keeps a layer in float or at its own bits", async () => {
  const model = tinyModel();
  const q = await quantizeLayersModel(tf, model, {
    ...OPTS,
    method: "gpfq",
    bits: 2,
    layerPrecision: { out: "float", conv: 8 },
  });
  const floatOut = model.getLayer("out").getWeights()[0].dataSync();
  assert.deepEqual(q.model.getLayer("out").getWeights()[0].dataSync(), floatOut);
  assert.ok(!q.codes.has("out/kernel"));
  const conv = q.layers.find((l) => l.name === "conv")!;
  assert.equal(conv.precision, 8);
  assert.ok(conv.levelsUsed > 9, `8-bit conv uses only ${conv.levelsUsed} levels`);
  assert.ok(q.layers.find((l) => l.name === "hidden")!.levelsUsed <= 5);
  q.model.dispose();
  model.dispose();
});

Deno.test("quantizeLayersModel() rejects bad options, naming them and the valid choices", async () => {
  const model = tinyModel();
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    quantizeLayersModel(tf, model, { method: "gptq" as any, bits: 4 }),
    /unknown method 'gptq'; valid: gpfq, rtn/,
  );
  await assert.rejects(
    quantizeLayersModel(tf, model, { method: "rtn", bits: 4, layerPrecision: { dense9: 8 } }),
    /unknown layer 'dense9'; valid: img, conv, pool, flat, hidden, out/,
  );
  await assert.rejects(
    quantizeLayersModel(tf, model, { method: "rtn", bits: 17 }),
    /1..16, got 17/,
  );
  await assert.rejects(quantizeLayersModel(tf, model, { method: "gpfq", bits: 4 }), /calibration/);
  model.dispose();
});

Deno.test("exported uint8 model loads in plain TF.js (tf.loadLayersModel over HTTP) with identical outputs", async () => {
  const model = tinyModel();
  const q = await quantizeLayersModel(tf, model, { ...OPTS, method: "gpfq", bits: 4 });
  const dir = await Deno.makeTempDir({ prefix: "gpfq-export-" });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (req) => {
    const name = new URL(req.url).pathname.slice(1);
    try {
      return new Response(await Deno.readFile(`${dir}/${name}`));
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  try {
    await exportQuantizedModel(q, dir);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/model.json`));
    const specs = json.weightsManifest[0].weights as tfjs.io.WeightsManifestEntry[];
    const kernels = specs.filter((s) => s.name.endsWith("/kernel"));
    assert.equal(kernels.length, 3);
    for (const s of kernels) {
      assert.equal(s.quantization?.dtype, "uint8", s.name);
      assert.ok(typeof s.quantization?.min === "number" && s.quantization.scale! > 0);
    }
    for (const s of specs.filter((s) => s.name.endsWith("/bias"))) {
      assert.equal(s.quantization, undefined);
    }
    const floatBytes = specs.reduce((n, s) => n + 4 * s.shape.reduce((a, b) => a * b, 1), 0);
    const size = (await Deno.stat(`${dir}/weights.bin`)).size;
    assert.ok(size < floatBytes / 2, `${size} bytes vs ${floatBytes} as float32`);

    const url = `http://127.0.0.1:${server.addr.port}/model.json`;
    const plain = await tf.loadLayersModel(url);
    const x = calibration(50, new Rng(123));
    assert.deepEqual(outputs(plain, x), outputs(q.model, x));
    // Our own loader reads the same files to the same model.
    const ours = await loadLayersModel(tf, dir);
    assert.deepEqual(outputs(ours, x), outputs(q.model, x));
    x.dispose();
    plain.dispose();
    ours.dispose();
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
    q.model.dispose();
    model.dispose();
  }
});

Deno.test("saveLayersModel()/loadLayersModel() round-trip floats and report missing files", async () => {
  const model = tinyModel();
  const dir = await Deno.makeTempDir({ prefix: "tfjs-io-" });
  try {
    await saveLayersModel(model, dir);
    const entries = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(entries, ["model.json", "weights.bin"]); // no temporary files left
    const back = await loadLayersModel(tf, dir);
    const x = calibration(10, new Rng(1));
    assert.deepEqual(outputs(back, x), outputs(model, x));
    x.dispose();
    back.dispose();
    const files = await readModelArtifacts(dir);
    assert.equal(files.json.format, "layers-model");
    await assert.rejects(
      saveLayersModel(model, dir, {
        quantized: new Map([["nope/kernel", {
          dtype: "uint8",
          min: 0,
          scale: 1,
          codes: new Uint8Array(1),
        }]]),
      }),
      /quantized weights \[nope\/kernel\] are not weights of the model; its weights: conv\/kernel/,
    );
    await Deno.remove(`${dir}/weights.bin`);
    await assert.rejects(loadLayersModel(tf, dir), (err: Error) => {
      assert.ok(err instanceof ModelFileError);
      assert.match(err.message, /weights\.bin: not found/);
      return true;
    });
    await assert.rejects(loadLayersModel(tf, `${dir}/missing`), /model\.json: not found/);
  } finally {
    await Deno.remove(dir, { recursive: true });
    model.dispose();
  }
});

Deno.test("quantizeLayersModel() keeps unsupported kernels (Conv2DTranspose) in float and says so", async () => {
  // The shape of the WGAN's DCGAN generator: dense → reshape → conv → transposed-conv shuffle.
  const gen = tf.sequential({
    layers: [
      tf.layers.dense({ units: 4 * 4 * 8, inputShape: [16], activation: "relu", name: "dense1" }),
      tf.layers.reshape({ targetShape: [4, 4, 8], name: "reshape" }),
      tf.layers.conv2d({
        filters: 8,
        kernelSize: 3,
        padding: "same",
        activation: "relu",
        name: "conv1",
      }),
      tf.layers.conv2dTranspose({
        filters: 2,
        kernelSize: 2,
        strides: 2,
        useBias: false,
        name: "up",
      }),
      tf.layers.flatten({ name: "flat" }),
    ],
  });
  const q = await quantizeLayersModel(tf, gen, {
    method: "gpfq",
    bits: 3,
    samples: 64,
    calibration: (n, rng) =>
      tf.tensor2d(Float32Array.from({ length: n * 16 }, () => rng.normal()), [n, 16]),
  });
  const up = q.layers.find((l) => l.name === "up")!;
  assert.equal(up.precision, "float");
  assert.match(up.note ?? "", /Conv2DTranspose is not quantized \(supported: Dense, Conv2D\)/);
  assert.deepEqual([...q.codes.keys()], ["dense1/kernel", "conv1/kernel"]);
  assert.deepEqual(
    q.model.getLayer("up").getWeights()[0].dataSync(),
    gen.getLayer("up").getWeights()[0].dataSync(),
  );
  q.model.dispose();
  gen.dispose();
});
