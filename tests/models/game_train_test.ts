// The monotone games on the one training runtime: train() with in-process workers (the same
// step loop and supervisor as worker processes, over in-memory links).
import assert from "node:assert/strict";
import { train, type TrainOptions } from "../../actors/train.ts";
import { readCommit } from "../../actors/commit.ts";
import { gameProblem } from "../../models/game_problem.ts";
import { problemModule } from "../../models/registry.ts";

function game(problem: string, o: Partial<TrainOptions> = {}) {
  return train({
    problem: problemModule(problem),
    name: problem,
    runtime: "inprocess",
    workers: 4,
    lr: 0.5,
    steps: 2000,
    ...o,
  });
}

const dist0 = (problem: string, seed = 0) => gameProblem({ problem, seed }).dist0;

Deno.test("QODA over 4 workers closes in on the bilinear solution 100× in 2,000 steps", async () => {
  const r = await game("bilinear", { quant: "none" });
  // Measured: ‖z − z*‖ 2.0 → 7.2e-5.
  assert.ok(r.metrics.dist * 100 <= dist0("bilinear"), `dist → ${r.metrics.dist}`);
  assert.equal(r.collectives, 2000, "QODA: one collective per iteration");
  assert.equal(r.skipped, 0);
});

Deno.test("QODA with 4-bit layer-wise messages still converges, through either collective", async () => {
  for (const collective of ["allgather", "ring"] as const) {
    const r = await game("bilinear", { quant: "layerwise", bits: 4, collective });
    // Measured: 1.8e-4 (allgather), 3.5e-3 (ring, partial sums re-quantized).
    assert.ok(r.metrics.dist * 100 <= dist0("bilinear"), `${collective}: ${r.metrics.dist}`);
    assert.ok(r.bytesSent > 0);
  }
});

Deno.test("Q-GenX issues exactly two collectives per iteration, QODA one (counted)", async () => {
  const q = await game("bilinear", { workers: 3, optimizer: "qgenx", steps: 100 });
  const o = await game("bilinear", { workers: 3, optimizer: "qoda", steps: 100 });
  assert.equal(q.collectives, 200);
  assert.equal(o.collectives, 100);
  assert.ok(q.bytesSent > 1.9 * o.bytesSent, `${q.bytesSent} vs ${o.bytesSent}`);
});

Deno.test("the gap decays under relative noise", async () => {
  const gaps: number[] = [];
  const r = await game("quadratic", {
    quant: "layerwise",
    options: { sigmaRel: 0.3 },
    steps: 1500,
    evalEvery: 100,
    onEval: (e) => gaps.push(e.metrics.gap),
  });
  // Evaluations at the start and every 100 steps before the end (the end is in r.metrics).
  assert.equal(gaps.length, 15);
  assert.ok(r.metrics.gap < gaps[0] / 10, `gaps ${gaps[0]} → ${r.metrics.gap}`);
  assert.ok(gaps.at(-1)! < gaps[1], `gaps ${gaps[1]} → ${gaps.at(-1)}`);
  assert.ok(r.metrics.dist < dist0("quadratic") / 10);
});

Deno.test("every problem and optimiser runs and moves towards the solution", async () => {
  for (const problem of ["bilinear", "quadratic", "linear", "kelly"]) {
    for (const optimizer of ["qoda", "qgenx"] as const) {
      const r = await game(problem, { optimizer, workers: 2, steps: 400 });
      const d0 = dist0(problem);
      assert.ok(r.metrics.dist < d0, `${problem}/${optimizer}: ${d0} → ${r.metrics.dist}`);
      assert.equal(r.collectives, optimizer === "qgenx" ? 800 : 400);
    }
  }
});

Deno.test("a run resumed from a commit ends bit-identical to an uninterrupted one; another configuration is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Layer-wise levels re-solve at steps 20 and 100, noise on every oracle: every piece of
    // state (optimiser, step sizes, random streams, level tables and statistics) must survive.
    const base = {
      workers: 3,
      quant: "layerwise",
      bits: 4,
      collective: "allgather", // named: `auto` chooses by timing, and separate runs are compared
      options: { sigmaRel: 0.2 },
      steps: 160,
    } as const;
    const straight = await game("bilinear", base);
    // Commits at steps 40 and 80 of 90 (the resumed run repeats steps 81–90).
    const first = await game("bilinear", { ...base, steps: 90, commitEvery: 40, commitDir: dir });
    assert.notEqual(first.checksum, straight.checksum);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(names, ["commit.json"], "no temporary file is left behind");
    assert.equal((await readCommit(dir) as { step: number }).step, 80);
    const resumed = await game("bilinear", { ...base, resumeFrom: dir });
    assert.equal(resumed.checksum, straight.checksum);
    assert.deepEqual(resumed.params, straight.params);
    assert.equal(resumed.metrics.dist, straight.metrics.dist);
    assert.equal(resumed.collectives, straight.collectives);
    assert.equal(resumed.bytesSent, straight.bytesSent);
    await assert.rejects(
      game("bilinear", { ...base, workers: 4, resumeFrom: dir }),
      /cannot resume from .*: it has 3 ranks, this run 4/,
    );
    await assert.rejects(
      game("bilinear", { ...base, lr: 0.25, resumeFrom: dir }),
      /cannot resume from .*: the commit was made with different lr/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
