/**
 * Saving and loading TF.js layers models as files (`model.json` + `weights.bin`) under Deno,
 * where tfjs has no `file://` handler, and the uint8/uint16 affine weight quantization of the
 * TF.js weights manifest (`quantization: {dtype, min, scale}`, decoded by TF.js itself as
 * `q · scale + min`).
 *
 * The files are the standard TF.js layers format: `model.json` holds `modelTopology`,
 * `format: "layers-model"` and one `weightsManifest` group whose only path is `weights.bin`, so
 * plain TF.js loads them with `tf.loadLayersModel("http://…/model.json")` (or from memory).
 * Files are written atomically: to a temporary name in the same folder, then renamed.
 *
 * @module
 */
import type * as tfjs from "@tensorflow/tfjs";
import type { LayersModel, ModelArtifacts, Tfjs, WeightsManifestEntry } from "./types.ts";
import { QodaError } from "../../runtime/errors.ts";

export type { Tfjs };

/** Name of the topology + manifest file in a model folder. */
export const MODEL_JSON = "model.json";
/** Name of the single weights file in a model folder. */
export const WEIGHTS_BIN = "weights.bin";

/** A model folder that cannot be read: missing file, bad JSON, sizes that do not add up. */
export class ModelFileError extends QodaError {
  /**
   * Creates the error.
   *
   * @param message What was wrong, naming the file.
   * @param options Standard `ErrorOptions` (a `cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ModelFileError";
  }
}

/** Integer codes of one weight tensor with the affine map `value = code · scale + min`. */
export interface AffineCodes {
  /** `"uint8"` (codes 0..255) or `"uint16"` (codes 0..65535). */
  readonly dtype: "uint8" | "uint16";
  /** The value of code 0. */
  readonly min: number;
  /** The step between consecutive codes (> 0). */
  readonly scale: number;
  /** One code per weight, row-major. */
  readonly codes: Uint8Array | Uint16Array;
}

/** Options of {@linkcode saveLayersModel}. */
export interface SaveLayersModelOptions {
  /**
   * Weights to store as integer codes, by manifest name (`model.weights[i].originalName`, e.g.
   * `"dense_1/kernel"`). Every other weight is stored as float32. The codes must have exactly
   * as many entries as the weight.
   * @default none (every weight float32)
   */
  quantized?: ReadonlyMap<string, AffineCodes>;
}

/** The bytes and manifest entries of a model folder, as {@linkcode readModelArtifacts} reads it. */
export interface ModelFiles {
  /** The parsed `model.json`. */
  readonly json: ModelJson;
  /** Manifest entries of every weight, in file order. */
  readonly weightSpecs: WeightsManifestEntry[];
  /** The concatenated weight bytes of every manifest path. */
  readonly weightData: ArrayBuffer;
}

/** The fields of a TF.js layers `model.json` other than its weights manifest. */
export interface ModelJsonHead {
  /** Keras-style topology (`class_name`, `config`, …). */
  modelTopology: unknown;
  /** `"layers-model"`. */
  format?: string;
  /** Free text naming the writer. */
  generatedBy?: string;
  /** Free text naming the converter. */
  convertedBy?: string | null;
  /** Loss/optimizer config, when the model was compiled. */
  trainingConfig?: unknown;
}

/** A TF.js layers `model.json`. */
export interface ModelJson extends ModelJsonHead {
  /** Groups of weight files and their entries. */
  weightsManifest: { paths: string[]; weights: WeightsManifestEntry[] }[];
}

/**
 * Dequantizes one affine code exactly as TF.js's `decodeWeights` does (`q · scale + min`,
 * computed in float64, stored as float32), so values set from it match a loaded model bit for bit.
 *
 * @param code The integer code.
 * @param min The value of code 0.
 * @param scale The step.
 * @returns The float32 value.
 *
 * @example
 * ```ts
 * import { dequantizeCode } from "@qoda/ring/tfjs";
 * if (dequantizeCode(3, -1, 0.5) !== 0.5) throw new Error();
 * ```
 */
export function dequantizeCode(code: number, min: number, scale: number): number {
  return Math.fround(code * scale + min);
}

/**
 * Dequantizes every code of `q` (see {@linkcode dequantizeCode}) into `out`.
 *
 * @param q The codes with their affine map.
 * @param out Where to write (length ≥ codes); a new array when omitted.
 * @returns `out`.
 */
export function dequantizeCodes(q: AffineCodes, out?: Float32Array): Float32Array {
  const n = q.codes.length;
  const res = out ?? new Float32Array(n);
  if (res.length < n) throw new RangeError(`out has length ${res.length}, need ${n}`);
  const { min, scale, codes } = q;
  for (let i = 0; i < n; i++) res[i] = codes[i] * scale + min;
  return res;
}

/**
 * Round-to-nearest affine quantization of float weights the way the TF.js converter does it
 * (`--quantize_uint8` / `--quantize_uint16`): `scale = (max − min)/(2^bits − 1)`, the minimum
 * nudged so that 0 is exactly representable when the range holds it, `q = round((x − min)/scale)`.
 *
 * @param values The weights.
 * @param dtype `"uint8"` or `"uint16"`.
 * @returns The codes and their affine map (a constant tensor gets scale 1 and codes 0).
 *
 * @example
 * ```ts
 * import { affineQuantize, dequantizeCodes } from "@qoda/ring/tfjs";
 * const q = affineQuantize(new Float32Array([-1, 0, 0.5, 1]), "uint8");
 * const back = dequantizeCodes(q);
 * if (back[1] !== 0 || Math.abs(back[3] - 1) > 1 / 255) throw new Error();
 * ```
 */
export function affineQuantize(values: Float32Array, dtype: "uint8" | "uint16"): AffineCodes {
  const levels = dtype === "uint8" ? 255 : 65535;
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw new RangeError(`weight ${i} is not finite (${v})`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const codes = dtype === "uint8" ? new Uint8Array(values.length) : new Uint16Array(values.length);
  if (!(hi > lo)) return { dtype, min: values.length ? lo : 0, scale: 1, codes };
  const scale = (hi - lo) / levels;
  let min = lo;
  if (lo <= 0 && hi >= 0) min = -Math.round(-lo / scale) * scale;
  for (let i = 0; i < values.length; i++) {
    const q = Math.round((values[i] - min) / scale);
    codes[i] = q < 0 ? 0 : q > levels ? levels : q;
  }
  return { dtype, min, scale, codes };
}

/** Joins the `weightData` of model artifacts (one buffer or a list) into one ArrayBuffer. */
function joinWeightData(data: tfjs.io.WeightData | undefined): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  if (data instanceof ArrayBuffer) return data;
  const total = data.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const b of data) {
    out.set(new Uint8Array(b), at);
    at += b.byteLength;
  }
  return out.buffer;
}

