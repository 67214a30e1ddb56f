// A user's own model as a problem module: a 4 → 16 → 3 ReLU classifier in tfjs
// on synthetic points labelled by a fixed linear teacher. It gives its
// variables and its loss; train() does the rest.
import { initBackend, tfjsProblem } from "@qoda/ring/tfjs";
import { type ProblemInit, Rng, type TrainProblem } from "@qoda/ring";

const IN = 4, HIDDEN = 16, CLASSES = 3;

export async function createProblem(init: ProblemInit): Promise<TrainProblem> {
  const { tf } = await initBackend("cpu");
  const normal = (n: number, rng: Rng) => Float32Array.from({ length: n }, () => rng.normal());
  const rng = new Rng(init.seed); // X_1 depends on the seed alone
  const kernel = tf.tensor2d(normal(IN * HIDDEN, rng), [IN, HIDDEN]);
  const w1 = tf.variable(kernel, true, "mine/d1/kernel");
  const b1 = tf.variable(tf.zeros([HIDDEN]), true, "mine/d1/bias");
  const w2 = tf.variable(tf.zeros([HIDDEN, CLASSES]), true, "mine/d2/kernel"); // loss starts at ln 3
  const b2 = tf.variable(tf.zeros([CLASSES]), true, "mine/d2/bias");
  const teacher = tf.tensor2d(normal(IN * CLASSES, new Rng(99)), [IN, CLASSES]);

  // n points from `r` and their one-hot labels.
  const batch = (r: Rng, n: number) =>
    tf.tidy(() => {
      const x = tf.tensor2d(normal(n * IN, r), [n, IN]);
      return { x, y: tf.oneHot(x.matMul(teacher).argMax(1), CLASSES) };
    });
  const lossOn = (r: Rng, n: number) => {
    const { x, y } = batch(r, n);
    const logits = x.matMul(w1).add(b1).relu().matMul(w2).add(b2);
    return tf.losses.softmaxCrossEntropy(y, logits).asScalar();
  };

  return tfjsProblem({
    tf,
    name: init.name,
    params: [w1, b1, w2, b2],
    // One worker's loss on a fresh batch from its own stream (its gradient is what travels).
    loss: ({ rng }) => lossOn(rng, 32),
    // Quality at the point the runtime loaded into the variables: a fixed batch of 512.
    evaluate: () => {
      const loss = tf.tidy(() => lossOn(new Rng(12345), 512).dataSync()[0]);
      return { quality: loss, loss };
    },
    dispose: () => tf.dispose([w1, b1, w2, b2, teacher]),
  });
}
