// Test helper: hand-built Quantized blocks (the quantizers are not imported).
import type { Quantized, SchemeName } from "../../../runtime/quant/types.ts";
import { Rng } from "../../../runtime/rng.ts";

/** Schemes whose codes are `(index << 1) | sign`. */
export const SIGNED_SCHEMES: readonly SchemeName[] = ["qsgd", "layerwise"];
/** Schemes whose codes are affine levels in [0, 2^bits − 1]. */
export const UNSIGNED_SCHEMES: readonly SchemeName[] = ["maxmin", "ptq", "psq", "bhq"];

/** How the codes are drawn. */
export type CodeKind = "random" | "zero" | "max" | "small";

/** Float32 values from random bit patterns (NaN payloads, ±0, subnormals, ±Inf included). */
export function randomBitsF32(rng: Rng, n: number): Float32Array {
  const u = new Uint32Array(n);
  for (let i = 0; i < n; i++) u[i] = rng.nextU32();
  return new Float32Array(u.buffer);
}

function smallIndex(rng: Rng, max: number): number {
  let k = 0;
  while (k < max && rng.nextFloat() < 0.6) k++;
  return k;
}

/**
 * A block of `scheme` with `length` codes of `bits` bits (ignored for
 * `none`/`fp16`, which use 32 and 16).
 */
export function makeBlock(
  scheme: SchemeName,
  bits: number,
  length: number,
  seed: number,
  kind: CodeKind = "random",
): Quantized {
  const rng = new Rng(seed);
  const bucketSize = 1 + (rng.nextU32() % 300);
  const buckets = Math.ceil(length / bucketSize);
  const empty = {
    levels: new Float32Array(0),
    meta: new Float32Array(0),
    aux: new Uint32Array(0),
    codes: new Uint16Array(0),
    raw: new Float32Array(0),
  };
  if (scheme === "none") {
    return {
      ...empty,
      scheme,
      length,
      bits: 32,
      bucketSize: 1,
      signed: false,
      normQ: 0,
      bins: 0,
      raw: kind === "zero" ? new Float32Array(length) : randomBitsF32(rng, length),
    };
  }
  const codes = new Uint16Array(length);
  if (scheme === "fp16") {
    for (let i = 0; i < length; i++) {
      codes[i] = kind === "zero" ? 0 : kind === "max" ? 0xffff : rng.nextU32() & 0xffff;
    }
    return {
      ...empty,
      scheme,
      length,
      bits: 16,
      bucketSize: 1,
      signed: false,
      normQ: 0,
      bins: 0,
      codes,
    };
  }
  if (SIGNED_SCHEMES.includes(scheme)) {
    const maxIndex = 2 ** (bits - 1) - 1;
    for (let i = 0; i < length; i++) {
      const index = kind === "zero"
        ? 0
        : kind === "max"
        ? maxIndex
        : kind === "small"
        ? smallIndex(rng, maxIndex)
        : rng.nextU32() % (maxIndex + 1);
      const sign = index > 0 ? rng.nextU32() & 1 : 0;
      codes[i] = (index << 1) | sign;
    }
    const nLevels = Math.min(maxIndex + 1, 129);
    const levels = new Float32Array(nLevels);
    for (let i = 1; i < nLevels; i++) levels[i] = rng.nextFloat();
    levels.sort();
    levels[nLevels - 1] = 1;
    const meta = new Float32Array(buckets);
    for (let b = 0; b < buckets; b++) meta[b] = Math.abs(rng.normal()) * 10;
    return {
      ...empty,
      scheme,
      length,
      bits,
      bucketSize,
      signed: true,
      normQ: rng.nextFloat() < 0.5 ? 2 : Infinity,
      bins: 0,
      levels,
      meta,
      codes,
    };
  }
  const maxCode = 2 ** bits - 1;
  for (let i = 0; i < length; i++) {
    codes[i] = kind === "zero"
      ? 0
      : kind === "max"
      ? maxCode
      : kind === "small"
      ? smallIndex(rng, maxCode)
      : rng.nextU32() % (maxCode + 1);
  }
  const extra = scheme === "bhq" ? buckets : 0;
  return {
    ...empty,
    scheme,
    length,
    bits,
    bucketSize,
    signed: false,
    normQ: 0,
    bins: maxCode,
    meta: randomBitsF32(rng, 2 * buckets + extra),
    aux: scheme === "bhq"
      ? Uint32Array.from({ length: buckets }, () => rng.nextU32())
      : new Uint32Array(0),
    codes,
  };
}
