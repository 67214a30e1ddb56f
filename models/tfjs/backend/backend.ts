/**
 * Choosing and initialising the tfjs tensor backend.
 *
 * `auto` tries, in order: libtensorflow through `@tensorflow/tfjs-node-gpu`, then
 * `@tensorflow/tfjs-node` (backend "tensorflow"), then wasm with SIMD, then the plain-JS cpu
 * backend. tfjs-node is optional and never a dependency: it is looked up with `require.resolve`
 * and loaded only when installed, so its absence never breaks start-up or type-checking.
 *
 * tfjs falls back to another backend silently when one fails to initialise, so every
 * `setBackend` here is checked: it must return true and `getBackend()` must then name it.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { createRequire } from "node:module";
import { BackendError, UnknownNameError } from "../../../runtime/errors.ts";
import { registerWasmConvGrad } from "./wasm_conv_grad.ts";
import type { Tfjs } from "../types.ts";

export type { Tfjs };

/** Backend names {@linkcode initBackend} accepts. */
export const BACKENDS = ["auto", "tensorflow", "webgpu", "wasm", "cpu"] as const;

/** One of {@linkcode BACKENDS}. */
export type BackendName = typeof BACKENDS[number];

/** npm packages that provide the "tensorflow" (libtensorflow) backend, in the order tried. */
export const TFJS_NODE_PACKAGES = ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"] as const;

/** What {@linkcode initBackend} set up. */
export interface BackendInfo {
  /** The name that was asked for. */
  readonly requested: BackendName;
  /** The backend tfjs is now using (`tf.getBackend()`). */
  readonly name: string;
  /** wasm only: whether the SIMD build was loaded. */
  readonly simd?: boolean;
  /** wasm only: threads XNNPACK uses (1 under Deno, where threaded wasm does not work). */
  readonly threads?: number;
  /** tensorflow only: the npm package that provided it. */
  readonly package?: string;
  /** webgpu only: the adapter, as the driver describes it (e.g. "llvmpipe …"). */
  readonly adapter?: string;
  /** Every candidate tried before the chosen one, each as "candidate: why it failed". */
  readonly tried: readonly string[];
  /** The tfjs module whose engine now runs on {@linkcode BackendInfo.name}. */
  readonly tf: Tfjs;
}

/** Options for {@linkcode initBackend}. */
export interface InitBackendOptions {
  /**
   * Called with one line for each candidate that was tried and failed.
   * @default no logging
   */
  log?: (line: string) => void;
  /**
   * Where to look for tfjs-node: a file URL or path whose enclosing `node_modules` folders are
   * searched. Mainly for tests.
   * @default this module's URL
   */
  resolveFrom?: string | URL;
}

/** The parts of a {@linkcode BackendInfo} a single candidate fills in. */
type Found = Omit<BackendInfo, "requested" | "tried" | "tf"> & { tf?: Tfjs };

/** One way of getting a backend; `init` throws (a BackendError, usually) when it fails. */
interface Candidate {
  label: string;
  init: () => Promise<Found>;
}

/** Formats any thrown value for a one-line message. */
function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * `await tfm.setBackend(name)`, then check that it returned true and that tfjs really uses it.
 * On failure tfjs keeps `name` selected with no instance behind it, and the next op would
 * silently start the "best" registered backend; so put back the backend that was working before.
 */
async function activate(tfm: Tfjs, name: string, hint = ""): Promise<void> {
  const engine = tfm.engine();
  const previous = engine.backendName;
  let failure: BackendError;
  try {
    const ok = await tfm.setBackend(name);
    const active = engine.backendName;
    if (ok && active === name) return;
    failure = new BackendError(
      ok
        ? `setBackend('${name}') returned true but tfjs is using '${active}'${hint}`
        : `setBackend('${name}') returned false${hint}`,
    );
  } catch (err) {
    failure = new BackendError(`setBackend('${name}') threw: ${reason(err)}${hint}`, {
      cause: err,
    });
  }
  if (previous && previous !== name && engine.registry[previous] !== undefined) {
    await tfm.setBackend(previous).catch(() => false);
  }
  throw failure;
}

