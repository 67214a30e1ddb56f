/**
 * {@linkcode GanModel}: the variables of one generator/critic pair, loaded
 * from and read back as ONE flat `Float32Array` (generator first, then
 * critic, each tensor row-major in {@linkcode ParamSpec} order), with the
 * layer spans the layer-wise quantizer needs.
 *
 * @module
 */
import type { Variable } from "../tfjs/types.ts";
import type { LayerSpan } from "../../runtime/collective/allreduce.ts";
import { Rng } from "../../runtime/rng.ts";
import { createOps, type Ops, type Tfjs } from "./_ops.ts";
import type { GanArchitecture, ParamSpec } from "./networks.ts";

/**
 * The spans of every parameter of `arch` in the flat vector, generator
 * first: names like `"gen/dense1/kernel"`, shapes, types `dense`, `conv` or
 * `bias`, offsets and lengths.
 *
 * @param arch The pair.
 * @returns The spans, in order, covering the vector.
 *
 * @example
 * ```ts
 * import { ganArchitecture, ganLayers } from "./mod.ts";
 * const spans = ganLayers(ganArchitecture({ arch: "mlp", sampleDim: 2, latentDim: 2 }));
 * if (spans[0].name !== "gen/dense1/kernel" || spans[6].name !== "critic/dense1/kernel") {
 *   throw new Error();
 * }
 * if (spans[1].offset !== 2 * 64 || spans[1].type !== "bias") throw new Error();
 * ```
 */
export function ganLayers(arch: GanArchitecture): LayerSpan[] {
  const spans: LayerSpan[] = [];
  let offset = 0;
  for (const p of [...arch.generator, ...arch.critic]) {
    spans.push({ name: p.name, shape: p.shape.slice(), type: p.type, offset, length: p.size });
    offset += p.size;
  }
  return spans;
}

/**
 * The initial flat vector of `arch` for `seed`, each tensor drawn as its
 * {@linkcode ParamSpec} says: under the equalized parameterisation every
 * kernel entry N(0, 1) (the forward pass scales it by its He constant) and
 * every bias 0; under the standard one, kernels and biases uniform in
 * ±1/√fan_in. Equal seeds give equal vectors on every backend.
 *
 * @param arch The pair.
 * @param seed Seed.
 * @returns The vector.
 */
export function initialParams(arch: GanArchitecture, seed: number): Float32Array {
  const specs = [...arch.generator, ...arch.critic];
  const n = specs.reduce((s, p) => s + p.size, 0);
  const x = new Float32Array(n);
  const rng = new Rng(seed);
  let at = 0;
  for (const p of specs) {
    if (p.initStd > 0 && p.initDist === "normal") {
      for (let i = 0; i < p.size; i++) x[at + i] = p.initStd * rng.normal();
    } else if (p.initStd > 0) {
      const bound = p.initStd * Math.sqrt(3);
      for (let i = 0; i < p.size; i++) x[at + i] = bound * (2 * rng.nextFloat() - 1);
    }
    at += p.size;
  }
  return x;
}

/**
 * The variables of one generator/critic pair. Everything is synchronous
 * (`dataSync`), so several in-process workers may share one model: each
 * call loads its own point first.
 *
 * @example Load a point and generate
 * ```ts
 * import { initBackend } from "@qoda/ring/tfjs";
 * import { ganArchitecture, GanModel, initialParams } from "./mod.ts";
 * const { tf } = await initBackend("cpu");
 * const arch = ganArchitecture({ arch: "mlp", sampleDim: 2, latentDim: 2 });
 * const model = new GanModel(tf, arch);
 * model.load(initialParams(arch, 1));
 * const pts = model.generate(new Float32Array(10 * 2), 10);
 * if (pts.length !== 20) throw new Error();
 * model.dispose();
 * ```
 */
export class GanModel {
  /** The tfjs module. */
  readonly tf: Tfjs;
  /** The pair. */
  readonly arch: GanArchitecture;
  /** The differentiable ops. */
  readonly ops: Ops;
  /** The generator's variables, in {@linkcode GanArchitecture.generator} order. */
  readonly genVars: Variable[];
  /** The critic's variables, in {@linkcode GanArchitecture.critic} order. */
  readonly criticVars: Variable[];
  /** Layer spans of the flat vector. */
  readonly layers: readonly LayerSpan[];
  /** Length of the flat vector. */
  readonly dim: number;
  /** Length of the generator's part (the critic's starts here). */
  readonly genDim: number;

  /**
   * Creates the variables (zeros); {@linkcode GanModel.load} a point before use.
   *
   * @param tf The tfjs module (backend chosen).
   * @param arch The pair.
   */
  constructor(tf: Tfjs, arch: GanArchitecture) {
    this.tf = tf;
    this.arch = arch;
    this.ops = createOps(tf);
    const make = (p: ParamSpec) => tf.variable(tf.zeros(p.shape as number[]), true);
    this.genVars = arch.generator.map(make);
    this.criticVars = arch.critic.map(make);
    this.layers = ganLayers(arch);
    this.genDim = arch.generator.reduce((s, p) => s + p.size, 0);
    this.dim = this.genDim + arch.critic.reduce((s, p) => s + p.size, 0);
  }

  /** Every variable, generator first (flat-vector order). */
  get variables(): Variable[] {
    return [...this.genVars, ...this.criticVars];
  }

  /**
   * Loads the flat vector `x` into the variables.
   *
   * @param x The point, length {@linkcode GanModel.dim}.
   * @throws {RangeError} A wrong length.
   */
  load(x: Float32Array): void {
    if (x.length !== this.dim) {
      throw new RangeError(`GAN parameter vector has length ${x.length}, expected ${this.dim}`);
    }
    const tf = this.tf;
    const vars = this.variables;
    for (let i = 0; i < vars.length; i++) {
      const span = this.layers[i];
      const t = tf.tensor(x.subarray(span.offset, span.offset + span.length), vars[i].shape);
      vars[i].assign(t);
      t.dispose();
    }
  }

  /**
   * Reads the variables back as one flat vector.
   *
   * @returns A new vector of length {@linkcode GanModel.dim}.
   */
  read(): Float32Array {
    const x = new Float32Array(this.dim);
    const vars = this.variables;
    for (let i = 0; i < vars.length; i++) {
      x.set(vars[i].dataSync() as Float32Array, this.layers[i].offset);
    }
    return x;
  }

  /**
   * G(z) for `n` latent vectors with the loaded generator, in chunks.
   *
   * @param z `n × latentDim` latent vectors.
   * @param n Number of samples.
   * @param chunk Samples per forward pass. @default {500}
   * @returns `n × sampleDim` samples.
   */
  generate(z: Float32Array, n: number, chunk = 500): Float32Array {
    const { latentDim, sampleDim } = this.arch;
    if (z.length !== n * latentDim) {
      throw new RangeError(
        `z has ${z.length} values, expected ${n} × latentDim ${latentDim} = ${n * latentDim}`,
      );
    }
    const tf = this.tf;
    const out = new Float32Array(n * sampleDim);
    for (let at = 0; at < n; at += chunk) {
      const m = Math.min(chunk, n - at);
      const y = tf.tidy(() =>
        this.arch.generate(
          tf,
          this.ops,
          this.genVars,
          tf.tensor2d(z.subarray(at * latentDim, (at + m) * latentDim), [m, latentDim]),
        )
      );
      out.set(y.dataSync() as Float32Array, at * sampleDim);
      y.dispose();
    }
    return out;
  }

  /** Frees the variables. */
  dispose(): void {
    for (const v of this.variables) v.dispose();
  }
}
