// Every quantizer `--quant` offers works in training: the row-wise schemes
// (psq, bhq) get each layer's row length with every piece of it the ring
// all-reduce cuts, on a tfjs model's 2-D layers and on a game's one layer.
// A deterministic error (a layer whose shape cannot work) stops the run at
// its first attempt, naming the layer; a crash still restarts (see
// process_runtime_test.ts and robustness_test.ts).
import assert from "node:assert/strict";
import { createProblem, fnv1a, jobConfig } from "../../actors/job.ts";
import { TrainingSupervisor } from "../../actors/supervisor.ts";
import { isDeterministicFailure } from "../../actors/supervision.ts";
import { deserializeError, serializeError } from "../../actors/error_codec.ts";
import { SupervisorError } from "../../actors/errors.ts";
import { problemModule } from "../../models/registry.ts";
import {
  CollectiveError,
  CollectiveTimeoutError,
  ConfigurationError,
  LinkError,
  NonFiniteError,
  QuantizationError,
  RemoteFailureError,
  UnknownNameError,
} from "../../runtime/errors.ts";
import { RemoteError } from "../../actors/errors.ts";

const userProblem = new URL("./_user_problem.ts", import.meta.url).href;

for (const quant of ["psq", "bhq"]) {
  for (const collective of ["allgather", "ring"] as const) {
    Deno.test(`${quant} (${collective}) trains a tfjs model on 3 in-process workers: replicas agree, parameters move`, async () => {
      const job = jobConfig({
        problem: "user",
        module: userProblem,
        quant,
        collective,
        lr: 0.5,
        steps: 6,
        seed: 5,
        checksumEvery: 1,
      });
      let recoveries = 0;
      const r = await new TrainingSupervisor({
        job,
        workers: 3,
        spawn: "inprocess",
        onRecovery: () => recoveries++,
      }).run();
      assert.equal(recoveries, 0);
      assert.equal(r.recoveries.length, 0);
      assert.equal(r.steps, 6);
      assert.ok(r.replicas_agree);
      assert.equal(r.skipped, 0);
      assert.ok(r.bytes_sent > 0);
      const p = await createProblem(job);
      const x1 = p.initial();
      p.dispose?.();
      assert.notEqual(r.checksum, fnv1a(x1), "the parameters moved");
      assert.ok(Number.isFinite(r.metrics.loss), JSON.stringify(r.metrics));
    });
  }
  Deno.test(`${quant} trains the bilinear game (one layer without a shape) on 3 in-process workers`, async () => {
    const job = jobConfig({
      problem: "bilinear",
      module: problemModule("bilinear"),
      problemOptions: { sigmaRel: 0.1 },
      quant,
      bits: 8,
      lr: 0.5,
      steps: 40,
      seed: 2,
      checksumEvery: 5,
    });
    const r = await new TrainingSupervisor({ job, workers: 3, spawn: "inprocess" }).run();
    assert.equal(r.recoveries.length, 0);
    assert.ok(r.replicas_agree);
    const p = await createProblem(job);
    assert.ok(
      r.metrics.dist < (await p.evaluate(p.initial())).dist,
      `distance to the solution ${r.metrics.dist}`,
    );
  });
}

Deno.test("a deterministic error stops the run at its first attempt, naming the layer and what was wrong", async () => {
  const job = jobConfig({
    problem: "bad-layer",
    module: new URL("./_bad_layer_problem.ts", import.meta.url).href,
    quant: "psq",
    steps: 50,
    checksumEvery: 0,
  });
  const logs: string[] = [];
  let recoveries = 0;
  const t0 = performance.now();
  await assert.rejects(
    new TrainingSupervisor({
      job,
      workers: 2,
      spawn: "inprocess",
      onRecovery: () => recoveries++,
      log: (l) => logs.push(l),
    }).run(),
    (e: Error) =>
      e instanceof SupervisorError &&
      /failed with a deterministic error in epoch 1, not retried/.test(e.message) &&
      /layer 'bilinear\/scale': shape \[2, 3\] holds 6 values but the tensor has 1/.test(
        e.message,
      ) &&
      e.cause instanceof QuantizationError && e.cause.layer === "bilinear/scale",
  );
  const ms = performance.now() - t0;
  assert.equal(recoveries, 0, "no restart");
  assert.equal(logs.filter((l) => /ring of 2 formed/.test(l)).length, 1, logs.join("\n"));
  assert.ok(ms < 5_000, `took ${ms} ms`);
});

Deno.test("isDeterministicFailure: configuration, shape and programming errors are; crashes and collective failures are not", () => {
  const yes = [
    new ConfigurationError("option 'dim' must be positive"),
    new QuantizationError("fc/kernel", "row length unknown"),
    new NonFiniteError("fc/kernel", 3, NaN),
    new UnknownNameError("scheme", "int3", ["qsgd"]),
    new TypeError("x is not a function"),
    new RangeError("bad step"),
    new RemoteError("TypeError", "from elsewhere"),
  ];
  const no = [
    new Error("boom"),
    new CollectiveError("closed", 1, "rank 1 closed the ring"),
    new LinkError("io", 1, "connection reset"),
    new CollectiveTimeoutError(1, 1000, "waited 1000 ms"),
    new RemoteFailureError("failed", 1, 0, "rank 1 failed"),
    new SupervisorError("gave up"),
    new RemoteError("CudaError", "out of memory"),
    "a string",
  ];
  for (const e of yes) {
    assert.ok(isDeterministicFailure(e), String(e));
    // As a worker reports it: serialized, then revived on the supervisor's side.
    assert.ok(isDeterministicFailure(deserializeError(serializeError(e))), String(e));
  }
  for (const e of no) {
    assert.ok(!isDeterministicFailure(e), String(e));
    assert.ok(!isDeterministicFailure(deserializeError(serializeError(e))), String(e));
  }
  const revived = deserializeError(serializeError(new ConfigurationError("bad option")));
  assert.ok(revived instanceof ConfigurationError);
  assert.equal(revived.message, "bad option");
});
