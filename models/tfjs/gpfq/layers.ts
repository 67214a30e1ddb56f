/**
 * Post-training quantization of a TF.js layers model, layer by layer: GPFQ (greedy path
 * following, {@linkcode ./core.ts}) or round-to-nearest (RTN) onto the alphabet ±kδ
 * ({@linkcode ./alphabet.ts}).
 *
 * For GPFQ, every quantizable layer (Dense, Conv2D) in model order gets a fresh calibration
 * batch; its input is computed in the float network (X) and in the copy whose earlier layers
 * are already quantized (X̃). Dense inputs are used as they are, Conv2D inputs through im2col
 * on a random subset of output positions. The Gram matrices `X̃ᵀX̃` and `X̃ᵀX` are accumulated
 * chunk by chunk and the kernel is quantized from them (or, with `form: "residual"`, from the
 * full X and X̃). Then the bias is corrected (`b̃ = b + μ_X·W − μ_X̃·Q`) and the quantized
 * values are written into the copy. tfjs is used only to run the networks; the math is in
 * the pure modules beside this one.
 *
 * The quantized values are exactly those a TF.js loader decodes from the uint8 manifest that
 * {@linkcode exportQuantizedModel} writes, so the exported model equals the in-memory one.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { LayersModel, Tensor } from "../types.ts";
import { UnknownNameError } from "../../../runtime/errors.ts";
import { Rng } from "../../../runtime/rng.ts";
import {
  type AffineCodes,
  cloneLayersModel,
  dequantizeCodes,
  saveLayersModel,
  type Tfjs,
} from "../io.ts";
import { type Alphabet, alphabetForKernel, checkBits, roundToNearest } from "./alphabet.ts";
import { correctedBias, meansFromSums } from "./bias.ts";
import { accumulateGram, createGram, gpfqGram, gpfqResidual, type Gram } from "./core.ts";
import { levelCodes } from "./export.ts";
import { conv2dGeometry, im2col, samplePositions } from "./im2col.ts";

/** Quantization methods. */
export const METHODS = ["gpfq", "rtn"] as const;
/** One of {@linkcode METHODS}. */
export type Method = typeof METHODS[number];

/** Forms of the GPFQ computation. */
export const FORMS = ["gram", "residual"] as const;
/** One of {@linkcode FORMS}. */
export type Form = typeof FORMS[number];

/** Layer classes that are quantized. */
export const QUANTIZABLE = ["Dense", "Conv2D"] as const;

/** Per-layer precision: a bit width, or `"float"` to keep the layer unquantized. */
export type LayerPrecision = number | "float";

/**
 * Default alphabet scalar C (`δ = C·mean_i max|W_i| / 2^{b−1}`), the value of the GPFQ
 * reference runs. On the built-in MNIST models it was the best or within 0.15 point of the best
 * of C ∈ {0.5, 0.75, 1, 1.16, 1.5, 2} for GPFQ at 2–4 bits, measured on training digits (never
 * on the test set).
 */
export const DEFAULT_SCALAR = 1.16;

/** Options of {@linkcode quantizeLayersModel}. */
export interface QuantizeModelOptions {
  /** `"gpfq"` or `"rtn"`. */
  method: Method;
  /** Bits b of every quantized layer (unless `layerPrecision` says otherwise). */
  bits: number;
  /**
   * Calibration inputs of the model: `count` fresh samples (GPFQ draws a new batch per layer).
   * Not needed for RTN.
   */
  calibration?: (count: number, rng: Rng) => Tensor;
  /** Calibration samples per layer. @default {1024} */
  samples?: number;
  /** Samples per forward pass (the Gram matrices are accumulated chunk by chunk). @default {256} */
  chunk?: number;
  /**
   * Conv2D: fraction of the output positions (patches) of each calibration image that is kept.
   * @default {0.25}
   */
  patchFraction?: number;
  /** Alphabet scalar C. @default {DEFAULT_SCALAR} */
  scalar?: number;
  /** `"gram"` (fast, independent of the sample count) or `"residual"`. @default {"gram"} */
  form?: Form;
  /** Correct each GPFQ layer's bias from the calibration means. @default {true} */
  biasCorrection?: boolean;
  /** Bits (or `"float"`) for named layers, overriding `bits` (mixed precision). @default {} */
  layerPrecision?: Readonly<Record<string, LayerPrecision>>;
  /** Seed of the calibration draws and patch sampling. @default {0} */
  seed?: number;
  /** Called with one line per layer when done. @default no logging */
  log?: (line: string) => void;
}

