/**
 * Tensor backends for qoda-ring: pick and initialise the tfjs backend (tfjs-node(-gpu), webgpu,
 * wasm or cpu), describe it in one line, and patch the wasm backend's missing
 * `Conv2DBackpropFilter` kernel so conv layers train on wasm.
 *
 * @example Initialise a backend and report it
 * ```ts
 * import { describeBackend, initBackend } from "@qoda/ring/tfjs";
 *
 * const info = await initBackend("wasm"); // or "auto" for the fastest available
 * console.log(describeBackend(info)); // "backend: wasm (SIMD, 1 thread)"
 * const tf = info.tf;
 * const sum = tf.tidy(() => tf.ones([4]).sum().dataSync()[0]);
 * if (sum !== 4) throw new Error(`sum is ${sum}`);
 * ```
 *
 * @module
 */

export * from "./backend.ts";
export * from "./wasm_conv_grad.ts";
