// A user's own problem, defined outside models/: a 8→16→3 ReLU classifier in
// tfjs on synthetic, linearly separable data. It gives only its variables and
// its loss; everything else is the runtime's. Options: `randomInit` draws the
// starting weights from Math.random (a different X_1 on every instance), and
// `diverge` makes each replica's projection differ (a determinism bug), and
// `nanAfter: n` makes every loss after the n-th of an instance NaN, and
// `blockAt: n, blockMs: ms` holds the thread ms milliseconds in the n-th loss.
import * as tf from "@tensorflow/tfjs";
import { initBackend, tfjsProblem } from "../../models/tfjs/mod.ts";
import type { ProblemInit, TrainProblem } from "../../mod.ts";
import { Rng } from "../../mod.ts";

const IN = 8, HIDDEN = 16, CLASSES = 3, BATCH = 32;

export async function createProblem(init: ProblemInit): Promise<TrainProblem> {
  await initBackend("cpu");
  const { randomInit = false, diverge = false, nanAfter = Infinity, blockAt = -1, blockMs = 0 } =
    init.options as {
      randomInit?: boolean;
      diverge?: boolean;
      nanAfter?: number;
      blockAt?: number;
      blockMs?: number;
    };
  let losses = 0;
  const rng = new Rng(init.seed);
  const draw = (n: number, scale: number) =>
    Float32Array.from(
      { length: n },
      () => (randomInit ? Math.random() - 0.5 : rng.normal()) * scale,
    );
  const w1 = tf.variable(
    tf.tensor2d(draw(IN * HIDDEN, 0.3), [IN, HIDDEN]),
    true,
    "user/dense1/kernel",
  );
  const b1 = tf.variable(tf.zeros([HIDDEN]), true, "user/dense1/bias");
  const w2 = tf.variable(
    tf.tensor2d(draw(HIDDEN * CLASSES, 0.3), [HIDDEN, CLASSES]),
    true,
    "user/dense2/kernel",
  );
  const b2 = tf.variable(tf.zeros([CLASSES]), true, "user/dense2/bias");
  // The labels come from a fixed linear teacher.
  const teacher = new Rng(99);
  const t = Float32Array.from({ length: IN * CLASSES }, () => teacher.normal());
  const batch = (r: Rng) => {
    const x = Float32Array.from({ length: BATCH * IN }, () => r.normal());
    const y = new Int32Array(BATCH);
    for (let i = 0; i < BATCH; i++) {
      let best = 0, arg = 0;
      for (let c = 0; c < CLASSES; c++) {
        let s = 0;
        for (let j = 0; j < IN; j++) s += x[i * IN + j] * t[j * CLASSES + c];
        if (c === 0 || s > best) [best, arg] = [s, c];
      }
      y[i] = arg;
    }
    return { x: tf.tensor2d(x, [BATCH, IN]), y: tf.oneHot(tf.tensor1d(y, "int32"), CLASSES) };
  };
  const logits = (x: tf.Tensor2D) => x.matMul(w1).add(b1).relu().matMul(w2).add(b2);
  const problem = tfjsProblem({
    tf,
    name: init.name,
    params: [w1, b1, w2, b2],
    loss: ({ rng }) => {
      const { x, y } = batch(rng);
      const l = tf.losses.softmaxCrossEntropy(y, logits(x as tf.Tensor2D));
      if (++losses === blockAt) {
        const until = performance.now() + blockMs;
        while (performance.now() < until) {
          // a long synchronous step: no timer of this thread runs meanwhile
        }
      }
      return losses > nanAfter ? l.mul(NaN) : l;
    },
    evaluate: () =>
      tf.tidy(() => {
        const { x, y } = batch(new Rng(12345));
        const z = logits(x as tf.Tensor2D);
        const loss = tf.losses.softmaxCrossEntropy(y, z).dataSync()[0];
        const acc = z.argMax(1).equal(y.argMax(1)).mean().dataSync()[0];
        return { quality: loss, loss, accuracy: acc };
      }),
    dispose: () => tf.dispose([w1, b1, w2, b2]),
  });
  if (diverge) problem.project = (x) => void (x[0] += Math.random());
  return problem;
}
