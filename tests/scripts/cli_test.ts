import assert from "node:assert/strict";
import {
  DEFAULT_STEPS,
  FLAG_NAMES,
  parseTrainArgs,
  type TrainConfig,
  usage,
  UsageError,
} from "../../scripts/_cli.ts";

Deno.test("parseTrainArgs() fills in the defaults", () => {
  const c = parseTrainArgs([]) as TrainConfig;
  assert.equal(c.workers, 2);
  assert.equal(c.steps, DEFAULT_STEPS);
  assert.equal(c.quant, "layerwise");
  assert.equal(c.bits, 4);
  assert.equal(c.bucket, 1024);
  assert.equal(c.coder, "fixed");
  assert.equal(c.backend, "auto");
  assert.equal(c.optimizer, "adam");
  assert.equal(c.lr, 0.001);
  assert.equal(c.out, undefined);
  assert.equal((parseTrainArgs(["--optimizer", "sgd"]) as TrainConfig).lr, 0.1);
});

Deno.test("parseTrainArgs() reads every flag", () => {
  const c = parseTrainArgs([
    "--workers=4",
    "--steps",
    "10",
    "--batch",
    "16",
    "--lr",
    "0.01",
    "--quant",
    "qsgd",
    "--bits",
    "8",
    "--bucket",
    "512",
    "--coder",
    "omega",
    "--model",
    "cnn",
    "--backend",
    "cpu",
    "--seed",
    "9",
    "--eval-every",
    "5",
    "--test-size",
    "500",
    "--out",
    "x",
    "--json",
    "--quiet",
  ]) as TrainConfig;
  assert.deepEqual(
    { ...c },
    {
      workers: 4,
      steps: 10,
      batch: 16,
      lr: 0.01,
      optimizer: "adam",
      quant: "qsgd",
      bits: 8,
      bucket: 512,
      coder: "omega",
      model: "cnn",
      backend: "cpu",
      seed: 9,
      evalEvery: 5,
      testSize: 500,
      out: "x",
      json: true,
      quiet: true,
    },
  );
  assert.equal(parseTrainArgs(["--help"]), "help");
});

function usageError(args: string[], pattern: RegExp): void {
  assert.throws(
    () => parseTrainArgs(args),
    (e: Error) => e instanceof UsageError && pattern.test(e.message),
    `${args.join(" ")} should fail with ${pattern}`,
  );
}

Deno.test("parseTrainArgs() names bad flags and values", () => {
  usageError(["--wrokers", "3"], /unknown flag '--wrokers'; valid flags: --workers, --steps/);
  usageError(["extra"], /unexpected argument 'extra'/);
  usageError(["--steps"], /--steps needs a value/);
  usageError(["--json=yes"], /--json is a switch/);
  usageError(["--quant", "bogus"], /--quant: invalid value 'bogus'; valid choices: none, fp16,/);
  usageError(["--coder", "huffman"], /valid choices: fixed, gamma, omega/);
  usageError(["--backend", "tpu"], /valid choices: auto, tensorflow, webgpu, wasm, cpu/);
  usageError(["--model", "resnet"], /valid choices: mlp, cnn/);
  usageError(["--optimizer", "rmsprop"], /valid choices: adam, sgd/);
  usageError(["--workers", "0"], /--workers: expected an integer in 1\.\.256, got '0'/);
  usageError(["--steps", "2.5"], /--steps: expected an integer/);
  usageError(["--lr=-1"], /--lr: expected a positive number, got '-1'/);
  usageError(["--lr", "-1"], /--lr: a value starting with '-' must be written as --lr=<value>/);
  usageError(["--bits", "four"], /--bits: expected a number, got 'four'/);
});

Deno.test("usage() documents every flag", () => {
  const text = usage();
  for (const f of FLAG_NAMES) assert.ok(text.includes(f), `${f} missing from --help`);
  assert.match(text, /TCP ring/);
});
