// `deno task gpu:bench --tiny`: every case really runs on webgpu, and webgpu's results match
// wasm's within the stated tolerances (matMul, conv2d, one WGAN operator sample). On this
// machine the adapter is a software one (llvmpipe); the run takes about 10 seconds. Skipped
// where there is no WebGPU adapter at all.
import assert from "node:assert/strict";
import { runScript } from "../_support/run_script.ts";
import { probeWebgpu } from "../../models/tfjs/backend/backend.ts";
import type { GpuBenchSummary } from "../../scripts/gpu_bench.ts";

const probe = await probeWebgpu();

Deno.test({
  name: "gpu_bench --tiny: webgpu is what runs, and it matches wasm",
  ignore: !probe.found,
  fn: async () => {
    const out = await Deno.makeTempFile({ suffix: ".json" });
    try {
      const r = await runScript("gpu_bench.ts", ["--tiny", "--json", "--out", out]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines.length, 1, "--json prints only the summary line");
      const s = JSON.parse(lines[0]) as GpuBenchSummary;
      assert.deepEqual(JSON.parse(await Deno.readTextFile(out)), s, "--out holds the same line");
      assert.equal(s.kind, "gpu_bench");
      assert.equal(s.webgpu_active, "webgpu", "tf.getBackend() while the webgpu cases ran");
      assert.match(s.backends.webgpu, /^backend: webgpu \(/);
      assert.match(s.backends.wasm, /^backend: wasm \(SIMD/);
      assert.ok(s.device !== null);
      assert.equal(typeof s.device.description, "string");
      assert.equal(typeof s.device.isFallbackAdapter, "boolean");
      assert.equal(s.deno, Deno.version.deno);
      assert.ok(!Number.isNaN(Date.parse(s.date)));
      assert.deepEqual(Object.keys(s.results), ["matmul_128", "conv2d", "wgan_mlp"]);
      // The stated tolerances: kernels 1e-4, operator samples 1e-3, of max(1, max |wasm|).
      for (const [name, c] of Object.entries(s.results)) {
        assert.equal(c.tolerance, name.startsWith("wgan_") ? 1e-3 : 1e-4, name);
        assert.ok(
          c.max_abs_diff <= c.tolerance * Math.max(1, c.max_abs),
          `${name}: ${c.max_abs_diff}`,
        );
        assert.equal(c.match, true, name);
        assert.ok(c.max_abs > 0.1, `${name}: the result is not trivially zero`);
        assert.ok(c.wasm_ms > 0 && c.webgpu_ms > 0, name);
        assert.ok(Math.abs(c.ratio - c.webgpu_ms / c.wasm_ms) < 1e-9, name);
      }
      assert.equal(s.train, null, "--tiny trains nothing");
      assert.equal(s.ok, true);
    } finally {
      await Deno.remove(out);
    }
  },
});

Deno.test("gpu_bench: bad --conv and --widths exit 2 before anything runs", async () => {
  const conv = await runScript("gpu_bench.ts", ["--conv", "1,2,3"]);
  assert.equal(conv.code, 2);
  assert.match(conv.stderr, /--conv: expected B,H,CIN,COUT, got '1,2,3'/);
  const widths = await runScript("gpu_bench.ts", ["--tiny", "--widths", "8"]);
  assert.equal(widths.code, 2);
  assert.match(widths.stderr, /--widths: expected two values/);
  const help = await runScript("gpu_bench.ts", ["--help"]);
  assert.equal(help.code, 0);
  for (const flag of ["--matmul", "--conv", "--archs", "--train-steps", "--tiny", "--json"]) {
    assert.ok(help.stdout.includes(flag), `--help lists ${flag}`);
  }
});
