// The one run-folder writer (scripts/_run_folder.ts): unique stamped folders, --out, the
// refusal of a path that is not a folder, config.json, metrics.jsonl written once per step,
// a resumed run keeping the lines up to its commit, and the benchmarks' results files.
import { nativeKernelStatus } from "../../runtime/kernels/native.ts";
import assert from "node:assert/strict";
import { writeCommit } from "../../actors/commit.ts";
import { UsageError } from "../../scripts/_cli.ts";
import {
  ARTEFACTS,
  checkOutFlag,
  RunFolder,
  wireBitsPerCoord,
  writeResults,
} from "../../scripts/_run_folder.ts";

async function lines(path: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(path);
  return text.trim() ? text.trim().split("\n").map((l) => JSON.parse(l)) : [];
}

Deno.test("stamped run folders are new and distinct, even when made in the same second", async () => {
  const root = await Deno.makeTempDir();
  try {
    const made = await Promise.all(Array.from({ length: 3 }, () => RunFolder.create({ root })));
    const dirs = made.map((f) => f.dir);
    assert.equal(new Set(dirs).size, 3, dirs.join(" "));
    for (const d of dirs) {
      assert.match(d, new RegExp(`^${root}/\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\dZ(-\\d+)?$`));
      assert.ok((await Deno.stat(d)).isDirectory);
    }
    const f = made[0];
    assert.equal(f.path("config"), `${f.dir}/config.json`);
    assert.equal(f.path("metrics"), `${f.dir}/metrics.jsonl`);
    assert.equal(f.path("checkpoint"), `${f.dir}/checkpoint`);
    assert.equal(f.path("samples"), `${f.dir}/samples.png`);
    assert.equal(f.path("report"), `${f.dir}/report.html`);
    assert.equal(f.path("commit"), `${f.dir}/commit.json`);
    assert.deepEqual(Object.keys(ARTEFACTS).length, 6);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("--out: made with its parents, an existing folder reused, a file refused", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const f = await RunFolder.create({ out: `${tmp}/a/b/` });
    assert.equal(f.dir, `${tmp}/a/b`);
    await f.writeConfig({ x: 1 });
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${tmp}/a/b/config.json`)), {
      x: 1,
      quantize_kernel: nativeKernelStatus(),
    });
    // A fresh run in an existing folder starts metrics.jsonl empty.
    f.appendMetrics({ step: 1 });
    const again = await RunFolder.create({ out: `${tmp}/a/b` });
    assert.deepEqual(await lines(again.path("metrics")), []);
    const file = `${tmp}/file`;
    await Deno.writeTextFile(file, "x");
    assert.throws(
      () => checkOutFlag(file),
      (e: Error) =>
        e instanceof UsageError && e.message === `--out: '${file}' exists and is not a folder`,
    );
    await assert.rejects(RunFolder.create({ out: file }), /exists and is not a folder/);
    assert.equal(await Deno.readTextFile(file), "x", "the file is left alone");
    checkOutFlag(`${tmp}/not-yet`);
    checkOutFlag(tmp);
    checkOutFlag(undefined);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("metrics.jsonl: one line per step, written at once, steps only forward", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const f = await RunFolder.create({ out: tmp });
    f.appendMetrics({ step: 0, quality: 1 });
    f.appendMetrics({ step: 10, quality: 2 });
    assert.deepEqual(await lines(f.path("metrics")), [
      { step: 0, quality: 1 },
      { step: 10, quality: 2 },
    ]);
    assert.throws(() => f.appendMetrics({ step: 10 }), /step 10 after step 10/);
    assert.throws(() => f.appendMetrics({ step: 5 }), /step 5 after step 10/);
    assert.equal(f.lastStep, 10);
    assert.equal((await lines(f.path("metrics"))).length, 2);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("a resumed run keeps the metrics up to its commit and continues after it", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const first = await RunFolder.create({ out: tmp });
    for (const step of [0, 10, 20, 30]) first.appendMetrics({ step });
    await Deno.writeTextFile(first.path("metrics"), '{"step":40,"cut sh', { append: true });
    await writeCommit(tmp, { format: 2, step: 20 });
    const resumed = await RunFolder.create({ out: tmp, resumeFrom: tmp });
    assert.deepEqual((await lines(resumed.path("metrics"))).map((l) => l.step), [0, 10, 20]);
    assert.throws(() => resumed.appendMetrics({ step: 20 }), /step 20 after step 20/);
    resumed.appendMetrics({ step: 30 });
    assert.deepEqual((await lines(resumed.path("metrics"))).map((l) => l.step), [0, 10, 20, 30]);
    await assert.rejects(
      RunFolder.create({ out: `${tmp}/other`, resumeFrom: `${tmp}/none` }),
      /cannot resume from .*none/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("wireBitsPerCoord(): compressed all-gather, CGX ring and float32 shares", () => {
  const dim = 1000, n = 4;
  // All-gather: each of the N messages reaches N − 1 ranks.
  const gathered = (n - 1) * n * (dim + n) * 4 / 8; // 4 bits a coordinate
  assert.equal(
    wireBitsPerCoord({ bytesSent: gathered, collectives: 1 }, n, dim, "allgather", "qsgd"),
    4,
  );
  // float32 ring all-reduce: 2(N − 1)/N of a message per rank.
  const ring = 2 * (n - 1) * (dim + n) * 4;
  assert.equal(
    wireBitsPerCoord({ bytesSent: ring, collectives: 1 }, n, dim, "allgather", "none"),
    32,
  );
  assert.equal(wireBitsPerCoord({ bytesSent: ring, collectives: 1 }, n, dim, "ring", "qsgd"), 32);
  assert.equal(wireBitsPerCoord({ bytesSent: 5, collectives: 1 }, 1, dim, "allgather", "qsgd"), 0);
});

Deno.test("writeResults(): indented JSON or JSON lines, its folders made, an old file replaced", async () => {
  const root = await Deno.makeTempDir();
  try {
    const json = `${root}/a/b/results.json`;
    await writeResults(json, { rows: [{ x: 1 }] });
    const text = await Deno.readTextFile(json);
    assert.deepEqual(JSON.parse(text), { rows: [{ x: 1 }] });
    assert.ok(text.startsWith(`{\n  "rows"`), text);
    const jsonl = `${root}/c/results.jsonl`;
    await writeResults(jsonl, ['{"a":1}', '{"a":2}', '{"a":3}']);
    await writeResults(jsonl, ['{"a":1}', '{"a":2}']);
    assert.deepEqual(await lines(jsonl), [{ a: 1 }, { a: 2 }]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
