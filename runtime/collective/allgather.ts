/**
 * Compressed gradient averaging as QODA's analysis assumes it: every worker quantizes each
 * layer's gradient, encodes it to bytes, and every worker decodes every other worker's bytes
 * and averages the K decoded messages (an all-gather of compressed messages, no
 * re-quantization of partial sums). Pure typed-array code: no tfjs, no I/O.
 *
 * Here all K workers live in one process; the bytes never leave it. A worker averages its own
 * *quantized* gradient (not its exact one) with the others', so every replica computes the
 * same average to the last bit, which {@linkcode compressedAllGatherMean} checks.
 *
 * @module
 */
import { type CoderName, decodeInto, encode } from "../coding/codec.ts";
import { ReplicaDivergenceError } from "../errors.ts";
import type { EpsTracker } from "../quant/eps.ts";
import { defaultLayerType } from "../quant/layer_types.ts";
import type { LayerInfo, Quantized, Quantizer, QuantizeStats } from "../quant/types.ts";
import type { Rng } from "../rng.ts";

/** Options of {@linkcode compressedAllGatherMean}. */
export interface AllGatherOptions {
  /** Entropy coder for the messages. @default {"fixed"} */
  coder?: CoderName;
  /**
   * `"all"`: every worker decodes the K − 1 other messages and averages (K² dequantizations),
   * and the K averages are checked to be bit-identical. `"one"`: the average is computed once
   * (what every receiver would get; K decodes). @default {"all"}
   */
  receivers?: "all" | "one";
  /**
   * Receives ‖Q(v) − v‖² and ‖v‖² of every quantized tensor, under its layer type (an
   * {@linkcode EpsTracker} or anything with its `record`).
   */
  eps?: Pick<EpsTracker, "record">;
  /** Layer type for `eps`. @default {the quantizer's `typeOf` when it has one, else defaultLayerType} */
  typeOf?: (layer: LayerInfo) => string;
}

/** What one round of compressed averaging cost and how accurate it was. */
export interface AllGatherStats {
  /** Number of workers K. */
  workers: number;
  /** Coordinates per worker (all layers). */
  coords: number;
  /** Bytes of the K messages together (each worker's encoded layers, one copy each). */
  messageBytes: number;
  /** Bytes on the wire in a direct all-gather: each message goes to K − 1 peers. */
  bytesSent: number;
  /** Encoded bits per coordinate (headers, norms and levels included): 8·messageBytes / (K·coords). */
  bitsPerCoord: number;
  /** Σ over workers and layers of ‖Q(v) − v‖². */
  sqError: number;
  /** Σ over workers and layers of ‖v‖². */
  sqNorm: number;
  /** Milliseconds spent quantizing (all workers). */
  quantizeMs: number;
  /** Milliseconds spent encoding (all workers). */
  encodeMs: number;
  /** Milliseconds spent decoding and dequantizing (all receivers). */
  decodeMs: number;
}

/** The result of {@linkcode compressedAllGatherMean}. */
export interface AllGatherResult {
  /** The averaged gradient, one array per layer (what every replica applies). */
  mean: Float32Array[];
  /** `messages[k][l]`: worker k's encoded bytes for layer l. */
  messages: Uint8Array[][];
  /** Cost and error statistics of this round. */
  stats: AllGatherStats;
}

/**
 * Averages K workers' gradients through quantize → encode → decode → dequantize.
 *
 * @param grads `grads[k][l]`: worker k's gradient of layer l (not modified).
 * @param layers Layer info (name and shape) of each layer, for per-layer levels and errors.
 * @param quantizer The scheme; shared by all workers (its levels are the same everywhere).
 * @param rngs One generator per worker (its stochastic rounding).
 * @param options Coder, receiver simulation and ε_Q tracking.
 * @returns The average, the messages and statistics.
 * @throws {RangeError} Inconsistent counts or lengths, naming the worker and layer.
 * @throws {ReplicaDivergenceError} Two receivers computed different averages.
 *
 * @example Exact average without quantization
 * ```ts
 * import { compressedAllGatherMean } from "@qoda/ring/collective";
 * import { createQuantizer, Rng } from "@qoda/ring";
 * const layers = [{ name: "w", shape: [2] }];
 * const grads = [[new Float32Array([1, 2])], [new Float32Array([3, 4])]];
 * const { mean, stats } = compressedAllGatherMean(
 *   grads, layers, createQuantizer({ scheme: "none" }), [new Rng(1), new Rng(2)],
 * );
 * if (mean[0].join() !== "2,3" || stats.bitsPerCoord <= 32) throw new Error();
 * ```
 */
