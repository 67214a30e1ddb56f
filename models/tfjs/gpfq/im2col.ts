/**
 * im2col for GPFQ on 2-D convolutions (NHWC input, `[kh, kw, Cin, Cout]` kernel): each output
 * position becomes one row of `kh·kw·Cin` input values in the kernel's flattening order
 * `(i, j, c)`, so that `conv2d(x, K)` at that position is the row times the kernel reshaped to
 * `[kh·kw·Cin, Cout]`. Only a sample of positions is gathered ({@linkcode samplePositions}),
 * which keeps the calibration matrix small. Padding follows TF ("same": `out = ceil(in/s)`, the
 * extra padding at the bottom/right).
 *
 * @example Patches times the kernel give the convolution
 * ```ts
 * import { conv2dGeometry, im2col } from "@qoda/ring/tfjs";
 * // One 2×2 image, one channel, 2×2 kernel, "valid": a single output = the whole image.
 * const geo = conv2dGeometry([1, 2, 2, 1], [2, 2, 1, 1], [1, 1], "valid");
 * const rows = im2col(new Float32Array([1, 2, 3, 4]), geo, new Uint32Array([0]));
 * if (rows.join() !== "1,2,3,4") throw new Error(`got ${rows}`);
 * ```
 *
 * @module
 */
import type { Rng } from "../../../runtime/rng.ts";

/** Padding modes of {@linkcode conv2dGeometry}. */
export const PADDINGS = ["same", "valid"] as const;

/** Where every patch of a convolution comes from. */
export interface Conv2dGeometry {
  /** Batch N. */
  readonly batch: number;
  /** Input height. */
  readonly inH: number;
  /** Input width. */
  readonly inW: number;
  /** Input channels Cin. */
  readonly inC: number;
  /** Kernel height. */
  readonly kh: number;
  /** Kernel width. */
  readonly kw: number;
  /** Vertical stride. */
  readonly strideH: number;
  /** Horizontal stride. */
  readonly strideW: number;
  /** Vertical dilation. */
  readonly dilationH: number;
  /** Horizontal dilation. */
  readonly dilationW: number;
  /** Zero rows above the input. */
  readonly padTop: number;
  /** Zero columns left of the input. */
  readonly padLeft: number;
  /** Output height. */
  readonly outH: number;
  /** Output width. */
  readonly outW: number;
  /** Values per patch, `kh·kw·Cin`. */
  readonly patchSize: number;
  /** Output positions, `N·outH·outW`. */
  readonly positions: number;
}

/**
 * The geometry of `conv2d(x, kernel, strides, padding, dilations)` in TF's conventions.
 *
 * @param inputShape `[N, H, W, Cin]`.
 * @param kernelShape `[kh, kw, Cin, Cout]`.
 * @param strides `[sh, sw]`.
 * @param padding `"same"` or `"valid"`.
 * @param dilations `[dh, dw]`.
 * @returns The geometry.
 * @throws {RangeError} Shapes that do not match, or a kernel larger than a "valid" input.
 */
export function conv2dGeometry(
  inputShape: readonly number[],
  kernelShape: readonly number[],
  strides: readonly [number, number] | readonly number[],
  padding: string,
  dilations: readonly number[] = [1, 1],
): Conv2dGeometry {
  if (inputShape.length !== 4 || kernelShape.length !== 4) {
    throw new RangeError(
      `conv2d needs a rank-4 input and kernel, got [${inputShape}] and [${kernelShape}]`,
    );
  }
  const [batch, inH, inW, inC] = inputShape as [number, number, number, number];
  const [kh, kw, kc] = kernelShape as [number, number, number, number];
  if (kc !== inC) {
    throw new RangeError(`input has ${inC} channels but the kernel expects ${kc}`);
  }
  if (!(PADDINGS as readonly string[]).includes(padding)) {
    throw new RangeError(`unknown padding '${padding}'; valid: ${PADDINGS.join(", ")}`);
  }
  const [strideH, strideW] = strides as [number, number];
  const [dilationH, dilationW] = dilations as [number, number];
  for (const v of [strideH, strideW, dilationH, dilationW]) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(
        `strides and dilations must be integers ≥ 1, got ${strides} / ${dilations}`,
      );
    }
  }
  const effH = (kh - 1) * dilationH + 1;
  const effW = (kw - 1) * dilationW + 1;
  let outH: number, outW: number, padTop = 0, padLeft = 0;
  if (padding === "same") {
    outH = Math.ceil(inH / strideH);
    outW = Math.ceil(inW / strideW);
    padTop = Math.floor(Math.max((outH - 1) * strideH + effH - inH, 0) / 2);
    padLeft = Math.floor(Math.max((outW - 1) * strideW + effW - inW, 0) / 2);
  } else {
    outH = Math.floor((inH - effH) / strideH) + 1;
    outW = Math.floor((inW - effW) / strideW) + 1;
    if (outH < 1 || outW < 1) {
      throw new RangeError(`kernel ${kh}×${kw} is larger than the ${inH}×${inW} input ("valid")`);
    }
  }
  return {
    batch,
    inH,
    inW,
    inC,
    kh,
    kw,
    strideH,
    strideW,
    dilationH,
    dilationW,
    padTop,
    padLeft,
    outH,
    outW,
    patchSize: kh * kw * inC,
    positions: batch * outH * outW,
  };
}

