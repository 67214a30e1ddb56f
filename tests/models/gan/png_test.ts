import assert from "node:assert/strict";
import { encodePng, sampleGrid, scatterImage } from "../../../models/gan/png.ts";

/** Bitwise CRC-32 (no table), independent of the encoder's table-driven one. */
function crcBitwise(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}

interface Chunk {
  type: string;
  data: Uint8Array;
}

/** Splits a PNG into chunks, checking the signature, each length and each CRC. */
function parsePng(png: Uint8Array): Chunk[] {
  assert.deepEqual(Array.from(png.subarray(0, 8)), [137, 80, 78, 71, 13, 10, 26, 10]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: Chunk[] = [];
  let at = 8;
  while (at < png.length) {
    const len = view.getUint32(at);
    assert.ok(at + 12 + len <= png.length, `chunk at ${at} overruns the file`);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const crc = view.getUint32(at + 8 + len);
    assert.equal(crc, crcBitwise(png.subarray(at + 4, at + 8 + len)), `CRC of ${type}`);
    chunks.push({ type, data: png.slice(at + 8, at + 8 + len) });
    at += 12 + len;
  }
  assert.equal(at, png.length);
  return chunks;
}

async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([data as BlobPart]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** Decodes an 8-bit, non-interlaced PNG whose rows all use filter 0. */
async function decode(png: Uint8Array) {
  const chunks = parsePng(png);
  assert.deepEqual(chunks.map((c) => c.type), ["IHDR", "IDAT", "IEND"]);
  const ihdr = new DataView(chunks[0].data.buffer);
  assert.equal(chunks[0].data.length, 13);
  const width = ihdr.getUint32(0), height = ihdr.getUint32(4);
  const [depth, colorType, compression, filter, interlace] = chunks[0].data.subarray(8);
  assert.deepEqual([depth, compression, filter, interlace], [8, 0, 0, 0]);
  const channels = colorType === 0 ? 1 : colorType === 2 ? 3 : 0;
  assert.ok(channels > 0, `colour type ${colorType}`);
  assert.equal(chunks[2].data.length, 0);
  const raw = await inflate(chunks[1].data);
  const stride = width * channels;
  assert.equal(raw.length, height * (stride + 1));
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * (stride + 1)], 0, `filter byte of row ${y}`);
    pixels.set(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)), y * stride);
  }
  return { width, height, channels, pixels };
}

Deno.test("encodePng() writes a grayscale PNG whose IDAT inflates to the pixels", async () => {
  const w = 5, h = 3;
  const px = Uint8Array.from({ length: w * h }, (_, i) => (i * 37) % 256);
  const img = await decode(await encodePng(px, w, h));
  assert.deepEqual(img, { width: w, height: h, channels: 1, pixels: px });
});

Deno.test("encodePng() writes RGB when given 3 bytes per pixel", async () => {
  const w = 4, h = 2;
  const px = Uint8Array.from({ length: 3 * w * h }, (_, i) => (i * 11 + 3) % 256);
  const img = await decode(await encodePng(px, w, h));
  assert.deepEqual(img, { width: w, height: h, channels: 3, pixels: px });
});

Deno.test("encodePng() rejects pixel counts that fit neither layout, and bad sizes", async () => {
  await assert.rejects(
    () => encodePng(new Uint8Array(7), 2, 2),
    /2×2 image needs 4 .* or 12 .* got 7/,
  );
  await assert.rejects(() => encodePng(new Uint8Array(0), 0, 1), /width must be an integer/);
});

Deno.test("sampleGrid() tiles digits row by row with padding and clamps values", async () => {
  // Three 2×2 tiles, values −1 (black) .. 1 (white), 2 per row, padding 1.
  const tiles = Float32Array.from([
    -1,
    1,
    1,
    -1, // tile 0
    0,
    0,
    0,
    0, // tile 1 (grey 128)
    5,
    5,
    -5,
    -5, // tile 2 (clamped)
  ]);
  const img = sampleGrid(tiles, { columns: 2, size: 2, padding: 1 });
  assert.equal(img.width, 2 * 2 + 3);
  assert.equal(img.height, 2 * 2 + 3);
  const at = (x: number, y: number) => img.pixels[y * img.width + x];
  assert.deepEqual([at(1, 1), at(2, 1), at(1, 2), at(2, 2)], [0, 255, 255, 0]);
  assert.deepEqual([at(4, 1), at(5, 2)], [128, 128]);
  assert.deepEqual([at(1, 4), at(2, 4), at(1, 5)], [255, 255, 0]);
  assert.equal(at(4, 4), 0); // empty fourth slot stays black
  assert.equal(at(0, 0), 0);
  const back = await decode(await encodePng(img.pixels, img.width, img.height));
  assert.deepEqual(back.pixels, img.pixels);
  assert.throws(() => sampleGrid(new Float32Array(5), { size: 2 }), /n × 2×2 values/);
});

Deno.test("scatterImage() puts points and mode centres where they belong", () => {
  const img = scatterImage(Float32Array.from([1, 1, -1, 0]), {
    size: 21,
    extent: 1,
    centers: Float64Array.from([0, -1]),
  });
  assert.equal(img.channels, 3);
  const rgb = (x: number, y: number) =>
    Array.from(img.pixels.subarray((y * 21 + x) * 3, (y * 21 + x) * 3 + 3));
  assert.deepEqual(rgb(20, 0), [20, 40, 160]); // (1, 1): top right
  assert.deepEqual(rgb(0, 10), [20, 40, 160]); // (−1, 0): left middle
  assert.deepEqual(rgb(10, 20), [230, 60, 60]); // centre (0, −1): bottom middle
  assert.deepEqual(rgb(3, 3), [255, 255, 255]);
});
