/**
 * Names for the tfjs types that appear in this package's signatures.
 *
 * Each is derived from the tfjs module's own functions (`ReturnType` of the
 * factory that makes one), so it is exactly the tfjs type: `Tensor2D` here is
 * `tf.Tensor2D`, `LayersModel` is `tf.LayersModel`, and values pass freely
 * between the two.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";

/** The tfjs module (`@tensorflow/tfjs`), as `initBackend(...).tf` hands it back. */
export type Tfjs = typeof tfjs;

/** A tfjs tensor of any rank (`tf.Tensor`). */
export type Tensor = ReturnType<Tfjs["tensor"]>;
/** A rank-0 tfjs tensor (`tf.Scalar`). */
export type Scalar = ReturnType<Tfjs["scalar"]>;
/** A rank-1 tfjs tensor (`tf.Tensor1D`). */
export type Tensor1D = ReturnType<Tfjs["tensor1d"]>;
/** A rank-2 tfjs tensor (`tf.Tensor2D`). */
export type Tensor2D = ReturnType<Tfjs["tensor2d"]>;
/** A rank-4 tfjs tensor (`tf.Tensor4D`), NHWC in this package. */
export type Tensor4D = ReturnType<Tfjs["tensor4d"]>;
/** A mutable tfjs tensor of any rank (`tf.Variable`), e.g. a trainable weight. */
export type Variable = ReturnType<Tfjs["variable"]>;
/** A tfjs layers model (`tf.LayersModel`). */
export type LayersModel = Awaited<ReturnType<Tfjs["loadLayersModel"]>>;
/** A tfjs sequential layers model (`tf.Sequential`). */
export type Sequential = ReturnType<Tfjs["sequential"]>;
/** One weight's entry of a TF.js weights manifest (`tf.io.WeightsManifestEntry`). */
export type WeightsManifestEntry = Awaited<
  ReturnType<Tfjs["io"]["encodeWeights"]>
>["specs"][number];
/** A model's topology, weight specs and weight bytes (`tf.io.ModelArtifacts`). */
export type ModelArtifacts = Awaited<ReturnType<Tfjs["io"]["getModelArtifactsForJSON"]>>;
