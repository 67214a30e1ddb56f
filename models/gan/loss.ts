/**
 * The GAN operator: both players' gradients at the same point, from one
 * batch, in one backward pass. Two losses (`GanLoss`):
 *
 * `"wgan"` (WGAN-GP, Gulrajani et al. 2017), the default:
 *
 *     loss_D = mean D(G(z)) − mean D(x) + λ·mean (‖∇D(x̂)‖₂ − 1)²,  x̂ = x + ε(G(z) − x), ε ~ U[0, 1)
 *     loss_G = −mean D(G(z))
 *
 * `"ns"`, the non-saturating GAN (Goodfellow et al. 2014), D a logit:
 *
 *     loss_D = mean softplus(D(G(z))) + mean softplus(−D(x)) + λ·(the same penalty)
 *     loss_G = mean softplus(−D(G(z)))
 *
 * and in both V(θ_G, θ_D) = (∇_{θ_G} loss_G, ∇_{θ_D} loss_D). With weight
 * clipping instead (`gp: 0`, the clipping itself is a projection applied by
 * the optimiser's owner), the penalty is dropped. With a packed critic
 * (`GanArchitecture.pack`), D scores runs of samples, and the means are over
 * its `B / pack` scores.
 *
 * One backward pass gives both parts: D(G(z)) is computed once, through an
 * identity whose gradient is changed on its way to the generator, and the
 * penalty sees G(z) through an identity with zero gradient. For `"wgan"` the
 * change is a negation, so ∇ of loss_D + (the reversed term) is exactly V.
 * For `"ns"` the generator's loss is not minus the critic's: per score f,
 * ∂softplus(−f)/∂f ÷ ∂softplus(f)/∂f = −e^{−f}, so the identity multiplies
 * each sample's gradient by −e^{−f} of its score (f clamped at −60, below
 * which the critic's own factor e^f/(1 + e^f) is already under 1e-26).
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

/** The losses {@linkcode wganOperator} computes (see the module doc). */
export const GAN_LOSSES = ["wgan", "ns"] as const;
/** One of {@linkcode GAN_LOSSES}. */
export type GanLoss = typeof GAN_LOSSES[number];

/** Scalars of one operator evaluation. */
export interface WganScalars {
  /** The generator's loss: −mean D(G(z)) (`wgan`), mean softplus(−D(G(z))) (`ns`). */
  loss_g: number;
  /** The critic's loss, λ·gp included. */
  loss_d: number;
  /** The (unweighted) gradient penalty mean (‖∇D(x̂)‖ − 1)²; 0 without penalty. */
  gp: number;
  /** mean D(x) − mean D(G(z)): the critic's Wasserstein estimate (`wgan`), a logit gap (`ns`). */
  wdist: number;
}

/** An identity whose gradient is `grad(dy)`. */
function gradIdentity(
  tf: Tfjs,
  grad: (dy: Tensor) => Tensor,
): (x: Tensor) => Tensor {
  return customGradient(tf, ([x]) => ({ value: tf.clone(x), gradFunc: (dy) => grad(dy) }));
}

interface Identities {
  reverse: (x: Tensor) => Tensor;
  stop: (x: Tensor) => Tensor;
  /** The `ns` identity: its gradient is dy × `scale` (set for each call). */
  nonSaturating: (x: Tensor) => Tensor;
  scale: { value?: Tensor };
}

const cache = new WeakMap<GanModel, Identities>();

function identities(model: GanModel): Identities {
  let ids = cache.get(model);
  if (!ids) {
    const tf = model.tf;
    const scale: { value?: Tensor } = {};
    ids = {
      reverse: gradIdentity(tf, (dy) => tf.neg(dy)),
      stop: gradIdentity(tf, (dy) => tf.zerosLike(dy)),
      nonSaturating: gradIdentity(tf, (dy) => tf.mul(dy, scale.value!)),
      scale,
    };
    cache.set(model, ids);
  }
  return ids;
}

