// `auto`'s decision as a pure function: (tfjs-node installed?, what the WebGPU probe found) →
// the backends to try in order and the one-line reason; and what counts as a software adapter.
import assert from "node:assert/strict";
import {
  type AdapterFacts,
  type AdapterProbe,
  decideAuto,
  describeBackend,
  gpuDeviceNodes,
  NO_GPU_DEVICE,
  softwareAdapter,
} from "../../../../models/tfjs/backend/mod.ts";

/** What Deno reports on this machine (Mesa's llvmpipe through Vulkan). */
const LLVMPIPE: AdapterFacts = {
  vendor: "65541",
  architecture: "",
  device: "0",
  description: "llvmpipe (LLVM 15.0.6, 256 bits)",
  isFallbackAdapter: true,
};
const H100: AdapterFacts = {
  vendor: "4318",
  architecture: "",
  device: "8817",
  description: "NVIDIA H100 80GB HBM3",
  isFallbackAdapter: false,
};
const found = (facts: AdapterFacts): AdapterProbe => ({ found: true, facts });
const backends = (d: ReturnType<typeof decideAuto>) =>
  d.plan.map((s) => s.backend === "tensorflow" ? `tensorflow:${s.package}` : s.backend);

Deno.test("decideAuto: no tfjs-node and a software adapter → wasm, and why", () => {
  const d = decideAuto({ tfjsNode: [], webgpu: found(LLVMPIPE) });
  assert.deepEqual(backends(d), ["wasm", "cpu"]);
  assert.equal(d.why, "auto: no tfjs-node; webgpu adapter is software (llvmpipe), not used");
});

Deno.test("decideAuto: no tfjs-node and a hardware adapter → webgpu, then wasm", () => {
  const d = decideAuto({ tfjsNode: [], webgpu: found(H100) });
  assert.deepEqual(backends(d), ["webgpu", "wasm", "cpu"]);
  assert.equal(d.why, "auto: no tfjs-node; webgpu adapter NVIDIA H100 80GB HBM3 is hardware");
});

Deno.test("decideAuto: tfjs-node comes first, whatever the adapter", () => {
  const gpu = decideAuto({ tfjsNode: ["@tensorflow/tfjs-node-gpu"], webgpu: found(H100) });
  assert.deepEqual(backends(gpu), [
    "tensorflow:@tensorflow/tfjs-node-gpu",
    "webgpu",
    "wasm",
    "cpu",
  ]);
  assert.match(gpu.why, /^auto: @tensorflow\/tfjs-node-gpu installed; /);
  const both = decideAuto({
    tfjsNode: ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"],
    webgpu: found(LLVMPIPE),
  });
  assert.deepEqual(backends(both), [
    "tensorflow:@tensorflow/tfjs-node-gpu",
    "tensorflow:@tensorflow/tfjs-node",
    "wasm",
    "cpu",
  ]);
  assert.equal(
    both.why,
    "auto: @tensorflow/tfjs-node-gpu, @tensorflow/tfjs-node installed; " +
      "webgpu adapter is software (llvmpipe), not used",
  );
});

Deno.test("decideAuto: no navigator.gpu or no adapter → wasm, saying so", () => {
  for (const why of ["no navigator.gpu", "no webgpu adapter", "requestAdapter() threw: boom"]) {
    const d = decideAuto({ tfjsNode: [], webgpu: { found: false, why } });
    assert.deepEqual(backends(d), ["wasm", "cpu"]);
    assert.equal(d.why, `auto: no tfjs-node; ${why}`);
  }
});

Deno.test("decideAuto: a fallback adapter with a hardware-looking name is not used", () => {
  const d = decideAuto({
    tfjsNode: [],
    webgpu: found({ ...H100, description: "Some GPU", isFallbackAdapter: true }),
  });
  assert.deepEqual(backends(d), ["wasm", "cpu"]);
  assert.equal(
    d.why,
    "auto: no tfjs-node; webgpu adapter is software (fallback adapter), not used",
  );
});