/** What happened to one layer. */
export interface LayerReport {
  /** Layer name. */
  name: string;
  /** Layer class (`Dense`, `Conv2D`, …). */
  type: string;
  /** Bits used, or `"float"` (kept, or not a quantizable class). */
  precision: LayerPrecision;
  /** Inputs N0 of the kernel as a matrix (`kh·kw·Cin` for conv). */
  n0: number;
  /** Neurons N1. */
  n1: number;
  /** Alphabet step δ (0 for float layers). */
  delta: number;
  /** Distinct levels the quantized kernel uses. */
  levelsUsed: number;
  /** Calibration rows the layer was fitted on (patches for conv; 0 for RTN and float). */
  rows: number;
  /** Whether the bias was corrected. */
  biasCorrected: boolean;
  /** Seconds spent on the layer. */
  seconds: number;
  /** Why a layer holding a kernel was left in float, if it was. */
  note?: string;
}

/** The result of {@linkcode quantizeLayersModel}. */
export interface QuantizedModel {
  /** The quantized copy (the caller disposes it); the input model is unchanged. */
  model: LayersModel;
  /** Integer codes of every quantized kernel, by manifest name, for the uint8 export. */
  codes: Map<string, AffineCodes>;
  /** One report per layer holding weights, in model order. */
  layers: LayerReport[];
  /** Wall-clock seconds of the whole quantization. */
  seconds: number;
  /** The options used (defaults filled in). */
  options: {
    method: Method;
    bits: number;
    scalar: number;
    samples: number;
    patchFraction: number;
    form: Form;
    biasCorrection: boolean;
  };
}

interface ConvConfig {
  strides: number[] | number;
  padding: string;
  dilationRate?: number[] | number;
  dataFormat?: string;
}

const pair = (v: number[] | number | undefined, dflt: number): [number, number] =>
  v === undefined ? [dflt, dflt] : typeof v === "number" ? [v, v] : [v[0], v[1] ?? v[0]];

/** The kernel and bias weights of a layer (by manifest name suffix). */
function kernelAndBias(layer: tfjs.layers.Layer): {
  kernel?: tfjs.LayerVariable;
  bias?: tfjs.LayerVariable;
} {
  const kernel = layer.weights.find((w) => /(^|\/)kernel(_\d+)?$/.test(w.originalName));
  const bias = layer.weights.find((w) => /(^|\/)bias(_\d+)?$/.test(w.originalName));
  return { kernel, bias };
}

