/**
 * A minimal PNG writer (8-bit grayscale or RGB, one IDAT chunk compressed
 * with `CompressionStream("deflate")`, which produces the zlib format PNG
 * requires) and the two pictures of a run's `samples.png`: a grid of
 * generated digits and a scatter plot of 2-D samples over the mixture's
 * modes.
 *
 * @module
 */

/** An 8-bit image, row-major, `channels` bytes per pixel. */
export interface RasterImage {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** 1 (grayscale) or 3 (RGB). */
  readonly channels: 1 | 3;
  /** `width × height × channels` bytes. */
  readonly pixels: Uint8Array;
}

/** The 8 bytes every PNG file starts with. */
export const PNG_SIGNATURE: Uint8Array = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32 (ISO 3309 / ITU-T V.42, as PNG and zlib's `crc32` use it).
 *
 * @param bytes The data.
 * @returns The CRC as an unsigned 32-bit integer.
 *
 * @example The standard check value
 * ```ts
 * import { crc32 } from "./mod.ts";
 * if (crc32(new TextEncoder().encode("123456789")) !== 0xcbf43926) throw new Error();
 * ```
 */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

async function deflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(
    new CompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Encodes 8-bit pixels as a PNG file: grayscale when `pixels` holds
 * `width·height` bytes, RGB when it holds `3·width·height`.
 *
 * @param pixels Row-major pixels.
 * @param width Width (≥ 1).
 * @param height Height (≥ 1).
 * @returns The file's bytes.
 * @throws {RangeError} Bad sizes, or a pixel count that fits neither layout.
 *
 * @example A 2×1 grayscale image
 * ```ts
 * import { encodePng, PNG_SIGNATURE } from "./mod.ts";
 * const png = await encodePng(new Uint8Array([0, 255]), 2, 1);
 * if (!PNG_SIGNATURE.every((b, i) => png[i] === b)) throw new Error("no signature");
 * ```
 */
export async function encodePng(
  pixels: Uint8Array,
  width: number,
  height: number,
): Promise<Uint8Array> {
  for (const [name, v] of [["width", width], ["height", height]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 1 << 16) {
      throw new RangeError(`${name} must be an integer in 1..65536, got ${v}`);
    }
  }
  const area = width * height;
  const channels = pixels.length === area ? 1 : pixels.length === 3 * area ? 3 : 0;
  if (channels === 0) {
    throw new RangeError(
      `a ${width}×${height} image needs ${area} (gray) or ${3 * area} (RGB) bytes, ` +
        `got ${pixels.length}`,
    );
  }
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = channels === 1 ? 0 : 2; // colour type: gray or truecolour
  // compression 0, filter method 0, no interlace: bytes 10..12 stay 0
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter type None
    raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const parts = [
    PNG_SIGNATURE,
    chunk("IHDR", ihdr),
    chunk("IDAT", await deflate(raw)),
    chunk("IEND", new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Options of {@linkcode sampleGrid}. */
export interface SampleGridOptions {
  /** Tiles per row. @default {8} */
  columns?: number;
  /** Side of a square tile in pixels (each sample holds size² values). @default {28} */
  size?: number;
  /** Values mapped to black and white. @default {[-1, 1]} */
  range?: readonly [number, number];
  /** Black pixels between tiles and around the grid. @default {2} */
  padding?: number;
}

/**
 * Tiles square grayscale samples (e.g. generated 28×28 digits, row-major,
 * one after another) into one grayscale image, `columns` per row; values
 * outside `range` are clamped.
 *
 * @param samples `n × size²` values.
 * @param options Layout and value range.
 * @returns The image.
 * @throws {RangeError} A sample array that is not a whole number of tiles.
 *
 * @example Four 2×2 tiles in two columns
 * ```ts
 * import { sampleGrid } from "./mod.ts";
 * const img = sampleGrid(new Float32Array(16).fill(1), { columns: 2, size: 2, padding: 1 });
 * if (img.width !== 7 || img.height !== 7 || img.pixels[8] !== 255 || img.pixels[0] !== 0) {
 *   throw new Error();
 * }
 * ```
 */
export function sampleGrid(samples: Float32Array, options?: SampleGridOptions): RasterImage {
  const { columns = 8, size = 28, range = [-1, 1], padding = 2 } = options ?? {};
  const area = size * size;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`size must be ≥ 1, got ${size}`);
  if (!Number.isInteger(columns) || columns < 1) {
    throw new RangeError(`columns must be ≥ 1, got ${columns}`);
  }
  if (samples.length === 0 || samples.length % area !== 0) {
    throw new RangeError(
      `samples must hold n × ${size}×${size} values with n ≥ 1, got ${samples.length}`,
    );
  }
  const [lo, hi] = range;
  if (!(hi > lo)) throw new RangeError(`range must be increasing, got [${lo}, ${hi}]`);
  const n = samples.length / area;
  const cols = Math.min(columns, n), rows = Math.ceil(n / cols);
  const width = cols * size + (cols + 1) * padding;
  const height = rows * size + (rows + 1) * padding;
  const pixels = new Uint8Array(width * height);
  for (let k = 0; k < n; k++) {
    const x0 = padding + (k % cols) * (size + padding);
    const y0 = padding + Math.floor(k / cols) * (size + padding);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const v = (samples[k * area + y * size + x] - lo) / (hi - lo);
        pixels[(y0 + y) * width + x0 + x] = Math.round(255 * Math.min(1, Math.max(0, v || 0)));
      }
    }
  }
  return { width, height, channels: 1, pixels };
}

/** Options of {@linkcode scatterImage}. */
export interface ScatterImageOptions {
  /** Side of the square image in pixels. @default {256} */
  size?: number;
  /** The plot shows [−extent, extent]². @default {the largest |coordinate|·1.1} */
  extent?: number;
  /** Mode centres (`k × 2`), drawn as red squares under the points. */
  centers?: Float64Array;
}

/**
 * A scatter plot of 2-D points (`n × 2`) as an RGB image: white background,
 * grey axes, red mode centres, dark blue points (y up). Points outside the
 * extent are left out.
 *
 * @param points `n × 2` coordinates.
 * @param options Size, extent and mode centres.
 * @returns The image.
 *
 * @example The origin lands in the middle
 * ```ts
 * import { scatterImage } from "./mod.ts";
 * const img = scatterImage(new Float32Array([0, 0]), { size: 11, extent: 1 });
 * const mid = (5 * 11 + 5) * 3;
 * if (img.channels !== 3 || img.pixels[mid + 2] <= img.pixels[mid]) throw new Error();
 * ```
 */
export function scatterImage(
  points: Float32Array | Float64Array,
  options?: ScatterImageOptions,
): RasterImage {
  if (points.length % 2 !== 0) {
    throw new RangeError(`points must hold n × 2 coordinates, got ${points.length} values`);
  }
  let maxAbs = 0;
  for (const v of points) if (Number.isFinite(v)) maxAbs = Math.max(maxAbs, Math.abs(v));
  const { size = 256, extent = maxAbs > 0 ? 1.1 * maxAbs : 1, centers } = options ?? {};
  if (!Number.isInteger(size) || size < 2) throw new RangeError(`size must be ≥ 2, got ${size}`);
  if (!(extent > 0)) throw new RangeError(`extent must be positive, got ${extent}`);
  const pixels = new Uint8Array(size * size * 3).fill(255);
  const put = (px: number, py: number, r: number, g: number, b: number) => {
    if (px < 0 || py < 0 || px >= size || py >= size) return;
    const i = (py * size + px) * 3;
    pixels[i] = r;
    pixels[i + 1] = g;
    pixels[i + 2] = b;
  };
  const toPx = (v: number) => Math.round(((v + extent) / (2 * extent)) * (size - 1));
  const toPy = (v: number) => Math.round(((extent - v) / (2 * extent)) * (size - 1));
  const mid = toPx(0);
  for (let i = 0; i < size; i++) {
    put(i, mid, 220, 220, 220);
    put(mid, i, 220, 220, 220);
  }
  if (centers) {
    for (let k = 0; k + 1 < centers.length; k += 2) {
      const cx = toPx(centers[k]), cy = toPy(centers[k + 1]);
      for (let dy = -2; dy <= 2; dy++) {
        for (let dx = -2; dx <= 2; dx++) put(cx + dx, cy + dy, 230, 60, 60);
      }
    }
  }
  for (let i = 0; i < points.length; i += 2) {
    const x = points[i], y = points[i + 1];
    if (!(Math.abs(x) <= extent && Math.abs(y) <= extent)) continue;
    put(toPx(x), toPy(y), 20, 40, 160);
  }
  return { width: size, height: size, channels: 3, pixels };
}
