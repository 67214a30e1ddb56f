import assert from "node:assert/strict";
import { runScript } from "../_support/run_script.ts";

const run = (args: string[]) => runScript("train.ts", args);

Deno.test("train --problem kelly --json ends with the run's figures", async () => {
  const dir = await Deno.makeTempDir();
  const r = await run([
    "--problem",
    "kelly",
    "--workers",
    "2",
    "--steps",
    "300",
    "--quant",
    "layerwise",
    "--json",
    "--quiet",
    "--out",
    dir,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const last = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  for (
    const k of [
      "problem",
      "optimizer",
      "quant",
      "steps",
      "dist0",
      "dist",
      "gap",
      "collectives",
      "bytes_sent",
    ]
  ) {
    assert.ok(k in last, `missing ${k}`);
  }
  assert.equal(last.problem, "kelly");
  assert.equal(last.collectives, 300);
  assert.ok(last.dist < last.dist0);
  const metrics = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n");
  assert.ok(metrics.length >= 10);
  await Deno.remove(dir, { recursive: true });
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
  assert.match(b.stderr, /valid choices: qoda, qgenx, sgd, adam/);
  const c = await run(["--problem", "bilinear", "--wrokers", "2"]);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /wrokers/);
  const h = await run(["--problem", "bilinear", "--help"]);
  assert.equal(h.code, 0);
  for (
    const f of [
      "--workers",
      "--optimizer",
      "--quant",
      "--bits",
      "--steps",
      "--lr",
      "--seed",
      "--out",
      "--json",
      "--runtime",
      "--listen",
      "--secret",
      "--remote-workers",
      "--elastic",
      "--heartbeat-ms",
      "--inject-nan",
      "--commit-every",
      "--resume",
    ]
  ) {
    assert.ok(h.stdout.includes(f), `--help lacks ${f}`);
  }
});