Deno.test("softwareAdapter: software rasterisers by name, the fallback flag, Mesa's vendor id", () => {
  const hw = { ...H100 };
  assert.equal(softwareAdapter(hw), null);
  const cases: [Partial<AdapterFacts>, string][] = [
    [{ description: "llvmpipe (LLVM 17.0.6, 256 bits)" }, "llvmpipe"],
    [{ description: "Lavapipe" }, "lavapipe"],
    [{ description: "SwiftShader Device (Subzero)" }, "swiftshader"],
    [{ device: "Google SwiftShader" }, "swiftshader"],
    [{ description: "Microsoft Basic Render Driver" }, "microsoft basic render"],
    [{ architecture: "softpipe" }, "softpipe"],
    [{ isFallbackAdapter: true }, "fallback adapter"],
    [{ vendor: "65541", description: "" }, "Mesa software vendor id"],
    [{ vendor: "0x10005", description: "" }, "Mesa software vendor id"],
  ];
  for (const [change, want] of cases) {
    assert.equal(softwareAdapter({ ...hw, ...change }), want, JSON.stringify(change));
  }
  // Words that merely contain a software name are not one.
  assert.equal(softwareAdapter({ ...hw, description: "AMD Radeon (RADV NAVI21) warped" }), null);
  assert.equal(softwareAdapter({ ...hw, description: "Apple M2 Max", vendor: "apple" }), null);
});

Deno.test("describeBackend: auto's reason follows the backend's details", () => {
  const base = { requested: "auto", tried: [], tf: undefined as never } as const;
  assert.equal(
    describeBackend({
      ...base,
      name: "wasm",
      simd: true,
      threads: 1,
      auto: "auto: no tfjs-node; webgpu adapter is software (llvmpipe), not used",
    }),
    "backend: wasm (SIMD, 1 thread; auto: no tfjs-node; webgpu adapter is software (llvmpipe), not used)",
  );
  assert.equal(
    describeBackend({
      ...base,
      requested: "webgpu",
      name: "webgpu",
      adapter: "llvmpipe (LLVM 15.0.6, 256 bits)",
      software: "llvmpipe",
    }),
    "backend: webgpu (llvmpipe (LLVM 15.0.6, 256 bits), software)",
  );
});

/** A fake file system: folder → entry names; any other folder does not exist. */
const machine = (nodes: Record<string, string[]>) => (path: string): string[] => {
  if (!(path in nodes)) throw new Deno.errors.NotFound(path);
  return nodes[path];
};

Deno.test({
  name: "gpuDeviceNodes: DRM, NVIDIA and WSL GPU nodes count; control nodes and the rest do not",
  ignore: Deno.build.os !== "linux",
  fn() {
    assert.deepEqual(gpuDeviceNodes(machine({ "/dev": ["null", "tty0", "shm"] })), []);
    assert.deepEqual(
      gpuDeviceNodes(machine({ "/dev": ["nvidiactl", "nvidia-uvm", "nvidia-modeset"] })),
      [],
      "the driver's control nodes without a GPU node",
    );
    assert.deepEqual(
      gpuDeviceNodes(machine({ "/dev": ["nvidia1", "nvidiactl", "nvidia0"] })),
      ["/dev/nvidia0", "/dev/nvidia1"],
    );
    assert.deepEqual(
      gpuDeviceNodes(machine({ "/dev": ["dri"], "/dev/dri": ["by-path", "card0", "renderD128"] })),
      ["/dev/dri/card0", "/dev/dri/renderD128"],
    );
    assert.deepEqual(gpuDeviceNodes(machine({ "/dev": ["dxg"] })), ["/dev/dxg"]);
    // A folder that cannot be read: unknown, so auto asks WebGPU as before.
    const denied = (path: string): string[] => {
      if (path === "/dev/dri") throw new Deno.errors.PermissionDenied(path);
      return [];
    };
    assert.equal(gpuDeviceNodes(denied), null);
  },
});

Deno.test("decideAuto: no GPU device node → wasm, saying WebGPU was not probed", () => {
  const d = decideAuto({ tfjsNode: [], webgpu: { found: false, why: NO_GPU_DEVICE } });
  assert.deepEqual(backends(d), ["wasm", "cpu"]);
  assert.equal(
    d.why,
    "auto: no tfjs-node; no GPU device node (/dev/dri, /dev/nvidia*, /dev/dxg), webgpu not probed",
  );
});