/** A candidate that loads one tfjs-node package, if installed, and activates "tensorflow". */
function tfjsNodeCandidate(pkg: string, resolveFrom: string | URL): Candidate {
  return {
    label: pkg,
    init: async () => {
      const require = createRequire(resolveFrom);
      let path: string;
      try {
        path = require.resolve(pkg);
      } catch (err) {
        if ((err as { code?: unknown } | null)?.code === "MODULE_NOT_FOUND") {
          throw new BackendError("not installed");
        }
        throw new BackendError(`cannot look for it: ${reason(err)}`, { cause: err });
      }
      let mod: Partial<Tfjs>;
      try {
        mod = require(path) as Partial<Tfjs>;
      } catch (err) {
        throw new BackendError(`installed but failed to load: ${reason(err)}`, { cause: err });
      }
      // tfjs-node registers its backend with the tfjs-core it was resolved against. Normally that
      // is ours; if it brought its own copy, hand that copy back to the caller instead.
      const tfm = typeof mod.engine === "function" && mod.engine() !== tf.engine()
        ? mod as Tfjs
        : tf;
      await activate(tfm, "tensorflow");
      return { name: "tensorflow", package: pkg, tf: tfm };
    },
  };
}

/** The wasm candidate: SIMD when the runtime has it, single-threaded, conv grads patched. */
const wasmCandidate: Candidate = {
  label: "wasm",
  init: async () => {
    const wasm = await import("@tensorflow/tfjs-backend-wasm");
    await activate(
      tf,
      "wasm",
      " (the wasm backend reads its .wasm file from node_modules: it needs --allow-read)",
    );
    registerWasmConvGrad();
    const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT") as boolean;
    return { name: "wasm", simd, threads: wasm.getThreadsCount() };
  },
};

/** The cpu candidate: plain JavaScript, always available, 15–40× slower than wasm. */
const cpuCandidate: Candidate = {
  label: "cpu",
  init: async () => {
    await activate(tf, "cpu");
    return { name: "cpu" };
  },
};

/** Minimal view of WebGPU, so this module type-checks without the WebGPU lib types. */
interface GpuLike {
  requestAdapter(): Promise<{ info?: { description?: string; device?: string } } | null>;
}

/** The webgpu candidate: needs `navigator.gpu` and an adapter (a real GPU or a software one). */
const webgpuCandidate: Candidate = {
  label: "webgpu",
  init: async () => {
    const gpu = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
    if (gpu === undefined) throw new BackendError("navigator.gpu is not available");
    let adapter: Awaited<ReturnType<GpuLike["requestAdapter"]>>;
    try {
      adapter = await gpu.requestAdapter();
    } catch (err) {
      throw new BackendError(`navigator.gpu.requestAdapter() threw: ${reason(err)}`, {
        cause: err,
      });
    }
    if (adapter === null) throw new BackendError("navigator.gpu.requestAdapter() found no adapter");
    await import("@tensorflow/tfjs-backend-webgpu");
    await activate(tf, "webgpu");
    const description = adapter.info?.description || adapter.info?.device || "";
    return description ? { name: "webgpu", adapter: description } : { name: "webgpu" };
  },
};

/** The install hint for an explicit "tensorflow" request that found no tfjs-node. */
const TENSORFLOW_HINT = "install it on a machine that can download libtensorflow: " +
  "`deno install npm:@tensorflow/tfjs-node-gpu` (NVIDIA GPU, CUDA) or " +
  "`deno install npm:@tensorflow/tfjs-node` (CPU), then run with --allow-ffi (or -A); " +
  "or ask for 'auto', 'wasm' or 'cpu'";

/** The candidates tried, in order, for each backend name. */
function plan(requested: BackendName, resolveFrom: string | URL): Candidate[] {
  const tensorflow = TFJS_NODE_PACKAGES.map((pkg) => tfjsNodeCandidate(pkg, resolveFrom));
  switch (requested) {
    case "auto":
      return [...tensorflow, wasmCandidate, cpuCandidate];
    case "tensorflow":
      return tensorflow;
    case "webgpu":
      return [webgpuCandidate];
    case "wasm":
      return [wasmCandidate];
    case "cpu":
      return [cpuCandidate];
  }
}

