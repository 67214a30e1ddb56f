import assert from "node:assert/strict";
import {
  Batcher,
  loadMnist,
  MNIST_PIXELS,
  permutation,
  shard,
  splitTrainTest,
} from "../../models/mnist_data.ts";
import { Rng } from "../../runtime/rng.ts";

Deno.test("loadMnist() packs the 10,000 digits with their labels", async () => {
  const all = await loadMnist();
  assert.equal(all.count, 10000);
  assert.equal(all.images.length, 10000 * MNIST_PIXELS);
  const perClass = new Array(10).fill(0);
  for (const l of all.labels) perClass[l]++;
  assert.deepEqual(perClass, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
  let min = Infinity, max = -Infinity;
  for (const x of all.images) {
    if (x < min) min = x;
    if (x > max) max = x;
  }
  assert.ok(min >= 0 && max <= 1 && max > 0.9, `pixels in [${min}, ${max}]`);
  assert.equal(await loadMnist(), all, "loaded once");
});

/** A fingerprint of each image (its pixel sum and label), to check disjointness. */
function keys(d: { images: Float32Array; labels: Uint8Array; count: number }): string[] {
  const out: string[] = [];
  for (let i = 0; i < d.count; i++) {
    let s = 0;
    const row = d.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS);
    for (let j = 0; j < MNIST_PIXELS; j++) s += row[j] * (j + 1);
    out.push(`${d.labels[i]}:${s.toFixed(3)}`);
  }
  return out;
}

Deno.test("splitTrainTest() and shard() are deterministic, disjoint and complete", async () => {
  const all = await loadMnist();
  const a = splitTrainTest(all, { testSize: 2000, seed: 5 });
  const b = splitTrainTest(all, { testSize: 2000, seed: 5 });
  const c = splitTrainTest(all, { testSize: 2000, seed: 6 });
  assert.equal(a.train.count, 8000);
  assert.equal(a.test.count, 2000);
  assert.deepEqual(a.test.labels, b.test.labels);
  assert.deepEqual(a.test.images, b.test.images);
  assert.notDeepEqual(a.test.labels, c.test.labels);
  // Every class appears in the test set (it is a shuffle, not a slice of the class order).
  assert.equal(new Set(a.test.labels).size, 10);

  const shards = shard(a.train, 3, 1);
  assert.deepEqual(shards.map((s) => s.count), [2667, 2667, 2666]);
  const trainKeys = keys(a.train).sort();
  const shardKeys = shards.flatMap(keys).sort();
  assert.deepEqual(shardKeys, trainKeys);
  assert.deepEqual(shard(a.train, 3, 1)[2].labels, shards[2].labels);
  assert.throws(() => shard(a.train, 0, 1), RangeError);
  assert.throws(() => splitTrainTest(all, { testSize: 10000 }), /testSize/);
});

Deno.test("permutation() is a permutation", () => {
  const p = permutation(1000, new Rng(3));
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
});

Deno.test("Batcher.next() is reproducible and covers an epoch without repeats", async () => {
  const { test } = splitTrainTest(await loadMnist(), { testSize: 100, seed: 1 });
  const a = new Batcher(test, 10, new Rng(4));
  const b = new Batcher(test, 10, new Rng(4));
  const seen: string[] = [];
  for (let i = 0; i < 10; i++) {
    const x = a.next();
    assert.deepEqual(x, b.next());
    seen.push(...keys({ images: x.images, labels: x.labels, count: 10 }));
  }
  assert.equal(new Set(seen).size, new Set(keys(test)).size);
  assert.equal(a.epoch, 0);
  a.next();
  assert.equal(a.epoch, 1);
  assert.throws(() => new Batcher(test, 101, new Rng(1)), /batch size/);
});
