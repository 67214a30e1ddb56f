/**
 * The WGAN operator: both players' gradients at the same point, from one
 * batch, in one backward pass.
 *
 *     loss_D = mean D(G(z)) − mean D(x) + λ·mean (‖∇D(x̂)‖₂ − 1)²,  x̂ = x + ε(G(z) − x), ε ~ U[0, 1)
 *     loss_G = −mean D(G(z))
 *     V(θ_G, θ_D) = (∇_{θ_G} loss_G, ∇_{θ_D} loss_D)
 *
 * (WGAN-GP, Gulrajani et al. 2017). With weight clipping instead (`gp: 0`,
 * the clipping itself is a projection applied by the optimiser's owner), the
 * penalty is dropped.
 *
 * One backward pass gives both parts: D(G(z)) is computed once, through an
 * identity whose gradient is negated on its way to the generator, and the
 * penalty sees G(z) through an identity with zero gradient, so
 * ∇ of loss_D + (the reversed term) is exactly V.
 *
 * @module
 */
import type { Scalar, Tensor, Tfjs } from "../tfjs/types.ts";
import { customGradient } from "./_ops.ts";
import type { GanModel } from "./model.ts";

/** One batch of the operator's randomness and data. */
export interface WganBatch {
  /** Real samples, `B × sampleDim`. */
  real: Float32Array;
  /** Latent vectors, `B × latentDim`. */
  z: Float32Array;
  /** Interpolation weights ε of the gradient penalty, `B` values in [0, 1). */
  eps: Float32Array;
}

/** Scalars of one operator evaluation. */
export interface WganScalars {
  /** −mean D(G(z)). */
  loss_g: number;
  /** mean D(G(z)) − mean D(x) + λ·gp. */
  loss_d: number;
  /** The (unweighted) gradient penalty mean (‖∇D(x̂)‖ − 1)²; 0 without penalty. */
  gp: number;
  /** mean D(x) − mean D(G(z)), the critic's Wasserstein estimate. */
  wdist: number;
}

/** An identity whose gradient is `grad(dy)`. */
function gradIdentity(
  tf: Tfjs,
  grad: (dy: Tensor) => Tensor,
): (x: Tensor) => Tensor {
  return customGradient(tf, ([x]) => ({ value: tf.clone(x), gradFunc: (dy) => grad(dy) }));
}

const cache = new WeakMap<GanModel, {
  reverse: (x: Tensor) => Tensor;
  stop: (x: Tensor) => Tensor;
}>();

/**
 * Evaluates the WGAN operator at the point loaded in `model` on one batch
 * and writes it into `out` (generator part first). Synchronous; frees every
 * tensor it makes.
 *
 * @param model The pair, with the point loaded.
 * @param batch Real samples, latent vectors and penalty weights.
 * @param lambda Gradient-penalty weight λ (0: no penalty).
 * @param out Destination, length `model.dim`.
 * @returns The losses of this batch.
 * @throws {RangeError} Wrong batch or output sizes.
 */
export function wganOperator(
  model: GanModel,
  batch: WganBatch,
  lambda: number,
  out: Float32Array,
): WganScalars {
  const tf = model.tf;
  const { latentDim, sampleDim } = model.arch;
  const b = batch.eps.length;
  if (batch.z.length !== b * latentDim || batch.real.length !== b * sampleDim) {
    throw new RangeError(
      `batch of ${b}: z has ${batch.z.length} values (expected ${b * latentDim}), ` +
        `real has ${batch.real.length} (expected ${b * sampleDim})`,
    );
  }
  if (out.length !== model.dim) {
    throw new RangeError(`operator output has length ${out.length}, expected ${model.dim}`);
  }
  let ids = cache.get(model);
  if (!ids) {
    ids = {
      reverse: gradIdentity(tf, (dy) => tf.neg(dy)),
      stop: gradIdentity(tf, (dy) => tf.zerosLike(dy)),
    };
    cache.set(model, ids);
  }
  const { reverse, stop } = ids;
  const { arch, ops, genVars, criticVars } = model;
  const kept: Tensor[] = [];
  const keep = <T extends Tensor>(t: T): T => {
    kept.push(tf.keep(t));
    return t;
  };
  const vars = model.variables;
  const { value, grads } = tf.tidy(() => {
    const z = tf.tensor2d(batch.z, [b, latentDim]);
    const real = tf.tensor2d(batch.real, [b, sampleDim]);
    const eps = tf.tensor2d(batch.eps, [b, 1]);
    return tf.variableGrads(() => {
      const fake = arch.generate(tf, ops, genVars, z);
      const meanFake = keep(tf.mean(arch.criticize(tf, ops, criticVars, reverse(fake))));
      const meanReal = keep(tf.mean(arch.criticize(tf, ops, criticVars, real)));
      let loss = tf.sub(meanFake, meanReal);
      if (lambda > 0) {
        const xh = tf.add(real, tf.mul(eps, tf.sub(stop(fake), real)));
        const gx = tf.grad((v: Tensor) => tf.sum(arch.criticize(tf, ops, criticVars, v)))(xh);
        const norm = tf.sqrt(tf.add(tf.sum(tf.square(gx), 1), 1e-12));
        const penalty = keep(tf.mean(tf.square(tf.sub(norm, 1))));
        loss = tf.add(loss, tf.mul(lambda, penalty));
      }
      return loss as Scalar;
    }, vars);
  });
  const lossD = value.dataSync()[0];
  const [meanFake, meanReal, penalty] = kept.map((t) => t.dataSync()[0]);
  tf.dispose([value, ...kept]);
  for (let i = 0; i < vars.length; i++) {
    const g = grads[vars[i].name];
    out.set(g.dataSync() as Float32Array, model.layers[i].offset);
  }
  tf.dispose(Object.values(grads));
  return {
    loss_g: -meanFake,
    loss_d: lossD,
    gp: penalty ?? 0,
    wdist: meanReal - meanFake,
  };
}
