import assert from "node:assert/strict";
import { UnknownNameError } from "../../../runtime/errors.ts";
import {
  Adam,
  createOptimizer,
  OPTIMIZER_NAMES,
  QGenX,
  Qoda,
  restoreOptimizer,
  Sgd,
} from "../../../runtime/optim/mod.ts";
import { bilinear, bits, identity, oracle, unitStart } from "./_support.ts";

Deno.test("createOptimizer() builds each optimiser by name", () => {
  const x0 = new Float32Array([1, 2, 3]);
  const made = OPTIMIZER_NAMES.map((n) => createOptimizer(n, x0, { lr: 0.1 }));
  assert.deepEqual(made.map((o) => o.name), [
    "qoda",
    "qgenx",
    "sgd",
    "adam",
    "qoda-adagrad",
    "oadam",
    "qoda-rms",
  ]);
  assert.deepEqual(made.map((o) => o.collectivesPerStep), [1, 2, 1, 1, 1, 1, 1]);
  assert.ok(made[0] instanceof Qoda && made[1] instanceof QGenX);
  assert.ok(made[2] instanceof Sgd && made[3] instanceof Adam && made[5] instanceof Adam);
  for (const o of made) {
    assert.deepEqual(Array.from(o.params), [1, 2, 3]);
    assert.notEqual(o.params, x0, "x0 is copied");
  }
});

Deno.test("createOptimizer() rejects an unknown name, listing the valid ones", () => {
  assert.throws(
    () => createOptimizer("rmsprop", new Float32Array(2), { lr: 0.1 }),
    (e: unknown) =>
      e instanceof UnknownNameError && e.requested === "rmsprop" &&
      e.message ===
        "unknown optimizer 'rmsprop'; valid: qoda, qgenx, sgd, adam, qoda-adagrad, oadam, qoda-rms",
  );
  assert.throws(() => restoreOptimizer({ name: "nope" } as never), UnknownNameError);
});

Deno.test("restoreOptimizer() continues every optimiser bit-exactly", async () => {
  const game = bilinear(2);
  for (const name of OPTIMIZER_NAMES) {
    const opt = createOptimizer(name, unitStart(game.dim, 1), { lr: 0.05 });
    for (let i = 0; i < 20; i++) await opt.step(oracle(game), identity);
    const copy = restoreOptimizer(structuredClone(opt.state()));
    assert.equal(copy.name, name);
    for (let i = 0; i < 20; i++) {
      await opt.step(oracle(game), identity);
      await copy.step(oracle(game), identity);
    }
    assert.deepEqual(bits(copy.params), bits(opt.params), name);
    assert.equal(copy.t, 40);
  }
});