/**
 * `count` distinct output positions drawn uniformly from `0..total−1`, ascending (all of them
 * when `count ≥ total`).
 *
 * @param total Number of positions.
 * @param count How many to take.
 * @param rng Source of randomness.
 * @returns The positions.
 *
 * @example
 * ```ts
 * import { samplePositions } from "@qoda/ring/tfjs";
 * import { Rng } from "@qoda/ring";
 * const p = samplePositions(100, 10, new Rng(1));
 * if (p.length !== 10 || new Set(p).size !== 10 || p.some((v) => v >= 100)) throw new Error();
 * ```
 */
export function samplePositions(total: number, count: number, rng: Rng): Uint32Array {
  if (!Number.isInteger(total) || total < 0) throw new RangeError(`bad total ${total}`);
  const k = Math.max(0, Math.min(Math.floor(count), total));
  const out = new Uint32Array(k);
  if (k === total) {
    for (let i = 0; i < k; i++) out[i] = i;
    return out;
  }
  // Selection sampling (Knuth's algorithm S): one pass, already sorted.
  let chosen = 0;
  for (let i = 0; i < total && chosen < k; i++) {
    if ((total - i) * rng.nextFloat() < k - chosen) out[chosen++] = i;
  }
  return out;
}

/**
 * Gathers the patches of the given output positions (`n·outH·outW + oh·outW + ow`) into rows.
 *
 * @param input `N × H × W × Cin` values (NHWC, row-major).
 * @param geo From {@linkcode conv2dGeometry}.
 * @param positions Output positions, each `< geo.positions`.
 * @param out `positions.length × patchSize` destination; a new array when omitted.
 * @returns `out`.
 */
export function im2col(
  input: Float32Array,
  geo: Conv2dGeometry,
  positions: Uint32Array,
  out?: Float32Array,
): Float32Array {
  const { batch, inH, inW, inC, kh, kw, outH, outW, patchSize } = geo;
  if (input.length !== batch * inH * inW * inC) {
    throw new RangeError(
      `input has ${input.length} values, expected ${batch}×${inH}×${inW}×${inC}`,
    );
  }
  const res = out ?? new Float32Array(positions.length * patchSize);
  if (res.length < positions.length * patchSize) {
    throw new RangeError(`out has length ${res.length} < ${positions.length * patchSize}`);
  }
  const perImage = outH * outW;
  for (let r = 0; r < positions.length; r++) {
    const p = positions[r];
    if (p >= geo.positions) throw new RangeError(`position ${p} ≥ ${geo.positions}`);
    const n = Math.floor(p / perImage);
    const rem = p - n * perImage;
    const oh = Math.floor(rem / outW);
    const ow = rem - oh * outW;
    const y0 = oh * geo.strideH - geo.padTop;
    const x0 = ow * geo.strideW - geo.padLeft;
    let o = r * patchSize;
    for (let i = 0; i < kh; i++) {
      const y = y0 + i * geo.dilationH;
      for (let j = 0; j < kw; j++) {
        const x = x0 + j * geo.dilationW;
        if (y < 0 || y >= inH || x < 0 || x >= inW) {
          res.fill(0, o, o + inC);
        } else {
          const src = ((n * inH + y) * inW + x) * inC;
          for (let c = 0; c < inC; c++) res[o + c] = input[src + c];
        }
        o += inC;
      }
    }
  }
  return res;
}