/** Bytes per value of a manifest entry (its quantized dtype when quantized). */
function bytesPerValue(spec: WeightsManifestEntry): number {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  switch (dtype) {
    case "float32":
    case "int32":
      return 4;
    case "uint16":
    case "float16":
      return 2;
    case "uint8":
    case "bool":
      return 1;
    default:
      throw new ModelFileError(
        `weight '${spec.name}' has dtype '${dtype}'; supported: float32, int32, bool, ` +
          `and quantized uint8, uint16, float16`,
      );
  }
}

/** Byte length of a weight in the file. */
function byteLengthOf(spec: WeightsManifestEntry): number {
  return spec.shape.reduce((a, b) => a * b, 1) * bytesPerValue(spec);
}

/** Writes `data` to `path` atomically: a temporary file beside it, then a rename. */
async function writeAtomic(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/**
 * Writes a model folder from its parts: `weights.bin` (the given bytes), then `model.json`,
 * each atomically. The folder is created when missing.
 *
 * @param dir The folder.
 * @param json `model.json` without its `weightsManifest` (written here with the one path).
 * @param weightSpecs Manifest entries, in the order of `weightData`.
 * @param weightData The bytes of every weight, concatenated.
 */
export async function writeModelFiles(
  dir: string,
  json: ModelJsonHead,
  weightSpecs: readonly WeightsManifestEntry[],
  weightData: ArrayBuffer | Uint8Array,
): Promise<void> {
  const bytes = weightData instanceof Uint8Array ? weightData : new Uint8Array(weightData);
  const expected = weightSpecs.reduce((n, s) => n + byteLengthOf(s), 0);
  if (expected !== bytes.byteLength) {
    throw new RangeError(
      `weight specs describe ${expected} bytes but ${bytes.byteLength} bytes were given`,
    );
  }
  await Deno.mkdir(dir, { recursive: true });
  const full: ModelJson = {
    ...json,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: [...weightSpecs] }],
  };
  await writeAtomic(`${dir}/${WEIGHTS_BIN}`, bytes);
  await writeAtomic(`${dir}/${MODEL_JSON}`, new TextEncoder().encode(JSON.stringify(full)));
}

