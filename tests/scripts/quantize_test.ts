// `deno task quantize`: flag parsing, a built-in model, a generator run folder, the export.
import assert from "node:assert/strict";
import { runScript } from "../_support/run_script.ts";
import {
  parseQuantizeArgs,
  quantizeCommand,
  type QuantizeConfig,
  usage,
  UsageError,
} from "../../scripts/quantize.ts";
import { initBackend } from "../../models/tfjs/backend/backend.ts";
import { saveLayersModel } from "../../models/tfjs/io.ts";

const run = (...args: string[]) => runScript("quantize.ts", args);

Deno.test("parseQuantizeArgs() reads lists, mixed precision and switches", () => {
  const c: QuantizeConfig = parseQuantizeArgs([
    "--model",
    "mnist-cnn",
    "--bits",
    "2,3,4,8",
    "--method",
    "rtn,gpfq",
    "--scalar",
    "1.5",
    "--samples",
    "300",
    "--patch-fraction",
    "0.5",
    "--form",
    "residual",
    "--no-bias-correction",
    "--layer-bits",
    "conv1=8,logits=float",
    "--seed",
    "4",
    "--backend",
    "cpu",
    "--out",
    "/tmp/x",
    "--json",
  ]);
  assert.deepEqual(c, {
    model: "mnist-cnn",
    bits: [2, 3, 4, 8],
    methods: ["rtn", "gpfq"],
    scalar: 1.5,
    samples: 300,
    patchFraction: 0.5,
    form: "residual",
    biasCorrection: false,
    layerPrecision: { conv1: 8, logits: "float" },
    seed: 4,
    backend: "cpu",
    out: "/tmp/x",
    json: true,
  });
  const d = parseQuantizeArgs(["--model", "mnist-mlp"]);
  assert.deepEqual(d.bits, [4]);
  assert.deepEqual(d.methods, ["gpfq", "rtn"]);
  assert.equal(d.biasCorrection, true);
});

Deno.test("parseQuantizeArgs() rejects bad values, naming the flag and the valid choices", () => {
  const cases: [string[], RegExp][] = [
    [[], /^--model is required$/],
    [
      ["--model", "m", "--method", "gpfq,gptq"],
      /--method: invalid value 'gptq' in 'gpfq,gptq'; valid choices: gpfq, rtn/,
    ],
    [["--model", "m", "--bits", "4,0"], /--bits: expected an integer in 1..16, got '0' in '4,0'/],
    [["--model", "m", "--bits", "4,,8"], /empty item/],
    [
      ["--model", "m", "--form", "fast"],
      /--form: invalid value 'fast'; valid choices: gram, residual/,
    ],
    [["--model", "m", "--layer-bits", "conv1"], /expected NAME=BITS or NAME=float, got 'conv1'/],
    [
      ["--model", "m", "--backend", "tpu"],
      /--backend: invalid value 'tpu'; valid choices: auto, tensorflow/,
    ],
    [
      ["--model", "m", "--patch-fraction", "0"],
      /--patch-fraction: expected a number in \(0, 1\], got '0'/,
    ],
    [
      ["--model", "m", "--layer-bits", "conv1=99"],
      /--layer-bits: bits must be integers in 1..16 or float, got 'conv1=99'/,
    ],
    [["--model", "m", "--scalar=-1"], /--scalar: expected a number > 0, got '-1'/],
    [
      ["--model", "m", "--scalar", "-1"],
      /--scalar: a value starting with '-' must be written as --scalar=<value>/,
    ],
    [["--model", "m", "--frobnicate"], /unknown flag '--frobnicate'; valid flags: --model, --bits/],
    [["--model", "m", "extra"], /unexpected argument/],
    [["--model", "m", "--json=yes"], /--json is a switch and takes no value/],
    [["--model"], /--model needs a value/],
  ];
  for (const [args, re] of cases) {
    assert.throws(
      () => parseQuantizeArgs(args),
      (e: Error) => e instanceof UsageError && re.test(e.message),
      args.join(" "),
    );
  }
});

