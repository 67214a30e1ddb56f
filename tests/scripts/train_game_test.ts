// `deno task train --problem <game>` end to end: worker processes and in-process workers on the
// one runtime (bit-identical), the run folder, resuming from a commit, bad command lines.
import assert from "node:assert/strict";
import { runScript } from "../_support/run_script.ts";

const run = (args: string[]) => runScript("train.ts", args);

function lastJson(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

async function metrics(dir: string): Promise<Record<string, number>[]> {
  return (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n")
    .map((l) => JSON.parse(l));
}

// Named: `auto` (the default) chooses by timing, and this compares separate runs bit for bit.
const KELLY = [
  ...["--problem", "kelly", "--workers", "2", "--steps", "300"],
  ...["--quant", "layerwise", "--collective", "allgather"],
];

Deno.test("train --problem kelly: worker processes and in-process workers end bit-identical; the run folder", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await run([...KELLY, "--json", "--quiet", "--out", dir]);
    assert.equal(r.code, 0, r.stderr);
    const last = lastJson(r.stdout);
    for (
      const k of [
        "problem",
        "runtime",
        "optimizer",
        "quant",
        "steps",
        "dist0",
        "dist",
        "gap",
        "collectives",
        "bytes_sent",
        "checksum",
      ]
    ) {
      assert.ok(k in last, `missing ${k}`);
    }
    assert.equal(last.problem, "kelly");
    assert.equal(last.runtime, "process");
    assert.equal(last.collectives, 300);
    assert.equal(last.replicas_agree, true);
    // Measured: 2.04 → 4.9e-9 (the game is strongly monotone).
    assert.ok((last.dist as number) < 1e-3 * (last.dist0 as number), `${last.dist}`);
    const lines = await metrics(dir);
    const steps = lines.map((l) => l.step);
    assert.deepEqual(steps, [0, 30, 60, 90, 120, 150, 180, 210, 240, 270, 300]);
    assert.equal(lines[0].dist, last.dist0, "the first line is the starting point");
    assert.equal(lines.at(-1)!.dist, last.dist);
    assert.equal(lines.at(-1)!.bytes_sent, last.bytes_sent);
    assert.ok(lines.slice(1).every((l, i) => l.bytes_sent >= lines[i].bytes_sent));
    const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    assert.equal(config.job.problem, "kelly");
    assert.equal(config.flags.workers, 2);

    const inproc = await run([...KELLY, "--runtime", "inprocess", "--json", "--quiet"]);
    assert.equal(inproc.code, 0, inproc.stderr);
    const same = lastJson(inproc.stdout);
    assert.equal(same.runtime, "inprocess");
    assert.equal(same.checksum, last.checksum, "the same job gives the same parameters");
    assert.equal(same.dist, last.dist);
    assert.equal(same.bytes_sent, last.bytes_sent);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --problem bilinear --resume continues bit-exactly, its metrics.jsonl without a repeated step", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const base = [
      "--problem",
      "bilinear",
      "--runtime",
      "inprocess",
      "--workers",
      "3",
      "--sigma-rel",
      "0.2",
      "--eval-every",
      "20",
      "--collective", // named: `auto` chooses by timing, and the runs are compared bit for bit
      "allgather",
      "--json",
      "--quiet",
    ];
    const straight = lastJson((await run([...base, "--steps", "160"])).stdout);
    // Commits at steps 40 and 80; the resumed run repeats 81–100 and goes on to 160.
    const first = await run([...base, "--steps", "100", "--commit-every", "40", "--out", dir]);
    assert.equal(first.code, 0, first.stderr);
    const resumed = await run([...base, "--steps", "160", "--resume", dir, "--out", dir]);
    assert.equal(resumed.code, 0, resumed.stderr);
    const r = lastJson(resumed.stdout);
    assert.equal(r.checksum, straight.checksum);
    assert.equal(r.dist, straight.dist);
    assert.equal(r.collectives, 160);
    const steps = (await metrics(dir)).map((l) => l.step);
    assert.deepEqual(steps, [0, 20, 40, 60, 80, 100, 120, 140, 160]);
    const refused = await run([...base, "--steps", "160", "--lr", "0.3", "--resume", dir]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /^error: cannot resume from .*: the commit was made with different lr/m,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --problem bilinear without --collective runs auto and its summary names the choice", async () => {
  const r = await run([
    "--problem",
    "bilinear",
    "--runtime",
    "inprocess",
    "--steps",
    "20",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const last = lastJson(r.stdout);
  assert.equal(last.collective, "auto");
  assert.ok(["fp32", "integer", "allgather"].includes(last.collective_used as string));
  assert.match(r.stdout, new RegExp(`20 collectives \\(auto: ${last.collective_used}\\)`));
});

Deno.test("train --problem rejects bad flags and values, naming them", async () => {
  const a = await run(["--problem", "chess"]);
  assert.equal(a.code, 2);
  assert.match(
    a.stderr,
    /--problem: invalid value 'chess'; valid choices: wgan, mnist, bilinear, quadratic, linear, kelly/,
  );
  const b = await run(["--problem", "bilinear", "--optimizer", "rmsprop"]);
  assert.equal(b.code, 2);
  assert.match(
    b.stderr,
    /--optimizer: invalid value 'rmsprop'; valid choices: qoda, qgenx, sgd, adam/,
  );
  const c = await run(["--problem", "bilinear", "--wrokers", "2"]);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /unknown flag '--wrokers'/);
  const d = await run(["--problem", "bilinear", "--inject-nan", "5:1", "--workers", "2"]);
  assert.equal(d.code, 2);
  assert.match(d.stderr, /--inject-nan: rank 5 in '5:1' is not below --workers 2/);
});
