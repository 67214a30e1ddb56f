// A job's moving average of the parameters (`average`): training is
// unchanged, evaluations and results are taken at the average, and a resumed
// run carries the average on bit-exactly.
import assert from "node:assert/strict";
import { TrainingSupervisor, type TrainingSupervisorOptions } from "../../actors/supervisor.ts";
import { type JobConfig, jobConfig } from "../../actors/job.ts";
import { problemModule } from "../../models/registry.ts";

function job(over: Partial<JobConfig> = {}): JobConfig {
  return jobConfig({
    collective: "allgather", // named: `auto` chooses by timing; runs are compared bit for bit
    problem: "bilinear",
    module: problemModule("bilinear"),
    problemOptions: { sigmaRel: 0.5 },
    lr: 0.5,
    steps: 200,
    seed: 5,
    adapt: { warmup: [20], every: 0 },
    checksumEvery: 25,
    ...over,
  });
}

function run(options: Partial<TrainingSupervisorOptions> & { job: JobConfig }) {
  return new TrainingSupervisor({ workers: 2, spawn: "inprocess", ...options }).run();
}

Deno.test("average: the same training, evaluated and returned at the moving average", async () => {
  // SGD at a constant rate on a quadratic with absolute noise: the last
  // iterate jitters around the solution, the average of the last ~20 sits closer.
  const sgd = (average: number) =>
    job({
      problem: "quadratic",
      module: problemModule("quadratic"),
      problemOptions: { sigmaAbs: 1 },
      optimizer: "sgd",
      lr: 0.1,
      steps: 300,
      average,
    });
  const evals = async (average: number) => {
    const seen: number[] = [];
    const r = await run({
      job: sgd(average),
      evalEvery: 150,
      onEval: (e) => void seen.push(e.metrics.dist),
    });
    return { r, seen };
  };
  const { r: last, seen: lastEvals } = await evals(0);
  const { r: avg, seen: avgEvals } = await evals(0.95);
  assert.equal(avg.checksum, last.checksum, "the average does not change the iterates");
  assert.notDeepEqual(avg.params, last.params);
  // Measured: 0.51 against 1.08.
  assert.ok(
    avg.metrics.dist < 0.7 * last.metrics.dist,
    `distance to the solution: average ${avg.metrics.dist}, last iterate ${last.metrics.dist}`,
  );
  assert.equal(avgEvals.length, 2, "steps 0 and 150 (the end is the result's)");
  assert.equal(avgEvals[0], lastEvals[0], "the same starting point");
  assert.notEqual(avgEvals[1], lastEvals[1], "step 150 is evaluated at the average");
});

Deno.test("average: a run resumed from a commit carries the average on bit-exactly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const straight = await run({ job: job({ average: 0.9 }) });
    await run({ job: job({ average: 0.9, steps: 100 }), commitEvery: 50, commitDir: dir });
    const resumed = await run({ job: job({ average: 0.9 }), resumeFrom: dir });
    assert.equal(resumed.checksum, straight.checksum);
    assert.deepEqual(resumed.params, straight.params, "the same average after the resume");
    await assert.rejects(
      run({ job: job({ average: 0.8 }), resumeFrom: dir }),
      /the commit was made with different average/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("average: a decay outside [0, 1) is refused before anything starts", () => {
  for (const average of [1, -0.5, NaN]) {
    assert.throws(() => job({ average }), /average must be a decay in \[0, 1\) \(0: none\), got/);
  }
});