export function compressedAllGatherMean(
  grads: readonly (readonly Float32Array[])[],
  layers: readonly LayerInfo[],
  quantizer: Quantizer,
  rngs: readonly Rng[],
  options?: AllGatherOptions,
): AllGatherResult {
  const withTypeOf = quantizer as Partial<{ typeOf(layer: LayerInfo): string }>;
  const {
    coder = "fixed",
    receivers = "all",
    eps,
    typeOf = withTypeOf.typeOf ? (l: LayerInfo) => withTypeOf.typeOf!(l) : defaultLayerType,
  } = options ?? {};
  const k = grads.length;
  if (k < 1) throw new RangeError("need at least one worker, got 0");
  if (rngs.length !== k) {
    throw new RangeError(`got ${k} workers' gradients but ${rngs.length} rngs`);
  }
  const numLayers = layers.length;
  const sizes = layers.map((l, i) => {
    const n = grads[0][i]?.length;
    if (n === undefined) throw new RangeError(`worker 0 has no gradient for layer '${l.name}'`);
    return n;
  });
  for (let w = 0; w < k; w++) {
    if (grads[w].length !== numLayers) {
      throw new RangeError(
        `worker ${w} sent ${grads[w].length} gradients, expected ${numLayers} (one per layer)`,
      );
    }
    for (let l = 0; l < numLayers; l++) {
      if (grads[w][l].length !== sizes[l]) {
        throw new RangeError(
          `layer '${layers[l].name}': worker ${w} has ${grads[w][l].length} coordinates, ` +
            `worker 0 has ${sizes[l]}`,
        );
      }
    }
  }

  // Every worker: quantize and encode each layer (its outbox).
  let quantizeMs = 0, encodeMs = 0, decodeMs = 0, messageBytes = 0, sqError = 0, sqNorm = 0;
  const own: Quantized[][] = [];
  const messages: Uint8Array[][] = [];
  const stats: QuantizeStats = { sqError: 0, sqNorm: 0 };
  for (let w = 0; w < k; w++) {
    const blocks: Quantized[] = [];
    const outbox: Uint8Array[] = [];
    for (let l = 0; l < numLayers; l++) {
      stats.sqError = 0;
      stats.sqNorm = 0;
      const t0 = performance.now();
      const q = quantizer.quantize(grads[w][l], rngs[w], layers[l], stats);
      const t1 = performance.now();
      const bytes = encode(q, coder);
      encodeMs += performance.now() - t1;
      quantizeMs += t1 - t0;
      messageBytes += bytes.length;
      sqError += stats.sqError;
      sqNorm += stats.sqNorm;
      eps?.record(typeOf(layers[l]), stats);
      blocks.push(q);
      outbox.push(bytes);
    }
    own.push(blocks);
    messages.push(outbox);
  }

  // Every receiver: decode the others' bytes, dequantize its own block, average in worker order.
  const t0 = performance.now();
  const receiverCount = receivers === "all" ? k : 1;
  let mean: Float32Array[] = [];
  const scratch = sizes.map((n) => new Float32Array(n));
  for (let r = 0; r < receiverCount; r++) {
    const acc = sizes.map((n) => new Float32Array(n));
    for (let l = 0; l < numLayers; l++) {
      const sum = acc[l], tmp = scratch[l];
      for (let w = 0; w < k; w++) {
        if (receivers === "all" && w === r) quantizer.dequantize(own[w][l], tmp);
        else decodeInto(messages[w][l], quantizer, tmp);
        for (let i = 0; i < tmp.length; i++) sum[i] += tmp[i];
      }
      for (let i = 0; i < sum.length; i++) sum[i] /= k;
    }
    if (r === 0) mean = acc;
    else checkSame(mean, acc, r, layers);
  }
  decodeMs = performance.now() - t0;

  const coords = sizes.reduce((a, b) => a + b, 0);
  return {
    mean,
    messages,
    stats: {
      workers: k,
      coords,
      messageBytes,
      bytesSent: messageBytes * (k - 1),
      bitsPerCoord: coords > 0 ? (8 * messageBytes) / (k * coords) : 0,
      sqError,
      sqNorm,
      quantizeMs,
      encodeMs,
      decodeMs,
    },
  };
}

function checkSame(
  a: Float32Array[],
  b: Float32Array[],
  receiver: number,
  layers: readonly LayerInfo[],
): void {
  for (let l = 0; l < a.length; l++) {
    for (let i = 0; i < a[l].length; i++) {
      if (!Object.is(a[l][i], b[l][i])) {
        throw new ReplicaDivergenceError(
          `layer '${layers[l].name}' coordinate ${i}: receiver 0 averaged ${a[l][i]}, ` +
            `receiver ${receiver} averaged ${b[l][i]}`,
        );
      }
    }
  }
}
