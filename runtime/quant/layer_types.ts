/**
 * Layer types for the layer-wise quantizer: a configurable map from a layer's
 * name, shape or explicit role to a type; each type gets its own levels.
 *
 * @module
 */
import type { LayerInfo } from "./types.ts";

/** The default layer types. */
export const DEFAULT_LAYER_TYPES = [
  "dense",
  "conv",
  "bias",
  "norm",
  "embedding",
  "other",
] as const;

/** One mapping rule: layers whose name matches `match` (or for which it returns true) get `type`. */
export interface LayerTypeRule {
  /** A regular expression or substring tested against the layer name, or a predicate. */
  match: RegExp | string | ((layer: LayerInfo) => boolean);
  /** The type to assign. */
  type: string;
}

/**
 * The default classification: an explicit `layer.type` wins; then names
 * (embedding, normalization, bias); then shape (rank ≥ 3: conv kernel,
 * rank 2: dense kernel, rank ≤ 1: bias); else `other`.
 *
 * @example
 * ```ts
 * import { defaultLayerType } from "@qoda/ring/quant";
 * if (defaultLayerType({ name: "conv2d_1/kernel", shape: [3, 3, 1, 8] }) !== "conv") {
 *   throw new Error("a 4-D kernel is a conv kernel");
 * }
 * ```
 */
export function defaultLayerType(layer: LayerInfo): string {
  if (layer.type) return layer.type;
  const name = layer.name.toLowerCase();
  if (/embed/.test(name)) return "embedding";
  if (
    /(batch_?norm|layer_?norm|group_?norm|(^|[/_.])(bn|ln|norm)\d*([/_.]|$)|gamma|beta|moving_)/
      .test(name)
  ) {
    return "norm";
  }
  if (/bias/.test(name)) return "bias";
  const rank = layer.shape?.length;
  if (rank !== undefined) {
    if (rank >= 3) return "conv";
    if (rank === 2) return "dense";
    return "bias";
  }
  if (/conv/.test(name)) return "conv";
  if (/dense|kernel|weight|fc|linear/.test(name)) return "dense";
  return "other";
}

/**
 * Rules tried in order, then {@linkcode defaultLayerType}.
 *
 * @example
 * ```ts
 * import { LayerTypeMap } from "@qoda/ring/quant";
 * const map = new LayerTypeMap([{ match: /^critic\//, type: "critic" }]);
 * if (map.typeOf({ name: "critic/dense/kernel", shape: [4, 4] }) !== "critic") throw new Error();
 * ```
 */
export class LayerTypeMap {
  readonly #rules: LayerTypeRule[];
  readonly #fallback: (layer: LayerInfo) => string;

  /**
   * Creates a map from rules and a fallback classification.
   *
   * @param rules Rules tried first, in order.
   * @param fallback Classification when no rule matches.
   */
  constructor(
    rules: LayerTypeRule[] = [],
    fallback: (layer: LayerInfo) => string = defaultLayerType,
  ) {
    this.#rules = rules.slice();
    this.#fallback = fallback;
  }

  /** The type of `layer`. */
  typeOf(layer: LayerInfo): string {
    for (const r of this.#rules) {
      const m = r.match;
      if (
        typeof m === "string"
          ? layer.name.includes(m)
          : m instanceof RegExp
          ? m.test(layer.name)
          : m(layer)
      ) {
        return r.type;
      }
    }
    return this.#fallback(layer);
  }
}