/**
 * Quantizes the Dense and Conv2D kernels of a layers model: GPFQ layer by
 * layer on calibration data, or round-to-nearest, onto the alphabet ±kδ.
 *
 * @example Quantize a tiny dense model to 3 bits, export it and load it back
 * ```ts
 * import {
 *   exportQuantizedModel,
 *   initBackend,
 *   loadLayersModel,
 *   quantizeLayersModel,
 *   type Tensor,
 * } from "@qoda/ring/tfjs";
 * const { tf } = await initBackend("cpu");
 * const model = tf.sequential({ layers: [
 *   tf.layers.dense({ units: 8, inputShape: [16], activation: "relu", name: "a" }),
 *   tf.layers.dense({ units: 2, name: "b" }),
 * ] });
 * const result = await quantizeLayersModel(tf, model, {
 *   method: "gpfq",
 *   bits: 3,
 *   calibration: (n) => tf.randomNormal([n, 16], 0, 1, "float32", 7),
 *   samples: 64,
 * });
 * // 3 bits: the alphabet ±kδ has at most 2·4 + 1 = 9 levels.
 * if (result.layers.length !== 2 || result.layers[0].levelsUsed > 9) throw new Error();
 * const dir = await Deno.makeTempDir();
 * await exportQuantizedModel(result, dir);
 * // The uint8 files decode to exactly the in-memory quantized model.
 * const loaded = await loadLayersModel(tf, dir);
 * const x = tf.randomNormal([4, 16], 0, 1, "float32", 8);
 * const a = (result.model.predict(x) as Tensor).dataSync();
 * const b = (loaded.predict(x) as Tensor).dataSync();
 * if (a.some((v, i) => v !== b[i])) throw new Error("the export changed the model");
 * result.model.dispose();
 * loaded.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @param tf The tfjs module.
 * @param model The float model (left unchanged).
 * @param options Method, bits, calibration data and the knobs.
 * @returns The quantized copy, its codes and per-layer reports.
 * @throws {UnknownNameError} Unknown method, form, or a `layerPrecision` name that is no layer.
 * @throws {RangeError} Bad bits, scalar, samples; GPFQ without calibration data.
 */
