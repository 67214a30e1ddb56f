// `deno task train` on the 2-D mixtures with the dataset's own defaults
// (qoda-adagrad, λ 0.1, 2 worker processes, layer-wise 4-bit): a short run
// (batch 64 to keep it short) already gathers samples near the modes.
import assert from "node:assert/strict";
import { runScript } from "../_support/run_script.ts";
import { trainingDefaults } from "../../models/gan/wgan.ts";

Deno.test("the datasets' defaults: qoda-adagrad (MNIST: dcgan, batch 32, averaged); plain QODA keeps its own", () => {
  for (
    const [dataset, batch, steps] of [["gaussians8", 128, 18_000], [
      "gaussians25",
      256,
      16_000,
    ]] as const
  ) {
    const d = trainingDefaults(dataset);
    assert.equal(d.optimizer, "qoda-adagrad");
    assert.equal(d.gp, 0.1);
    assert.equal(d.batch, batch);
    assert.equal(d.steps, steps);
    assert.equal(d.arch, "mlp");
    assert.ok(d.lr > 0 && d.lr < 1);
  }
  assert.deepEqual(trainingDefaults("gaussians8", "qoda"), {
    optimizer: "qoda",
    lr: 10,
    steps: 1500,
    batch: 64,
    gp: 1,
    average: 0,
    arch: "mlp",
  });
  const m = trainingDefaults("mnist");
  assert.equal(m.optimizer, "qoda-adagrad");
  assert.equal(m.arch, "dcgan");
  assert.equal(m.batch, 32);
  assert.equal(m.gp, 10);
  assert.equal(m.average, 0.999);
  assert.ok(m.lr > 0 && m.lr < 1);
  assert.equal(
    trainingDefaults("mnist", undefined, "mlp").batch,
    64,
    "the MLP pair keeps batch 64",
  );
  const q = trainingDefaults("mnist", "qoda");
  assert.equal(q.arch, "mlp");
  assert.equal(q.lr, 10);
  assert.equal(q.average, 0);
});

Deno.test("deno task train --dataset gaussians8 (defaults, short): samples gather on the modes", async () => {
  const dir = await Deno.makeTempDir();
  const r = await runScript("train.ts", [
    "--dataset",
    "gaussians8",
    "--steps",
    "800",
    "--batch",
    "64",
    "--eval-every",
    "800",
    "--eval-samples",
    "1000",
    "--out",
    dir,
    "--commit-seconds",
    "0",
    "--json",
    "--quiet",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  assert.equal(s.optimizer, "qoda-adagrad");
  assert.equal(s.quant, "layerwise");
  assert.equal(s.bits, 4);
  assert.equal(s.workers, 2);
  assert.equal(s.collectives, s.steps, "one collective per step");
  assert.equal(s.replicas_agree, true);
  assert.equal(s.evals[0].quality, 0, "no mode covered at the start");
  const metrics = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n")
    .map((l) => JSON.parse(l));
  const start = metrics.find((m) => m.step === 0), end = metrics.find((m) => m.final);
  await Deno.remove(dir, { recursive: true });
  assert.ok(start && end, "a record at the start and a final one");
  // Seed 0 on the wasm backend: mean distance 1.19 → 0.35, high-quality share 0 → 3.0%.
  assert.equal(start.high_quality, 0);
  assert.ok(
    end.mean_distance < 0.5 * start.mean_distance,
    `mean distance to a mode ${start.mean_distance} → ${end.mean_distance}`,
  );
  assert.ok(end.high_quality >= 0.01, `high-quality share ${end.high_quality}`);
});
