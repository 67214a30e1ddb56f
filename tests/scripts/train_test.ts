// End-to-end tests of scripts/train_mnist.ts (deno task train --problem mnist), run as a child
// process like `deno task train`: the classifier on the one training runtime.
import assert from "node:assert/strict";
import { runScript, type ScriptRun } from "../_support/run_script.ts";

const train = (...args: string[]): Promise<ScriptRun> => runScript("train_mnist.ts", args);

function lastJson(out: string): Record<string, unknown> {
  const lines = out.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

Deno.test("train --problem mnist learns with 4-bit layer-wise gradients at ≤ 4.2 bits/coord", async () => {
  const out = await Deno.makeTempDir({ prefix: "qoda-train-" });
  try {
    const r = await train(
      "--steps",
      "60",
      "--workers",
      "2",
      "--eval-every",
      "30",
      "--seed",
      "0",
      "--collective", // named: `auto` (the default) would take float32 on one host
      "allgather",
      "--json",
      "--out",
      out,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^backend: /m);
    assert.match(r.stdout, /2 workers \(in this process\) on the one training runtime/);
    assert.match(
      r.stdout,
      /step 30\/60 .*steps\/s .*loss .*test acc .*bits\/coord .*x vs fp32 .*eps_Q dense=/,
    );
    const s = lastJson(r.stdout);
    for (
      const key of [
        "quant",
        "bits",
        "coder",
        "workers",
        "steps",
        "test_accuracy",
        "bits_per_coord",
        "bytes_sent",
        "seconds",
      ]
    ) {
      assert.ok(key in s, `summary lacks ${key}`);
    }
    assert.equal(s.runtime, "inprocess");
    assert.equal(s.quant, "layerwise");
    assert.equal(s.bits, 4);
    assert.equal(s.coder, "fixed");
    assert.equal(s.workers, 2);
    assert.equal(s.steps, 60);
    assert.equal(s.collectives, 60);
    // Measured with seeds 0–5 on wasm: 0.851–0.860 (seed 0: 0.852); chance is 0.1.
    assert.ok((s.test_accuracy as number) > 0.8, `test accuracy ${s.test_accuracy}`);
    // 4 bits, plus the buckets' norms and the frames' headers.
    assert.ok((s.bits_per_coord as number) <= 4.2, `bits/coord ${s.bits_per_coord}`);
    assert.ok((s.bits_per_coord as number) >= 4, `bits/coord ${s.bits_per_coord}`);
    const eps = s.eps_q as Record<string, number>;
    assert.deepEqual(Object.keys(eps).sort(), ["bias", "dense"]);
    for (const e of Object.values(eps)) assert.ok(e > 0 && e < 10, `eps_Q ${e}`);
    // Each of the 2 messages of 101,770 coordinates and 2 flags reaches the other worker, 60 times.
    const bytes = ((s.bits_per_coord as number) * (101_770 + 2) * 2 * 60) / 8;
    assert.ok(Math.abs((s.bytes_sent as number) - bytes) < 1, `${s.bytes_sent} vs ${bytes}`);

    const config = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
    assert.equal(config.flags.quant, "layerwise");
    assert.equal(config.flags.workers, 2);
    assert.equal(config.job.optimizer, "adam");
    assert.equal(config.params, 101_770);
    assert.deepEqual(config.layers.map((l: { type: string }) => l.type), [
      "dense",
      "bias",
      "dense",
      "bias",
    ]);
    const metrics = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n").map((
      l,
    ) => JSON.parse(l));
    assert.deepEqual(metrics.map((m) => m.step), [0, 30, 60]);
    assert.ok(metrics[0].test_accuracy < 0.2, "the first line is the untrained start");
    assert.equal(metrics[2].test_accuracy, s.test_accuracy);
    assert.equal(metrics[2].bytes_sent, s.bytes_sent);
    assert.equal(metrics[2].final, true);
    assert.ok(metrics[1].batch_loss > 0 && metrics[1].steps_per_s > 0);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("train --problem mnist trains the CNN (conv gradients); --quant none sends 32 bits", async () => {
  const out = await Deno.makeTempDir({ prefix: "qoda-train-" });
  try {
    const r = await train(
      "--model",
      "cnn",
      "--quant",
      "none",
      "--steps",
      "30",
      "--batch",
      "32",
      "--json",
      "--quiet",
      "--out",
      out,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split("\n").length, 1, "--quiet prints only the JSON line");
    const s = lastJson(r.stdout);
    assert.equal(s.model, "cnn");
    assert.equal(s.bits, 32);
    // float32 over the ring all-reduce: exactly 32 bits a coordinate, no headers.
    assert.equal(s.bits_per_coord, 32);
    // Measured with seeds 0–2: 0.554–0.599.
    assert.ok((s.test_accuracy as number) > 0.4, `test accuracy ${s.test_accuracy}`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("train --problem mnist exits 2 on an unknown flag, naming it and the valid flags", async () => {
  const r = await train("--wrokers", "3");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /error: unknown flag '--wrokers'/);
  assert.match(r.stderr, /--workers/);
  assert.match(r.stderr, /--quant/);
});

Deno.test("train --problem mnist exits 2 on --quant bogus, listing the schemes", async () => {
  const r = await train("--quant", "bogus");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--quant: invalid value 'bogus'/);
  assert.match(r.stderr, /none, fp16, maxmin, qsgd, layerwise, ptq, psq, bhq/);
});

Deno.test("train --problem mnist exits 2 on bits the quantizer rejects, before writing anything", async () => {
  const r = await train("--quant", "layerwise", "--bits", "1", "--out", "/nonexistent/never");
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^error: --bits: invalid value '1' for --quant layerwise: .*bits must be an integer in 2\.\.16, got 1$/m,
  );
  assert.equal(r.stdout, "");
});
