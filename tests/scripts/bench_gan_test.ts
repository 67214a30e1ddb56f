// Tests for `deno task bench:gan` and its PyTorch reference (scripts/wgan_reference.py). The
// runs need a python3 with torch (Debian: python3-torch) and are ignored without one.
import assert from "node:assert/strict";
import { runScript } from "../_support/run_script.ts";
import { formatTable } from "../../scripts/bench_gan.ts";
import { findTorchPython } from "../../scripts/_python.ts";

const found = await findTorchPython();
const PY = "python" in found ? found.python : null;
const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("bench:gan's table says how far ahead of the reference each dataset is", () => {
  const row = (impl: "qoda-ring" | "pytorch-wgan-gp", modes: number, hq: number) => ({
    dataset: "gaussians25",
    impl,
    seconds: 300,
    steps: 100,
    modes_covered: modes,
    modes: 25,
    high_quality: hq,
  });
  const lines = formatTable([row("qoda-ring", 11, 0.232), row("pytorch-wgan-gp", 1, 0.07)])
    .split("\n");
  assert.equal(lines.length, 4);
  assert.match(lines[1], /qoda-ring .* 11\/25 +23\.2%$/);
  assert.match(lines[2], /pytorch-wgan-gp .* 1\/25 +7\.0%$/);
  assert.match(lines[3], /qoda-ring ahead +\+10 +3\.3×$/);
  const none = formatTable([row("qoda-ring", 0, 0.01), row("pytorch-wgan-gp", 2, 0)]);
  assert.match(none.split("\n")[3], /-2 +∞$/);
});

Deno.test({
  name: "wgan_reference.py trains for its budget and measures quality as quality.ts does",
  ignore: PY === null,
  async fn() {
    const out = await new Deno.Command(PY!, {
      args: ["scripts/wgan_reference.py", "--dataset", "gaussians25", "--seconds", "2"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const last = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
    assert.equal(last.dataset, "gaussians25");
    assert.equal(last.modes, 25);
    assert.ok(last.iterations > 0 && last.seconds >= 2 && last.seconds < 10, JSON.stringify(last));
    assert.ok(last.high_quality >= 0 && last.high_quality <= 1);
    const bad = await new Deno.Command(PY!, {
      args: ["scripts/wgan_reference.py", "--dataset", "rings"],
      cwd: ROOT,
      stderr: "piped",
    }).output();
    assert.notEqual(bad.code, 0);
    assert.match(new TextDecoder().decode(bad.stderr), /unknown dataset 'rings'/);
  },
});

Deno.test({
  name: "bench:gan gives the reference our run's wall time and writes both rows",
  ignore: PY === null,
  async fn() {
    const out = await Deno.makeTempFile({ suffix: ".json" });
    try {
      const r = await runScript("bench_gan.ts", [
        ...["--datasets", "gaussians8", "--steps", "100", "--threads", "1", "--out", out],
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /qoda-ring ahead/);
      const { rows } = JSON.parse(await Deno.readTextFile(out));
      assert.deepEqual(rows.map((x: { impl: string }) => x.impl), ["qoda-ring", "pytorch-wgan-gp"]);
      const [ours, ref] = rows;
      assert.equal(ours.steps, 100);
      assert.ok(ref.steps > 0);
      // The reference stops at the first step after our wall time (start-up included).
      assert.ok(Math.abs(ref.seconds - ours.seconds) < 3, `${ref.seconds} vs ${ours.seconds}`);
    } finally {
      await Deno.remove(out);
    }
  },
});
