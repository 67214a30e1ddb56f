/**
 * A `Conv2DBackpropFilter` kernel for the tfjs wasm backend, which ships without one (so any conv
 * training on wasm fails with "Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'").
 *
 * The filter gradient is itself a convolution, so it is built from wasm's own `Transpose`,
 * `Conv2D` and `Slice` kernels:
 *
 * 1. transpose x `[B,H,W,Ci]` to `[Ci,H,W,B]` (a batch of Ci one-plane images with B channels);
 * 2. transpose dy `[B,Ho,Wo,Co]` to `[Ho,Wo,B,Co]` (a filter of size Ho×Wo from B to Co channels);
 * 3. convolve with stride 1, dilation = the forward stride, and the forward top/left padding;
 * 4. slice the result to `[Ci,fh,fw,Co]` (rows/columns the forward pass never reached drop out);
 * 5. transpose to the filter layout `[fh,fw,Ci,Co]`.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";

/** Kernel name the wasm backend is missing. */
const KERNEL = "Conv2DBackpropFilter";
/** Backend the kernel is registered for. */
const BACKEND = "wasm";

type Shape4D = [number, number, number, number];

/** Attributes tfjs passes to `Conv2DBackpropFilter` (see tfjs-core `kernel_names.ts`). */
interface BackpropFilterAttrs {
  strides: [number, number] | number;
  pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
  dataFormat?: "NHWC" | "NCHW";
  dimRoundingMode?: "floor" | "round" | "ceil";
  filterShape: Shape4D;
}

/** Runs one of wasm's registered kernels directly (no tape, no engine tensors). */
function runWasmKernel(
  name: string,
  inputs: tf.NamedTensorInfoMap,
  backend: object,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const kernel = tf.getKernel(name, BACKEND);
  if (kernel === undefined) {
    throw new Error(`${KERNEL} on wasm needs wasm's '${name}' kernel, which is not registered`);
  }
  return kernel.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
}

/** Frees a wasm intermediate made by {@linkcode runWasmKernel}. */
function release(backend: object, info: tf.TensorInfo): void {
  (backend as tf.KernelBackend).disposeData(info.dataId);
}

/** The kernel function: dW for `conv2d(x, W)` given x and dy, built from wasm kernels. */
function conv2DBackpropFilterWasm(
  args: { inputs: tf.NamedTensorInfoMap; backend: object; attrs?: tf.NamedAttrMap },
): tf.TensorInfo {
  const { inputs, backend } = args;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const { strides, pad, dataFormat = "NHWC", dimRoundingMode, filterShape } = args
    .attrs as unknown as BackpropFilterAttrs;
  if (dataFormat !== "NHWC") {
    throw new Error(
      `${KERNEL} on wasm supports dataFormat 'NHWC' only, got '${dataFormat}'; ` +
        "transpose the input to NHWC",
    );
  }
  if (x.shape.length !== 4 || dy.shape.length !== 4) {
    throw new Error(
      `${KERNEL} on wasm needs rank-4 x and dy, got x [${x.shape}] and dy [${dy.shape}]`,
    );
  }
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4D,
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    "channelsLast",
  );
  const expectedDy = [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
  if (dy.shape.some((d, i) => d !== expectedDy[i])) {
    throw new Error(
      `${KERNEL} on wasm: dy has shape [${dy.shape}] but x [${x.shape}], filter ` +
        `[${filterShape}] and the strides/padding give [${expectedDy}]`,
    );
  }
  const { inChannels, outChannels, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const { top, left } = info.padInfo;
  // The backprop conv slides dy, dilated by the stride, over x padded with the forward top/left
  // padding. Bottom/right padding makes the output at least fh×fw; never negative: rows the
  // forward pass never read (valid padding, stride not dividing H - fh) fall outside the slice.
  const spanH = (info.outHeight - 1) * strideHeight + 1;
  const spanW = (info.outWidth - 1) * strideWidth + 1;
  const bottom = Math.max(0, filterHeight - 1 + spanH - info.inHeight - top);
  const right = Math.max(0, filterWidth - 1 + spanW - info.inWidth - left);

  const xT = runWasmKernel("Transpose", { x }, backend, { perm: [3, 1, 2, 0] });
  const dyT = runWasmKernel("Transpose", { x: dy }, backend, { perm: [1, 2, 0, 3] });
  let conv: tf.TensorInfo;
  try {
    conv = runWasmKernel("Conv2D", { x: xT, filter: dyT }, backend, {
      strides: [1, 1],
      pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
      dataFormat: "NHWC",
      dilations: [strideHeight, strideWidth],
    });
  } finally {
    release(backend, xT);
    release(backend, dyT);
  }
  let sliced = conv;
  if (conv.shape[1] !== filterHeight || conv.shape[2] !== filterWidth) {
    try {
      sliced = runWasmKernel("Slice", { x: conv }, backend, {
        begin: [0, 0, 0, 0],
        size: [inChannels, filterHeight, filterWidth, outChannels],
      });
    } finally {
      release(backend, conv);
    }
  }
  try {
    return runWasmKernel("Transpose", { x: sliced }, backend, { perm: [1, 2, 0, 3] });
  } finally {
    release(backend, sliced);
  }
}

/**
 * Registers a `Conv2DBackpropFilter` kernel for the tfjs "wasm" backend (NHWC only; 'valid',
 * 'same' and explicit padding; any strides), so conv layers can be trained on wasm. Idempotent:
 * does nothing when a kernel of that name is already registered for wasm. `initBackend`
 * calls it whenever it selects wasm.
 *
 * @returns `true` if this call registered the kernel, `false` if one was already registered.
 *
 * @example Register once, then take conv gradients on wasm
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import "@tensorflow/tfjs-backend-wasm";
 * import { registerWasmConvGrad } from "@qoda/ring/tfjs";
 *
 * if (!(await tf.setBackend("wasm"))) throw new Error("no wasm");
 * registerWasmConvGrad(); // initBackend("wasm") does this for you
 * const dw = tf.tidy(() => {
 *   const x = tf.ones([1, 5, 5, 1]) as tf.Tensor4D;
 *   const loss = (w: tf.Tensor) => tf.conv2d(x, w as tf.Tensor4D, 2, "same").sum();
 *   return tf.grad(loss)(tf.ones([3, 3, 1, 1]));
 * });
 * if (dw.shape.join() !== "3,3,1,1") throw new Error(`shape ${dw.shape}`);
 * dw.dispose();
 * ```
 */
export function registerWasmConvGrad(): boolean {
  if (tf.getKernel(KERNEL, BACKEND) !== undefined) return false;
  tf.registerKernel({
    kernelName: KERNEL,
    backendName: BACKEND,
    kernelFunc: conv2DBackpropFilterWasm as unknown as tf.KernelFunc,
  });
  return true;
}
