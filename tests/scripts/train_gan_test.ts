// `deno task train` (the WGAN) end to end: 2 worker processes, a short run on
// the 8-Gaussian ring, every artefact of the run folder, and bad flags.
import assert from "node:assert/strict";
import { runScript } from "../_support/run_script.ts";
import * as tf from "@tensorflow/tfjs";
import { loadLayersModel } from "../../models/tfjs/io.ts";
import { PNG_SIGNATURE } from "../../models/gan/png.ts";
import { parseGanArgs } from "../../scripts/train_gan.ts";

const run = (args: string[]) => runScript("train.ts", args);

Deno.test("deno task train --dataset gaussians8: quality improves on its start, and the run folder holds every artefact", async () => {
  const dir = await Deno.makeTempDir();
  const r = await run([
    "--dataset",
    "gaussians8",
    "--workers",
    "2",
    "--steps",
    "400",
    "--lr",
    "3",
    "--eval-every",
    "100",
    "--eval-samples",
    "1000",
    "--collective", // named: `auto` (the default) would take float32 on one host
    "allgather",
    "--out",
    dir,
    "--json",
    "--quiet",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const last = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  for (const k of ["dataset", "steps", "quality", "modes_covered", "high_quality", "bytes_sent"]) {
    assert.ok(k in last, `--json lacks ${k}`);
  }
  assert.equal(last.dataset, "gaussians8");
  assert.equal(last.steps, 400);
  assert.equal(last.collectives, 400, "QODA: one collective per step");
  assert.equal(last.replicas_agree, true);
  assert.ok(last.bits_per_coord > 4 && last.bits_per_coord < 6, `bits ${last.bits_per_coord}`);

  const metrics = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n")
    .map((l) => JSON.parse(l));
  const start = metrics.find((m) => m.step === 0), end = metrics.find((m) => m.final);
  assert.ok(start && end, "a record at the start and a final one");
  // The samples move towards the modes: mean distance to the nearest mode falls.
  assert.ok(
    end.mean_distance < 0.8 * start.mean_distance,
    `mean distance ${start.mean_distance} → ${end.mean_distance}`,
  );

  const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  assert.equal(config.job.problemOptions.dataset, "gaussians8");
  assert.equal(last.collective_used, "allgather");
  assert.equal(config.collective_used, "allgather", "config.json says which collective ran");
  assert.equal(last.transport, "shm", "two worker processes of one host");
  assert.equal(config.transport, "shm");

  const png = await Deno.readFile(`${dir}/samples.png`);
  assert.deepEqual(png.subarray(0, 8), PNG_SIGNATURE);

  const html = await Deno.readTextFile(`${dir}/report.html`);
  for (const id of ["losses", "quality", "timings", "bits", "eps", "levels"]) {
    assert.match(html, new RegExp(`<section id="${id}">`), `report lacks ${id}`);
  }
  assert.doesNotMatch(html, /<script|src="http/, "self-contained");
  assert.match(html, /data:image\/png;base64,/);

  // The checkpoint is a plain TF.js layers model: z (2) → a 2-D sample.
  const model = await loadLayersModel(tf, `${dir}/checkpoint`);
  const y = model.predict(tf.zeros([3, 2])) as tf.Tensor;
  assert.deepEqual(y.shape, [3, 2]);
  assert.ok(Array.from(y.dataSync()).every(Number.isFinite));
  y.dispose();
  model.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("deno task train (the MNIST defaults, short): the averaged DCGAN generator's FID falls well below its start", async () => {
  const r = await run([
    "--steps",
    "200",
    "--eval-every",
    "200",
    "--eval-samples",
    "500",
    "--no-artifacts",
    "--json",
    "--quiet",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  assert.equal(s.dataset, "mnist");
  assert.equal(s.arch, "dcgan");
  assert.equal(s.optimizer, "qoda-rms");
  assert.equal(s.replicas_agree, true);
  const start = s.evals[0].quality;
  // Measured with these 500 samples (1,000 score lower): 412 at the start, 63 after 200 steps.
  assert.ok(start > 250, `FID ${start} at the start`);
  assert.ok(s.fid < 0.5 * start, `FID ${start} → ${s.fid} after 200 steps`);
});

Deno.test("deno task train: every row-wise --quant its --help lists (psq, bhq) trains over worker processes", async () => {
  const help = await run(["--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /--quant [\w|]*\bpsq\b[\w|]*\bbhq\b/);
  for (const quant of ["psq", "bhq"]) {
    const r = await run([
      "--dataset",
      "gaussians8",
      "--workers",
      "2",
      "--quant",
      quant,
      "--steps",
      "6",
      "--eval-samples",
      "200",
      "--no-artifacts",
      "--json",
      "--quiet",
    ]);
    // The exit code and the end of stdout tell a crash at exit from one during the run.
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}\nstdout ends: ${r.stdout.slice(-300)}`);
    const last = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.equal(last.quant, quant);
    assert.equal(last.steps, 6);
    assert.equal(last.replicas_agree, true);
    assert.equal(last.recoveries, 0, r.stderr);
    assert.equal(last.skipped, 0);
    assert.ok(last.bytes_sent > 0);
  }
});

Deno.test("deno task train rejects bad flags and values, listing the valid choices", async () => {
  const a = await run(["--dataset", "cifar10"]);
  assert.equal(a.code, 2);
  assert.match(
    a.stderr,
    /--dataset: invalid value 'cifar10'; valid choices: mnist, gaussians8, gaussians25/,
  );
  const b = await run(["--arch", "dcgan", "--dataset", "gaussians8"]);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /--arch dcgan is for --dataset mnist/);
  const c = await run(["--steps", "ten"]);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /--steps: expected an integer ≥ 1, got 'ten'/);
  const d = await run(["--lerning-rate", "1"]);
  assert.equal(d.code, 2);
  assert.match(d.stderr, /lerning-rate/);
  for (
    const [args, re] of [
      [["--beta1", "0.5"], /--beta1 is for --optimizer adam or oadam, not qoda-rms/],
      [["--average", "1"], /--average: a decay in \[0, 1\) \(0: no average\), got 1/],
      [["--widths", "8"], /--widths: expected two channel counts \(dcgan\), got '8'/],
      [
        ["--dataset", "gaussians8", "--widths", "8,8,8,8,8,8,8,8,8"],
        /--widths: expected 1 to 8 widths \(mlp\), got '8,8,8,8,8,8,8,8,8'/,
      ],
      [["--data-scale", "2"], /--data-scale is for the mixtures/],
      [["--dataset", "gaussians25", "--data-scale", "0"], /--data-scale: expected a number > 0/],
      [["--pack", "2"], /--pack: the dcgan pair scores one sample at a time; use --arch mlp/],
      [
        ["--dataset", "gaussians25", "--batch", "99"],
        /--batch 99 is not a multiple of --pack 2/,
      ],
      [["--loss", "hinge"], /--loss: invalid value 'hinge'; valid choices: wgan, ns/],
      [["--dataset", "gaussians8", "--pack", "0"], /--pack/],
      [
        ["--parameterization", "he"],
        /--parameterization: invalid value 'he'; valid choices: equalized, standard/,
      ],
    ] as const
  ) {
    const e = await run([...args]);
    assert.equal(e.code, 2, args.join(" "));
    assert.match(e.stderr, re);
  }
  const h = await run(["--help"]);
  assert.equal(h.code, 0);
  for (
    const f of [
      "--dataset",
      "--arch",
      "--workers",
      "--optimizer",
      "--quant",
      "--bits",
      "--steps",
      "--lr",
      "--batch",
      "--gp",
      "--loss",
      "--pack",
      "--parameterization",
      "--data-scale",
      "--clip",
      "--eval-every",
      "--target",
      "--out",
      "--json",
      "--elastic",
      "--secret",
    ]
  ) {
    assert.ok(h.stdout.includes(f), `--help lacks ${f}`);
  }
});

Deno.test("Ctrl-C on deno task train commits, and leaves config.json and a report that says the run ended early", async () => {
  const dir = await Deno.makeTempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../scripts/train.ts", import.meta.url).pathname,
      "--dataset",
      "gaussians8",
      "--steps",
      "1000000",
      "--eval-every",
      "20",
      "--eval-samples",
      "200",
      "--out",
      dir,
      "--quiet",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Wait for a few evaluations, then interrupt.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const lines = await Deno.readTextFile(`${dir}/metrics.jsonl`).catch(() => "");
    if (lines.trim().split("\n").length >= 3 || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGINT");
  const out = await child.output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.success, false);
  assert.match(err, /interrupted: committing/);
  const commit = JSON.parse(await Deno.readTextFile(`${dir}/commit.json`));
  assert.ok(commit.step >= 40, `committed step ${commit.step}`);
  assert.ok((await Deno.stat(`${dir}/config.json`)).isFile);
  const report = await Deno.readTextFile(`${dir}/report.html`);
  assert.match(
    report,
    /The run ended before its last step<\/b> \(after step [\d,]+\): stopped: interrupted/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("deno task train --optimizer adam: the demo's problem at lr 1e-3 and β (0, 0.99), each overridable", () => {
  const { job } = parseGanArgs(["--optimizer", "adam"]);
  assert.equal(job.optimizer, "adam");
  assert.deepEqual([job.lr, job.beta1, job.beta2], [1e-3, 0, 0.99]);
  const demo = parseGanArgs([]).job;
  assert.deepEqual(job.problemOptions, demo.problemOptions, "the same problem as the demo");
  assert.deepEqual([job.steps, job.average], [demo.steps, demo.average]);
  const own = parseGanArgs(["--optimizer", "oadam", "--lr", "2e-4", "--beta1", "0.5"]).job;
  assert.deepEqual([own.lr, own.beta1, own.beta2], [2e-4, 0.5, 0.99]);
  assert.equal(parseGanArgs(["--optimizer", "qoda"]).job.beta1, undefined);
});