/**
 * Saves a layers model to `dir/model.json` + `dir/weights.bin` (standard TF.js layers format,
 * optimizer state not included), atomically. Weights named in `options.quantized` are stored
 * as their uint8/uint16 codes with `quantization: {dtype, min, scale}` in the manifest.
 *
 * @param model The model.
 * @param dir The folder (created when missing; existing files are replaced).
 * @param options Weights to store quantized.
 * @throws {RangeError} A quantized entry names no weight of the model or has the wrong length.
 *
 * @example Save with one weight stored as uint8 codes
 * ```ts
 * import { affineQuantize, initBackend, saveLayersModel } from "@qoda/ring/tfjs";
 *
 * const { tf } = await initBackend("cpu");
 * const model = tf.sequential({
 *   layers: [tf.layers.dense({ units: 2, inputShape: [2], name: "d" })],
 * });
 * const kernel = model.getLayer("d").getWeights()[0];
 * const codes = affineQuantize(kernel.dataSync() as Float32Array, "uint8");
 * const dir = await Deno.makeTempDir();
 * await saveLayersModel(model, dir, { quantized: new Map([[model.weights[0].originalName, codes]]) });
 * const json = JSON.parse(await Deno.readTextFile(`${dir}/model.json`));
 * if (json.weightsManifest[0].weights[0].quantization.dtype !== "uint8") throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveLayersModel(
  model: LayersModel,
  dir: string,
  options?: SaveLayersModelOptions,
): Promise<void> {
  const { quantized } = options ?? {};
  const artifacts = await captureArtifacts(model);
  const data = new Uint8Array(joinWeightData(artifacts.weightData));
  const specs = artifacts.weightSpecs ?? [];
  const unused = new Set(quantized?.keys() ?? []);
  const parts: Uint8Array[] = [];
  const outSpecs: WeightsManifestEntry[] = [];
  let at = 0;
  for (const spec of specs) {
    const len = byteLengthOf(spec);
    const raw = data.subarray(at, at + len);
    at += len;
    const q = quantized?.get(spec.name);
    if (q === undefined) {
      parts.push(raw);
      outSpecs.push(spec);
      continue;
    }
    unused.delete(spec.name);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.dtype !== "float32") {
      throw new RangeError(`weight '${spec.name}' is ${spec.dtype}; only float32 is quantized`);
    }
    if (q.codes.length !== size) {
      throw new RangeError(
        `quantized codes for '${spec.name}' have ${q.codes.length} entries, the weight has ` +
          `${size} (shape [${spec.shape}])`,
      );
    }
    if (!(q.scale > 0) || !Number.isFinite(q.min)) {
      throw new RangeError(`quantized '${spec.name}': scale must be > 0, min finite`);
    }
    parts.push(new Uint8Array(q.codes.buffer, q.codes.byteOffset, q.codes.byteLength));
    outSpecs.push({ ...spec, quantization: { dtype: q.dtype, min: q.min, scale: q.scale } });
  }
  if (unused.size > 0) {
    throw new RangeError(
      `quantized weights [${[...unused].join(", ")}] are not weights of the model; its weights: ` +
        specs.map((s) => s.name).join(", "),
    );
  }
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const bytes = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.byteLength;
  }
  const json: ModelJsonHead = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format ?? "layers-model",
    generatedBy: artifacts.generatedBy ?? "TensorFlow.js",
    convertedBy: quantized && quantized.size > 0 ? "qoda-ring (affine-quantized weights)" : null,
  };
  if (artifacts.trainingConfig !== undefined) json.trainingConfig = artifacts.trainingConfig;
  await writeModelFiles(dir, json, outSpecs, bytes);
}

/**
 * Reads a model folder written by {@linkcode saveLayersModel} (or by the TF.js converter / any
 * TF.js layers writer): `model.json`, then every manifest path, concatenated.
 *
 * @param dir The folder.
 * @returns The parsed JSON, the weight entries and the bytes.
 * @throws {ModelFileError} A file is missing or unreadable, or the bytes do not match the specs.
 */