Deno.test("--help lists every flag; bad command lines exit 2, missing models 1", async () => {
  const text = usage();
  for (
    const flag of [
      "--model",
      "--bits",
      "--method",
      "--scalar",
      "--samples",
      "--patch-fraction",
      "--form",
      "--no-bias-correction",
      "--layer-bits",
      "--seed",
      "--backend",
      "--out",
      "--json",
      "--help",
    ]
  ) {
    assert.ok(text.includes(flag), `${flag} missing from --help`);
  }
  const help = await run("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: deno task quantize/);
  const bad = await run("--model", "mnist-mlp", "--method", "awq");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--method: invalid value 'awq'; valid choices: gpfq, rtn/);
  const missing = await run("--model", "runs/no-such-run", "--backend", "cpu");
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /neither a built-in model \(mnist-mlp, mnist-cnn\) nor an existing folder/,
  );
});

Deno.test("quantizeCommand() on mnist-mlp: 4-bit GPFQ stays within a point of float, prints JSON lines", async () => {
  const lines: string[] = [];
  const records = await quantizeCommand(
    {
      ...parseQuantizeArgs(["--model", "mnist-mlp", "--bits", "4", "--json"]),
      backend: "cpu",
      samples: 256,
    },
    (line) => lines.push(line),
  );
  assert.equal(records.length, 2);
  assert.equal(lines.length, 2);
  for (const line of lines) {
    const r = JSON.parse(line);
    for (const key of ["model", "method", "bits", "metric", "float_metric", "seconds"]) {
      assert.ok(key in r, `record lacks ${key}`);
    }
    assert.equal(r.model, "mnist-mlp");
    assert.equal(r.metric_name, "accuracy");
  }
  const [gpfq, rtn] = records;
  assert.equal(gpfq.method, "gpfq");
  assert.equal(rtn.method, "rtn");
  assert.ok(gpfq.float_metric > 0.93, `float accuracy ${gpfq.float_metric}`);
  assert.ok(
    gpfq.metric > gpfq.float_metric - 0.01,
    `4-bit GPFQ ${gpfq.metric} vs ${gpfq.float_metric}`,
  );
  assert.equal(gpfq.layers.length, 2);
  assert.ok(gpfq.layers.every((l) => l.precision === 4 && l.levels <= 17 && l.rows === 256));
});

Deno.test("quantizeCommand() on a GAN run folder: generator/model.json, mse metric, uint8 export", async () => {
  const { tf } = await initBackend("cpu");
  const run = await Deno.makeTempDir({ prefix: "quantize-gan-" });
  try {
    const init = (seed: number) => tf.initializers.glorotNormal({ seed });
    const generator = tf.sequential({
      layers: [
        tf.layers.dense({
          units: 64,
          inputShape: [32],
          activation: "relu",
          name: "g1",
          kernelInitializer: init(1),
        }),
        tf.layers.dense({ units: 96, activation: "relu", name: "g2", kernelInitializer: init(2) }),
        tf.layers.dense({ units: 48, activation: "tanh", name: "g3", kernelInitializer: init(3) }),
      ],
    });
    await saveLayersModel(generator, `${run}/generator`);
    generator.dispose();
    const cfg = parseQuantizeArgs([
      "--model",
      run,
      "--bits",
      "2",
      "--backend",
      "cpu",
      "--samples",
      "512",
      "--out",
      `${run}/q`,
      "--json",
    ]);
    const [gpfq, rtn] = await quantizeCommand(cfg, () => {});
    assert.equal(gpfq.metric_name, "mse");
    assert.equal(gpfq.float_metric, 0);
    assert.ok(gpfq.metric > 0 && rtn.metric > 0);
    assert.ok(gpfq.metric < rtn.metric, `2-bit mse: gpfq ${gpfq.metric} vs rtn ${rtn.metric}`);
    assert.equal(gpfq.out, `${run}/q/gpfq-2bit`);
    const json = JSON.parse(await Deno.readTextFile(`${run}/q/gpfq-2bit/model.json`));
    const kernels = json.weightsManifest[0].weights.filter((w: { name: string }) =>
      w.name.endsWith("kernel")
    );
    assert.equal(kernels.length, 3);
    for (const k of kernels) assert.equal(k.quantization.dtype, "uint8");
    const loaded = await tf.loadLayersModel(tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0].weights,
      weightData: (await Deno.readFile(`${run}/q/gpfq-2bit/weights.bin`)).buffer,
    }));
    assert.deepEqual(loaded.outputs[0].shape, [null, 48]);
    loaded.dispose();
  } finally {
    await Deno.remove(run, { recursive: true });
  }
});