/**
 * Selects and initialises the tfjs backend. An explicit name must work or this throws; `auto`
 * takes the first that works of tfjs-node-gpu, tfjs-node, wasm (SIMD) and cpu, and records in
 * `tried` why each earlier one was skipped. Also turns on `tf.enableProdMode()` (no Node.js
 * banner, no debug checks) and, on wasm, registers {@linkcode registerWasmConvGrad}'s kernel.
 * Safe to call again, with the same or another name: the last call decides the backend.
 *
 * @param requested One of {@linkcode BACKENDS}.
 * @param options Logging and where to look for tfjs-node.
 * @returns What was chosen, the candidates that failed, and the tfjs module to use.
 * @throws {UnknownNameError} `requested` is not in {@linkcode BACKENDS}.
 * @throws {BackendError} An explicitly requested backend cannot be used here (for "tensorflow"
 * the message says how to install tfjs-node), or, for `auto`, not even cpu works.
 *
 * @example Pick the fastest backend available and say which
 * ```ts
 * import { describeBackend, initBackend } from "@qoda/ring/tfjs";
 *
 * const info = await initBackend("auto", { log: console.error });
 * console.log(describeBackend(info)); // e.g. "backend: wasm (SIMD, 1 thread), chosen by auto"
 * const sum = info.tf.tidy(() => info.tf.ones([2, 2]).sum());
 * const [total] = await sum.data(); // async reads work on every backend (webgpu included)
 * sum.dispose();
 * if (total !== 4) throw new Error(`sum is ${total}`);
 * ```
 */
export async function initBackend(
  requested: string,
  options?: InitBackendOptions,
): Promise<BackendInfo> {
  if (!(BACKENDS as readonly string[]).includes(requested)) {
    throw new UnknownNameError("backend", requested, BACKENDS);
  }
  const name = requested as BackendName;
  const { log, resolveFrom = import.meta.url } = options ?? {};
  tf.enableProdMode();
  const tried: string[] = [];
  for (const candidate of plan(name, resolveFrom)) {
    try {
      const { tf: tfm = tf, ...found } = await candidate.init();
      return { requested: name, ...found, tried, tf: tfm };
    } catch (err) {
      const line = `${candidate.label}: ${reason(err)}`;
      tried.push(line);
      log?.(`backend ${name}: ${line}`);
    }
  }
  const hint = name === "tensorflow" ? `; ${TENSORFLOW_HINT}` : "";
  throw new BackendError(`backend '${name}' is not available: ${tried.join("; ")}${hint}`);
}

/**
 * One line describing a backend chosen by {@linkcode initBackend}, for callers to print.
 *
 * @param info What {@linkcode initBackend} returned.
 * @returns e.g. "backend: wasm (SIMD, 1 thread)", "backend: tensorflow
 * (@tensorflow/tfjs-node-gpu)"; ", chosen by auto" is appended when `auto` picked it.
 *
 * @example Describe the cpu backend
 * ```ts
 * import { describeBackend, initBackend } from "@qoda/ring/tfjs";
 *
 * const line = describeBackend(await initBackend("cpu"));
 * if (line !== "backend: cpu") throw new Error(line);
 * ```
 */
export function describeBackend(info: BackendInfo): string {
  const details: string[] = [];
  if (info.package !== undefined) details.push(info.package);
  if (info.simd !== undefined) details.push(info.simd ? "SIMD" : "no SIMD");
  if (info.threads !== undefined) {
    details.push(`${info.threads} thread${info.threads === 1 ? "" : "s"}`);
  }
  if (info.adapter !== undefined) details.push(info.adapter);
  const detail = details.length > 0 ? ` (${details.join(", ")})` : "";
  const auto = info.requested === "auto" ? ", chosen by auto" : "";
  return `backend: ${info.name}${detail}${auto}`;
}