export async function quantizeLayersModel(
  tf: Tfjs,
  model: LayersModel,
  options: QuantizeModelOptions,
): Promise<QuantizedModel> {
  const started = performance.now();
  const {
    method,
    bits,
    calibration,
    samples = 1024,
    chunk = 256,
    patchFraction = 0.25,
    form = "gram",
    biasCorrection = true,
    layerPrecision = {},
    seed = 0,
    log,
  } = options;
  if (!(METHODS as readonly string[]).includes(method)) {
    throw new UnknownNameError("method", method, METHODS);
  }
  if (!(FORMS as readonly string[]).includes(form)) throw new UnknownNameError("form", form, FORMS);
  checkBits(bits);
  const scalar = options.scalar ?? DEFAULT_SCALAR;
  if (!(scalar > 0) || !Number.isFinite(scalar)) {
    throw new RangeError(`the alphabet scalar must be a finite number > 0, got ${scalar}`);
  }
  if (method === "gpfq") {
    if (calibration === undefined) throw new RangeError("GPFQ needs calibration data");
    if (!Number.isInteger(samples) || samples < 1) {
      throw new RangeError(`samples must be an integer ≥ 1, got ${samples}`);
    }
    if (!Number.isInteger(chunk) || chunk < 1) {
      throw new RangeError(`chunk must be an integer ≥ 1, got ${chunk}`);
    }
    if (!(patchFraction > 0 && patchFraction <= 1)) {
      throw new RangeError(`patchFraction must be in (0, 1], got ${patchFraction}`);
    }
  }
  const layerNames = model.layers.map((l) => l.name);
  for (const [name, p] of Object.entries(layerPrecision)) {
    if (!layerNames.includes(name)) throw new UnknownNameError("layer", name, layerNames);
    if (p !== "float") checkBits(p, `bits of layer '${name}'`);
  }

  const qModel = await cloneLayersModel(tf, model);
  const rng = new Rng(seed);
  const codes = new Map<string, AffineCodes>();
  const reports: LayerReport[] = [];
  try {
    for (const layer of model.layers) {
      if (layer.weights.length === 0) continue;
      const t0 = performance.now();
      const type = layer.getClassName();
      const { kernel, bias } = kernelAndBias(layer);
      const precision = layerPrecision[layer.name] ?? bits;
      const base: LayerReport = {
        name: layer.name,
        type,
        precision: "float",
        n0: 0,
        n1: 0,
        delta: 0,
        levelsUsed: 0,
        rows: 0,
        biasCorrected: false,
        seconds: 0,
      };
      if (!(QUANTIZABLE as readonly string[]).includes(type) || kernel === undefined) {
        if (kernel !== undefined) base.note = `${type} is not quantized (supported: Dense, Conv2D)`;
        reports.push(base);
        continue;
      }
      const kShape = kernel.shape as number[];
      const n1 = kShape[kShape.length - 1];
      const n0 = kShape.reduce((a, b) => a * b, 1) / n1;
      base.n0 = n0;
      base.n1 = n1;
      if (precision === "float") {
        reports.push(base);
        continue;
      }
      if (type === "Conv2D") {
        const cfg = layer.getConfig() as unknown as ConvConfig;
        if ((cfg.dataFormat ?? "channelsLast") !== "channelsLast") {
          base.note = `Conv2D with dataFormat '${cfg.dataFormat}' is kept in float`;
          reports.push(base);
          continue;
        }
      }
      const W = Float32Array.from(kernel.read().dataSync() as Float32Array);
      const alphabet = alphabetForKernel(W, n0, n1, precision, scalar);
      let Q: Int32Array;
      let newBias: Float32Array | undefined;
      let rows = 0;
      if (method === "rtn") {
        Q = roundToNearest(W, alphabet);
      } else {
        const fit = await fitLayer(tf, model, qModel, layer, W, n0, n1, alphabet, {
          calibration: calibration!,
          samples,
          chunk,
          patchFraction,
          form,
          rng: rng.fork(),
        });
        Q = fit.Q;
        rows = fit.rows;
        if (biasCorrection && bias !== undefined) {
          const b = Float32Array.from(bias.read().dataSync() as Float32Array);
          newBias = correctedBias(
            b,
            meansFromSums(fit.gram.sumX, fit.gram.count),
            meansFromSums(fit.gram.sumXt, fit.gram.count),
            W,
            Q,
            alphabet.delta,
            n0,
            n1,
          );
        }
      }
      const c = levelCodes(Q, alphabet.delta);
      codes.set(kernel.originalName, c);
      const values = dequantizeCodes(c);
      const qLayer = qModel.getLayer(layer.name);
      const qw = qLayer.getWeights();
      const { kernel: qKernel } = kernelAndBias(qLayer);
      const next = qLayer.weights.map((w, i) => {
        if (w === qKernel) return tf.tensor(values, kShape, "float32");
        if (newBias !== undefined && /(^|\/)bias(_\d+)?$/.test(w.originalName)) {
          return tf.tensor(newBias, w.shape as number[], "float32");
        }
        return qw[i];
      });
      qLayer.setWeights(next);
      // getWeights() hands back the variables' own tensors: free only the new ones.
      for (const t of next) if (!qw.includes(t)) t.dispose();
      const used = new Set(Q).size;
      const report: LayerReport = {
        ...base,
        precision,
        delta: alphabet.delta,
        levelsUsed: used,
        rows,
        biasCorrected: newBias !== undefined,
        seconds: (performance.now() - t0) / 1000,
      };
      reports.push(report);
      log?.(
        `${layer.name} (${type} ${n0}×${n1}): ${method} ${precision}-bit, δ=${
          alphabet.delta.toPrecision(4)
        }, ${used} levels used${rows ? `, ${rows} rows` : ""}, ${report.seconds.toFixed(2)} s`,
      );
    }
  } catch (err) {
    qModel.dispose();
    throw err;
  }
  return {
    model: qModel,
    codes,
    layers: reports,
    seconds: (performance.now() - started) / 1000,
    options: {
      method,
      bits,
      scalar,
      samples: method === "gpfq" ? samples : 0,
      patchFraction,
      form,
      biasCorrection: method === "gpfq" && biasCorrection,
    },
  };
}

interface FitOptions {
  calibration: (count: number, rng: Rng) => Tensor;
  samples: number;
  chunk: number;
  patchFraction: number;
  form: Form;
  rng: Rng;
}

