import assert from "node:assert/strict";
import { runGame } from "../../models/game_runner.ts";

Deno.test("QODA over 4 workers closes in on the bilinear solution 100× in 2,000 steps", async () => {
  const r = await runGame({ problem: "bilinear", workers: 4, quant: "none", steps: 2000 });
  assert.ok(r.dist * 100 <= r.dist0, `dist ${r.dist0} → ${r.dist}`);
  assert.equal(r.collectives, 2000, "QODA: one collective per iteration");
  assert.ok(r.replicas_agree);
});

Deno.test("QODA with 4-bit layer-wise messages still converges, replicas bit-identical", async () => {
  for (const collective of ["allgather", "ring"] as const) {
    const r = await runGame({
      problem: "bilinear",
      workers: 4,
      quant: "layerwise",
      bits: 4,
      collective,
      steps: 2000,
    });
    assert.ok(r.dist * 10 <= r.dist0, `${collective}: dist ${r.dist0} → ${r.dist}`);
    assert.ok(r.replicas_agree, collective);
    assert.ok(r.bytes_sent > 0);
  }
});

Deno.test("Q-GenX issues exactly two collectives per iteration, QODA one (counted)", async () => {
  const q = await runGame({ problem: "bilinear", workers: 3, optimizer: "qgenx", steps: 100 });
  const o = await runGame({ problem: "bilinear", workers: 3, optimizer: "qoda", steps: 100 });
  assert.equal(q.collectives, 200);
  assert.equal(o.collectives, 100);
  assert.ok(q.bytes_sent > 1.9 * o.bytes_sent, `${q.bytes_sent} vs ${o.bytes_sent}`);
});

Deno.test("the gap decays under relative noise", async () => {
  const gaps: number[] = [];
  const r = await runGame({
    problem: "quadratic",
    workers: 4,
    quant: "layerwise",
    sigmaRel: 0.3,
    steps: 1500,
    evalEvery: 100,
    onEval: (e) => gaps.push(e.gap),
  });
  assert.ok(gaps[gaps.length - 1] < gaps[0] / 10, `gaps ${gaps[0]} → ${gaps.at(-1)}`);
  assert.ok(r.dist < r.dist0 / 10);
});

Deno.test("every problem and optimiser runs and moves towards the solution", async () => {
  for (const problem of ["bilinear", "quadratic", "linear", "kelly"]) {
    for (const optimizer of ["qoda", "qgenx"]) {
      const r = await runGame({ problem, optimizer, workers: 2, steps: 400 });
      assert.ok(r.dist < r.dist0, `${problem}/${optimizer}: ${r.dist0} → ${r.dist}`);
      assert.ok(r.replicas_agree);
    }
  }
});

Deno.test("a run resumed from a commit ends bit-identical to an uninterrupted one", async () => {
  const dir = await Deno.makeTempDir();
  // Layer-wise levels re-solve at steps 20 and 100, noise on every oracle: every piece of
  // state (optimiser, both random streams, level tables and statistics) must survive.
  const base = {
    problem: "bilinear",
    workers: 3,
    quant: "layerwise",
    bits: 4,
    sigmaRel: 0.2,
    steps: 160,
  } as const;
  const straight = await runGame(base);
  const first = await runGame({ ...base, steps: 90, commitEvery: 45, commitDir: dir });
  assert.notEqual(first.checksum, straight.checksum);
  const names = [...Deno.readDirSync(dir)].map((e) => e.name);
  assert.deepEqual(names, ["commit.json"], "no temporary file is left behind");
  const resumed = await runGame({ ...base, resumeFrom: dir });
  assert.equal(resumed.checksum, straight.checksum);
  assert.equal(resumed.dist, straight.dist);
  assert.equal(resumed.collectives, straight.collectives);
  assert.equal(resumed.bytes_sent, straight.bytes_sent);
  await assert.rejects(
    runGame({ ...base, workers: 4, resumeFrom: dir }),
    /cannot resume: the commit was made with workers 3, this run has workers 4/,
  );
  await Deno.remove(dir, { recursive: true });
});