export async function readModelArtifacts(dir: string): Promise<ModelFiles> {
  const jsonPath = `${dir}/${MODEL_JSON}`;
  let json: ModelJson;
  try {
    json = JSON.parse(await Deno.readTextFile(jsonPath)) as ModelJson;
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "not found"
      : err instanceof Error
      ? err.message
      : String(err);
    throw new ModelFileError(`cannot read ${jsonPath}: ${why}`, { cause: err });
  }
  if (json === null || typeof json !== "object" || json.modelTopology === undefined) {
    throw new ModelFileError(`${jsonPath} has no modelTopology: not a TF.js layers model`);
  }
  const groups = Array.isArray(json.weightsManifest) ? json.weightsManifest : [];
  const weightSpecs: WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  for (const group of groups) {
    weightSpecs.push(...group.weights);
    for (const path of group.paths) {
      const file = `${dir}/${path}`;
      try {
        chunks.push(await Deno.readFile(file));
      } catch (err) {
        const why = err instanceof Deno.errors.NotFound ? "not found" : String(err);
        throw new ModelFileError(`cannot read weights file ${file}: ${why}`, { cause: err });
      }
    }
  }
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  const expected = weightSpecs.reduce((n, s) => n + byteLengthOf(s), 0);
  if (expected !== total) {
    throw new ModelFileError(
      `${dir}: the manifest describes ${expected} bytes of weights but the files hold ${total}`,
    );
  }
  return { json, weightSpecs, weightData: bytes.buffer };
}

/**
 * Loads a TF.js layers model from `dir/model.json` and its weight files (quantized manifest
 * entries are decoded by TF.js itself).
 *
 * @param tf The tfjs module.
 * @param dir The folder.
 * @returns The model; the caller disposes it.
 * @throws {ModelFileError} A file is missing or inconsistent.
 *
 * @example Save a model and load it back
 * ```ts
 * import { initBackend, loadLayersModel, saveLayersModel } from "@qoda/ring/tfjs";
 *
 * const { tf } = await initBackend("cpu");
 * const model = tf.sequential({
 *   layers: [tf.layers.dense({ units: 2, inputShape: [3], name: "d" })],
 * });
 * const dir = await Deno.makeTempDir();
 * await saveLayersModel(model, dir);
 * const back = await loadLayersModel(tf, dir);
 * const x = tf.ones([1, 3]);
 * const a = (model.predict(x) as typeof x).dataSync();
 * const b = (back.predict(x) as typeof x).dataSync();
 * if (a[0] !== b[0] || a[1] !== b[1]) throw new Error("round trip changed the outputs");
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @example A missing folder is a ModelFileError
 * ```ts
 * import { initBackend, loadLayersModel, ModelFileError } from "@qoda/ring/tfjs";
 * const { tf } = await initBackend("cpu");
 * const missing = await loadLayersModel(tf, "/nonexistent").catch((e) => e);
 * if (!(missing instanceof ModelFileError) || !missing.message.includes("not found")) {
 *   throw missing;
 * }
 * ```
 */
export async function loadLayersModel(tf: Tfjs, dir: string): Promise<LayersModel> {
  const { json, weightSpecs, weightData } = await readModelArtifacts(dir);
  const artifacts: ModelArtifacts = {
    modelTopology: json.modelTopology as ModelArtifacts["modelTopology"],
    weightSpecs,
    weightData,
    format: json.format,
  };
  if (json.trainingConfig !== undefined && json.trainingConfig !== null) {
    artifacts.trainingConfig = json.trainingConfig as tfjs.io.TrainingConfig;
  }
  return await tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

/**
 * The artifacts `model.save()` hands to an IO handler (topology, weight specs, float32 bytes),
 * captured in memory.
 *
 * @param model The model.
 * @returns Its artifacts.
 */
export async function captureArtifacts(model: LayersModel): Promise<ModelArtifacts> {
  let artifacts: ModelArtifacts | undefined;
  await model.save({
    save: (a: ModelArtifacts) => {
      artifacts = a;
      return Promise.resolve({
        modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" },
      });
    },
  });
  if (artifacts === undefined) throw new QodaError("model.save() produced no artifacts");
  return artifacts;
}

/**
 * An independent copy of a layers model (same topology, layer names and weight values; its
 * own variables), made through the model's own serialization.
 *
 * @param tf The tfjs module.
 * @param model The model.
 * @returns The copy; the caller disposes it.
 *
 * @example
 * ```ts
 * import { cloneLayersModel, initBackend } from "@qoda/ring/tfjs";
 * const { tf } = await initBackend("cpu");
 * const m = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [1], name: "d" })] });
 * m.getLayer("d").setWeights([tf.zeros([1, 1]), tf.zeros([1])]);
 * const c = await cloneLayersModel(tf, m);
 * c.getLayer("d").setWeights([tf.ones([1, 1]), tf.zeros([1])]);
 * if (m.getLayer("d").getWeights()[0].dataSync()[0] !== 0) throw new Error("original changed");
 * ```
 */
export async function cloneLayersModel(
  tf: Tfjs,
  model: LayersModel,
): Promise<LayersModel> {
  const artifacts = await captureArtifacts(model);
  return await tf.loadLayersModel(tf.io.fromMemory(artifacts));
}