/** A function computing a layer's input from the model input (identity for the first layer). */
function inputFunction(
  tf: Tfjs,
  model: LayersModel,
  layerName: string,
): (x: Tensor) => Tensor {
  const layer = model.getLayer(layerName);
  const input = layer.input;
  if (Array.isArray(input)) {
    throw new RangeError(`layer '${layerName}' has ${input.length} inputs; GPFQ needs one`);
  }
  if (model.inputs.includes(input)) {
    const at = model.inputs.indexOf(input);
    if (model.inputs.length !== 1 || at !== 0) {
      throw new RangeError(
        `model '${model.name}' has ${model.inputs.length} inputs; GPFQ needs one`,
      );
    }
    return (x) => x.clone();
  }
  const sub = tf.model({ inputs: model.inputs, outputs: input });
  return (x) => sub.predict(x) as Tensor;
}

/** Calibrates and runs GPFQ for one layer. */
async function fitLayer(
  tf: Tfjs,
  model: LayersModel,
  qModel: LayersModel,
  layer: tfjs.layers.Layer,
  W: Float32Array,
  n0: number,
  n1: number,
  alphabet: Alphabet,
  opts: FitOptions,
): Promise<{ Q: Int32Array; gram: Gram; rows: number }> {
  const floatInput = inputFunction(tf, model, layer.name);
  const quantInput = inputFunction(tf, qModel, layer.name);
  const isConv = layer.getClassName() === "Conv2D";
  const cfg = isConv ? layer.getConfig() as unknown as ConvConfig : undefined;
  const gram = createGram(n0);
  const keepX: Float32Array[] = [];
  const keepXt: Float32Array[] = [];
  let rows = 0;
  for (let done = 0; done < opts.samples; done += opts.chunk) {
    const n = Math.min(opts.chunk, opts.samples - done);
    const batch = opts.calibration(n, opts.rng);
    const xT = floatInput(batch);
    const xtT = quantInput(batch);
    batch.dispose();
    const shape = xT.shape;
    const xData = await xT.data() as Float32Array;
    const xtData = await xtT.data() as Float32Array;
    xT.dispose();
    xtT.dispose();
    let X: Float32Array, Xt: Float32Array, m: number;
    if (isConv) {
      const geo = conv2dGeometry(
        shape,
        layer.weights[0].shape as number[],
        pair(cfg!.strides, 1),
        cfg!.padding,
        pair(cfg!.dilationRate, 1),
      );
      const perImage = geo.outH * geo.outW;
      const take = Math.max(1, Math.round(opts.patchFraction * perImage)) * geo.batch;
      const positions = samplePositions(geo.positions, take, opts.rng);
      X = im2col(xData, geo, positions);
      Xt = im2col(xtData, geo, positions);
      m = positions.length;
    } else {
      m = xData.length / n0;
      if (!Number.isInteger(m)) {
        throw new RangeError(
          `layer '${layer.name}': input of shape [${shape}] is not a multiple of ${n0} inputs`,
        );
      }
      X = xData;
      Xt = xtData;
    }
    accumulateGram(gram, X, Xt, m);
    if (opts.form === "residual") {
      keepX.push(X);
      keepXt.push(Xt);
    }
    rows += m;
  }
  let Q: Int32Array;
  if (opts.form === "gram") {
    Q = gpfqGram(gram, W, n1, alphabet);
  } else {
    const X = concat(keepX), Xt = concat(keepXt);
    Q = gpfqResidual(X, Xt, rows, W, n0, n1, alphabet);
  }
  return { Q, gram, rows };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Writes a quantized model as a TF.js layers model: quantized kernels as uint8 (or uint16)
 * codes with `{dtype, min, scale}` in the manifest, every other weight (biases, float layers)
 * as float32. Plain TF.js loads it and gets exactly `result.model`'s weights.
 *
 * @param result From {@linkcode quantizeLayersModel}.
 * @param dir The folder (created; `model.json` and `weights.bin` are replaced atomically).
 */
export async function exportQuantizedModel(result: QuantizedModel, dir: string): Promise<void> {
  await saveLayersModel(result.model, dir, { quantized: result.codes });
}
