// train() on a problem defined here, in a test file: a user's tfjs model on
// worker processes and in-process, identical replicas from one X_1, and the
// errors a user meets (unknown names, bad modules, divergence, abort).
import assert from "node:assert/strict";
import { ReplicaDivergenceError, train, type TrainOptions, UnknownNameError } from "../../mod.ts";

const problem = new URL("./_user_problem.ts", import.meta.url);
// Named: `auto` (the default) chooses by timing, and this compares separate runs bit for bit.
const base: TrainOptions = {
  problem,
  collective: "allgather",
  workers: 2,
  steps: 60,
  lr: 2,
  seed: 3,
  checksumEvery: 10,
};

Deno.test("train() trains a user's tfjs model on 2 processes, bit-identical to an in-process run", async () => {
  const procs = await train({ ...base, runtime: "process" });
  const inproc = await train({ ...base, runtime: "inprocess" });
  assert.equal(procs.job.problem, "_user_problem");
  assert.equal(procs.workers, 2);
  assert.equal(procs.steps, 60);
  assert.ok(procs.bytesSent > 0);
  // The untrained net's loss is about ln 3 = 1.1; measured 0.40 after 60 steps.
  assert.ok(procs.metrics.loss < 0.7, `loss ${procs.metrics.loss}`);
  assert.ok(procs.metrics.accuracy > 0.75, `accuracy ${procs.metrics.accuracy}`);
  assert.equal(inproc.checksum, procs.checksum, "same job, same parameters, either runtime");
  // Worker processes of one host share memory for their payloads; in-process ranks need none.
  assert.equal(procs.transport, "shm");
  assert.equal(inproc.transport, "memory");
  assert.deepEqual(inproc.params, procs.params);
});

Deno.test("train() defaults to the auto collective: the trials run, the result names the choice", async () => {
  const { collective: _, ...unnamed } = base;
  const r = await train({ ...unnamed, runtime: "inprocess", steps: 30 });
  assert.equal(r.job.collective, "auto");
  assert.ok(["fp32", "integer", "allgather"].includes(r.collective), r.collective);
  // 30 collectives: the 9 trials (3 float32, 3 integer, 3 all-gather) and 21 of the choice.
  assert.equal(r.collectives, 30);
});

Deno.test("train() starts every replica from the supervisor's X_1, however each rank initialised", async () => {
  // Every instance draws its own weights from Math.random: without the
  // broadcast of X_1 the replicas would differ from the first step.
  const r = await train({ ...base, runtime: "inprocess", options: { randomInit: true } });
  assert.ok(r.metrics.loss < 1.0, `loss ${r.metrics.loss}`);
});

Deno.test("train() fails with ReplicaDivergenceError when the replicas drift apart", async () => {
  await assert.rejects(
    train({ ...base, runtime: "inprocess", options: { diverge: true } }),
    (e: Error) =>
      e instanceof ReplicaDivergenceError &&
      /step 10: the replicas' parameters differ \(rank 0: [0-9a-f]+, rank 1: [0-9a-f]+\)/.test(
        e.message,
      ),
  );
});

Deno.test("train() names what is wrong with its problem", async () => {
  await assert.rejects(
    train({ problem: "bilinear", runtime: "inprocess" }),
    (e: Error) => e instanceof UnknownNameError && /unknown problem 'bilinear'/.test(e.message),
  );
  await assert.rejects(
    train({
      problem: new URL("./_support/stats.ts", new URL("../", import.meta.url)),
      runtime: "inprocess",
    }),
    /the problem module .*stats\.ts does not export a createProblem function/,
  );
  await assert.rejects(
    train({ problem: "./no/such/module.ts", runtime: "inprocess" }),
    /cannot import the problem module .*no\/such\/module\.ts/,
  );
  await assert.rejects(
    train({ ...base, runtime: "sideways" as "process" }),
    /unknown runtime 'sideways'; valid: process, inprocess/,
  );
});

Deno.test("train() stops every worker and rejects when its signal aborts", async () => {
  const ac = new AbortController();
  const t0 = performance.now();
  const run = train({
    ...base,
    runtime: "process",
    steps: 100_000,
    signal: ac.signal,
    onStep: (s) => s.step === 5 && ac.abort(new Error("enough")),
  });
  await assert.rejects(run, /enough/);
  assert.ok(performance.now() - t0 < 60_000);
});

Deno.test("train() with SGD applies the supervisor's commands: level tables adopted, commits written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = async (adapt: false | { warmup: number[]; every: number }) => {
      const evals: { step: number; eps: number; version: number }[] = [];
      await train({
        ...base,
        runtime: "inprocess",
        optimizer: "sgd",
        lr: 0.5,
        steps: 8,
        adapt,
        evalEvery: 1,
        commitEvery: 4,
        commitDir: dir,
        onEval: (e) =>
          evals.push({ step: e.step, eps: e.eps.dense, version: e.levels?.version ?? 0 }),
      });
      return evals.sort((a, b) => a.step - b.step).filter((e) => e.step > 0);
    };
    const fixed = await run(false);
    const adapted = await run({ warmup: [2], every: 0 });
    assert.deepEqual(adapted.map((e) => e.step), fixed.map((e) => e.step));
    assert.ok(fixed.length >= 6 && fixed[0].step === 1 && fixed[1].step === 2);
    // The same seeds and draws: bit for bit the same run until the table solved from
    // step 2's statistics is in force, then other levels, so another ε_Q.
    for (const step of [1, 2]) {
      assert.equal(adapted[step - 1].eps, fixed[step - 1].eps, `ε_Q at step ${step}`);
    }
    assert.ok(fixed.every((e) => e.version === 0), "no table without adaptation");
    assert.equal(adapted.at(-1)!.version, 1, "the supervisor solved a table");
    assert.ok(
      adapted.slice(2).some((e, i) => e.eps !== fixed[i + 2].eps),
      "the workers quantize with the adopted table",
    );
    const commit = JSON.parse(await Deno.readTextFile(`${dir}/commit.json`));
    assert.equal(commit.step, 8, "the commit asked for at the last step is written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