/**
 * Evaluates the WGAN operator at the point loaded in `model` on one batch
 * and writes it into `out` (generator part first). Synchronous; frees every
 * tensor it makes.
 *
 * @param model The pair, with the point loaded.
 * @param batch Real samples, latent vectors and penalty weights.
 * @param lambda Gradient-penalty weight λ (0: no penalty).
 * @param out Destination, length `model.dim`.
 * @param loss `"wgan"` or `"ns"` (see the module doc).
 * @returns The losses of this batch.
 * @throws {RangeError} Wrong batch or output sizes.
 */
export function wganOperator(
  model: GanModel,
  batch: WganBatch,
  lambda: number,
  out: Float32Array,
  loss: GanLoss = "wgan",
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
  const { reverse, stop, nonSaturating, scale } = identities(model);
  const { arch, ops, genVars, criticVars } = model;
  // The batch's scalars, kept past the tidy scope by name.
  const kept: Partial<Record<"meanFake" | "meanReal" | "lossG" | "penalty", Tensor>> = {};
  const keep = <T extends Tensor>(name: keyof typeof kept, t: T): T => {
    kept[name] = tf.keep(t);
    return t;
  };
  const vars = model.variables;
  let computed: { value: Scalar; grads: Record<string, Tensor> };
  try {
    computed = tf.tidy(() => {
      const z = tf.tensor2d(batch.z, [b, latentDim]);
      const real = tf.tensor2d(batch.real, [b, sampleDim]);
      const eps = tf.tensor2d(batch.eps, [b, 1]);
      return tf.variableGrads(() => {
        const fake = arch.generate(tf, ops, genVars, z);
        const toGenerator = loss === "ns" ? nonSaturating : reverse;
        const dFake = arch.criticize(tf, ops, criticVars, toGenerator(fake));
        const dReal = arch.criticize(tf, ops, criticVars, real);
        const meanFake = keep("meanFake", tf.mean(dFake));
        const meanReal = keep("meanReal", tf.mean(dReal));
        let total: Tensor;
        if (loss === "ns") {
          keep("lossG", tf.mean(tf.softplus(tf.neg(dFake))));
          // −e^{−f} per score, repeated over the samples of its pack; used by the backward pass.
          const perScore = tf.neg(tf.exp(tf.minimum(tf.neg(dFake), 60)));
          const rows = dFake.shape[0] as number;
          scale.value = tf.keep(
            rows === b ? perScore : tf.reshape(tf.tile(perScore, [1, b / rows]), [b, 1]),
          );
          total = tf.add(tf.mean(tf.softplus(dFake)), tf.mean(tf.softplus(tf.neg(dReal))));
        } else {
          total = tf.sub(meanFake, meanReal);
        }
        if (lambda > 0) {
          const xh = tf.add(real, tf.mul(eps, tf.sub(stop(fake), real)));
          const gx = tf.grad((v: Tensor) => tf.sum(arch.criticize(tf, ops, criticVars, v)))(xh);
          // The norm of each critic input's gradient (a pack's samples together).
          const perInput = arch.pack === 1 ? gx : tf.reshape(gx, [b / arch.pack, -1]);
          const norm = tf.sqrt(tf.add(tf.sum(tf.square(perInput), 1), 1e-12));
          const penalty = keep("penalty", tf.mean(tf.square(tf.sub(norm, 1))));
          total = tf.add(total, tf.mul(lambda, penalty));
        }
        return total as Scalar;
      }, vars);
    });
  } finally {
    // The `ns` factor lives only for the backward pass.
    scale.value?.dispose();
    scale.value = undefined;
  }
  const { value, grads } = computed;
  const lossD = value.dataSync()[0];
  const read = (t: Tensor | undefined) => t?.dataSync()[0];
  const meanFake = read(kept.meanFake)!, meanReal = read(kept.meanReal)!;
  const lossG = read(kept.lossG) ?? -meanFake;
  const penalty = read(kept.penalty);
  tf.dispose([value, ...Object.values(kept)]);
  for (let i = 0; i < vars.length; i++) {
    const g = grads[vars[i].name];
    out.set(g.dataSync() as Float32Array, model.layers[i].offset);
  }
  tf.dispose(Object.values(grads));
  return {
    loss_g: lossG,
    loss_d: lossD,
    gp: penalty ?? 0,
    wdist: meanReal - meanFake,
  };
}
