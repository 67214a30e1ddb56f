/**
 * Choosing and initialising the tfjs tensor backend.
 *
 * `auto` tries, in order: libtensorflow through `@tensorflow/tfjs-node-gpu`, then
 * `@tensorflow/tfjs-node` (backend "tensorflow"), then webgpu when the WebGPU adapter is a
 * hardware one (a software or fallback adapter, such as llvmpipe, is slower than wasm and is
 * skipped; on Linux without a GPU device node, or in a Web Worker, WebGPU is not even started),
 * then wasm with SIMD, then the plain-JS cpu backend. {@linkcode decideAuto} is that decision as a
 * pure function, and it says why in one line. tfjs-node is optional and never a
 * dependency: it is looked up with `require.resolve` and loaded only when installed, so its
 * absence never breaks start-up or type-checking.
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
import { installSyncRead } from "./_webgpu_read_sync.ts";
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
  /** webgpu only: what the adapter says about itself. */
  readonly adapterInfo?: AdapterFacts;
  /** webgpu only: why the adapter is a software or fallback one, absent for hardware. */
  readonly software?: string;
  /**
   * `auto` only: why this backend was chosen, one line, e.g. "auto: no tfjs-node; webgpu
   * adapter is software (llvmpipe), not used" ({@linkcode decideAuto}, plus any failures).
   */
  readonly auto?: string;
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

/** What a WebGPU adapter says about itself (`adapter.info`, plus whether it is a fallback). */
export interface AdapterFacts {
  /** `info.vendor`: a name or a PCI/Khronos vendor id as a string (Mesa's is "65541"). */
  readonly vendor: string;
  /** `info.architecture`, often empty. */
  readonly architecture: string;
  /** `info.device`: a name or a device id as a string. */
  readonly device: string;
  /** `info.description`: the driver's name for it, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  readonly description: string;
  /** `info.isFallbackAdapter` (or the older `adapter.isFallbackAdapter`): a software adapter. */
  readonly isFallbackAdapter: boolean;
}

/** Minimal view of a WebGPU adapter, so this module type-checks without the WebGPU lib types. */
interface AdapterLike {
  info?: Partial<Record<"vendor" | "architecture" | "device" | "description", unknown>> & {
    isFallbackAdapter?: unknown;
  };
  isFallbackAdapter?: unknown;
}

/** Minimal view of `navigator.gpu`. */
interface GpuLike {
  requestAdapter(): Promise<AdapterLike | null>;
}

/** The facts of an adapter, every field a string or a boolean. */
function adapterFacts(adapter: AdapterLike): AdapterFacts {
  const info = adapter.info ?? {};
  const text = (v: unknown) => (v === undefined || v === null ? "" : String(v));
  return {
    vendor: text(info.vendor),
    architecture: text(info.architecture),
    device: text(info.device),
    description: text(info.description),
    isFallbackAdapter: info.isFallbackAdapter === true || adapter.isFallbackAdapter === true,
  };
}

/** Names of software rasterisers that appear in adapter descriptions. */
const SOFTWARE_ADAPTERS =
  /llvmpipe|lavapipe|softpipe|swiftshader|swrast|microsoft basic render|\bwarp\b/i;

/** Mesa's Vulkan vendor id (VK_VENDOR_ID_MESA), which only its software drivers report. */
const MESA_SOFTWARE_VENDOR = new Set(["65541", "0x10005"]);

/**
 * Why a WebGPU adapter is a software one, or null for a hardware adapter: the fallback flag,
 * a software rasteriser's name (llvmpipe, lavapipe, SwiftShader, WARP, …) in its description,
 * device, vendor or architecture, or Mesa's software vendor id.
 *
 * @param facts What the adapter says ({@linkcode AdapterFacts}).
 * @returns e.g. "llvmpipe", "fallback adapter", or null.
 *
 * @example
 * ```ts
 * import { softwareAdapter } from "@qoda/ring/tfjs";
 * const llvmpipe = {
 *   vendor: "65541",
 *   architecture: "",
 *   device: "0",
 *   description: "llvmpipe (LLVM 15.0.6, 256 bits)",
 *   isFallbackAdapter: true,
 * };
 * if (softwareAdapter(llvmpipe) !== "llvmpipe") throw new Error();
 * const h100 = { ...llvmpipe, vendor: "4318", description: "NVIDIA H100", isFallbackAdapter: false };
 * if (softwareAdapter(h100) !== null) throw new Error();
 * ```
 */
export function softwareAdapter(facts: AdapterFacts): string | null {
  for (const field of [facts.description, facts.device, facts.vendor, facts.architecture]) {
    const m = SOFTWARE_ADAPTERS.exec(field);
    if (m) return m[0].toLowerCase();
  }
  if (facts.isFallbackAdapter) return "fallback adapter";
  if (MESA_SOFTWARE_VENDOR.has(facts.vendor.toLowerCase())) return "Mesa software vendor id";
  return null;
}

/** One line naming an adapter: its description, else its vendor/device ids. */
function adapterName(facts: AdapterFacts): string {
  return facts.description ||
    [facts.vendor && `vendor ${facts.vendor}`, facts.device && `device ${facts.device}`]
      .filter(Boolean).join(" ") ||
    "unnamed adapter";
}

/** What looking for a WebGPU adapter found: an adapter, or why there is none. */
export type AdapterProbe =
  | { readonly found: true; readonly facts: AdapterFacts }
  | { readonly found: false; readonly why: string };

/** How long {@linkcode probeWebgpu} waits for `requestAdapter()`. */
const PROBE_TIMEOUT_MS = 10_000;

/**
 * Asks `navigator.gpu` for an adapter, without creating a device.
 *
 * @returns The adapter's facts, or why there is none (no `navigator.gpu`, no adapter, an
 * error, no answer within 10 s).
 *
 * @example
 * ```ts
 * import { probeWebgpu } from "@qoda/ring/tfjs";
 * const probe = await probeWebgpu();
 * console.log(probe.found ? probe.facts.description : probe.why);
 * ```
 */
export async function probeWebgpu(): Promise<AdapterProbe> {
  return (await requestAdapter()).probe;
}

/** {@linkcode probeWebgpu}, keeping the adapter. */
async function requestAdapter(): Promise<{ probe: AdapterProbe; adapter?: AdapterLike }> {
  const gpu = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
  if (gpu === undefined) return { probe: { found: false, why: "no navigator.gpu" } };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), PROBE_TIMEOUT_MS);
    });
    const adapter = await Promise.race([gpu.requestAdapter(), timeout]);
    if (adapter === "timeout") {
      return {
        probe: { found: false, why: `requestAdapter() gave no answer in ${PROBE_TIMEOUT_MS} ms` },
      };
    }
    if (adapter === null) return { probe: { found: false, why: "no webgpu adapter" } };
    return { probe: { found: true, facts: adapterFacts(adapter) }, adapter };
  } catch (err) {
    return { probe: { found: false, why: `requestAdapter() threw: ${reason(err)}` } };
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a folder's entry names; throws `Deno.errors.NotFound` where it does not exist. */
export type ListDir = (path: string) => string[];

const listDir: ListDir = (path) => Array.from(Deno.readDirSync(path), (e) => e.name);

/** Device nodes that only a GPU driver makes: DRM render/card nodes, NVIDIA GPUs, WSL's GPU. */
const GPU_NODES: readonly { dir: string; name: RegExp }[] = [
  { dir: "/dev/dri", name: /^(renderD|card)\d+$/ },
  { dir: "/dev", name: /^(nvidia\d+|dxg)$/ },
];

/**
 * The GPU device nodes of this Linux machine (`/dev/dri/renderD*` and `card*`,
 * `/dev/nvidia0`…, WSL's `/dev/dxg`), or null where that cannot be told (not
 * Linux, a folder that cannot be read). A hardware WebGPU adapter needs one of
 * them, so `auto` does not ask `navigator.gpu` for an adapter where the list
 * is empty: starting WebGPU there finds at best a software rasteriser that
 * `auto` would not use, and Deno 2.9 can crash at exit when a Web Worker that
 * started it is terminated just before the process ends (wgpu's EGL teardown).
 *
 * @param readDir Lists a folder (for tests); the default reads the file system.
 * @returns The nodes' paths, empty where there are none, or null.
 *
 * @example A machine with one NVIDIA GPU, and one with only the driver's control node
 * ```ts
 * import { gpuDeviceNodes } from "@qoda/ring/tfjs";
 * const machine = (nodes: Record<string, string[]>) => (path: string) => {
 *   if (!(path in nodes)) throw new Deno.errors.NotFound(path);
 *   return nodes[path];
 * };
 * const gpu = machine({ "/dev": ["null", "nvidiactl", "nvidia0"] });
 * if (Deno.build.os === "linux" && gpuDeviceNodes(gpu)![0] !== "/dev/nvidia0") throw new Error();
 * const none = machine({ "/dev": ["null", "nvidiactl"] });
 * if (Deno.build.os === "linux" && gpuDeviceNodes(none)!.length !== 0) throw new Error();
 * ```
 */
export function gpuDeviceNodes(readDir: ListDir = listDir): string[] | null {
  if (Deno.build.os !== "linux") return null;
  const found: string[] = [];
  for (const { dir, name } of GPU_NODES) {
    let names: string[];
    try {
      names = readDir(dir);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      return null;
    }
    for (const n of names.filter((n) => name.test(n)).sort()) found.push(`${dir}/${n}`);
  }
  return found;
}

/**
 * What `auto` records for WebGPU in a Web Worker, where it does not start WebGPU: with Deno
 * 2.9, a process whose Worker started WebGPU can crash at exit (wgpu's EGL teardown racing the
 * process's own) when that Worker is terminated just before the process ends, as a supervisor's
 * evaluator is. An explicit "webgpu" is still honoured there.
 */
export const IN_WEB_WORKER = "in a Web Worker, webgpu not probed";

/** True in a Web Worker's thread (Deno's main thread has no `WorkerGlobalScope`). */
function inWebWorker(): boolean {
  const scope = (globalThis as { WorkerGlobalScope?: abstract new () => unknown })
    .WorkerGlobalScope;
  return typeof scope === "function" && globalThis instanceof scope;
}

/** What `auto` records for WebGPU where {@linkcode gpuDeviceNodes} found none. */
export const NO_GPU_DEVICE =
  "no GPU device node (/dev/dri, /dev/nvidia*, /dev/dxg), webgpu not probed";

/** The webgpu candidate: needs `navigator.gpu` and an adapter (a real GPU or a software one). */
const webgpuCandidate: Candidate = {
  label: "webgpu",
  init: async () => {
    const { probe } = await requestAdapter();
    if (!probe.found) throw new BackendError(probe.why);
    await import("@tensorflow/tfjs-backend-webgpu");
    await activate(tf, "webgpu");
    // tfjs's own dataSync() on webgpu needs OffscreenCanvas, which Deno lacks.
    await installSyncRead(
      tf.backend(),
      (data, dtype) => tf.util.convertBackendValuesAndArrayBuffer(data, dtype as tf.DataType),
    );
    const facts = probe.facts;
    const software = softwareAdapter(facts);
    return {
      name: "webgpu",
      adapter: adapterName(facts),
      adapterInfo: facts,
      ...(software === null ? {} : { software }),
    };
  },
};

/** One step of `auto`'s plan ({@linkcode decideAuto}). */
export type AutoStep =
  | { readonly backend: "tensorflow"; readonly package: string }
  | { readonly backend: "webgpu" | "wasm" | "cpu" };

/** What {@linkcode decideAuto} looks at. */
export interface AutoInputs {
  /** The tfjs-node packages installed ({@linkcode TFJS_NODE_PACKAGES} that resolve), in order. */
  readonly tfjsNode: readonly string[];
  /** What {@linkcode probeWebgpu} found. */
  readonly webgpu: AdapterProbe;
}

/** `auto`'s decision: the backends to try, in order, and why. */
export interface AutoDecision {
  /** Backends to try in order; the first that initialises is used. */
  readonly plan: readonly AutoStep[];
  /**
   * Why, one line: what was found and what was skipped, e.g. "auto: no tfjs-node; webgpu
   * adapter is software (llvmpipe), not used".
   */
  readonly why: string;
}

/**
 * `auto`'s choice as a pure function: tfjs-node(-gpu) when installed, then webgpu when the
 * adapter is a hardware one (a software or fallback adapter is slower than wasm), then wasm,
 * then cpu.
 *
 * @param inputs The installed tfjs-node packages and what the WebGPU probe found.
 * @returns The plan and its one-line reason.
 *
 * @example No tfjs-node, a software adapter: wasm, and why
 * ```ts
 * import { decideAuto } from "@qoda/ring/tfjs";
 * const d = decideAuto({
 *   tfjsNode: [],
 *   webgpu: {
 *     found: true,
 *     facts: {
 *       vendor: "65541",
 *       architecture: "",
 *       device: "0",
 *       description: "llvmpipe (LLVM 15.0.6, 256 bits)",
 *       isFallbackAdapter: true,
 *     },
 *   },
 * });
 * if (d.plan[0].backend !== "wasm") throw new Error();
 * if (d.why !== "auto: no tfjs-node; webgpu adapter is software (llvmpipe), not used") {
 *   throw new Error(d.why);
 * }
 * ```
 */
export function decideAuto(inputs: AutoInputs): AutoDecision {
  const plan: AutoStep[] = inputs.tfjsNode.map((pkg) => ({ backend: "tensorflow", package: pkg }));
  const notes = [plan.length > 0 ? `${inputs.tfjsNode.join(", ")} installed` : "no tfjs-node"];
  const probe = inputs.webgpu;
  if (!probe.found) notes.push(`${probe.why}`);
  else {
    const software = softwareAdapter(probe.facts);
    if (software !== null) notes.push(`webgpu adapter is software (${software}), not used`);
    else {
      plan.push({ backend: "webgpu" });
      notes.push(`webgpu adapter ${adapterName(probe.facts)} is hardware`);
    }
  }
  plan.push({ backend: "wasm" }, { backend: "cpu" });
  return { plan, why: `auto: ${notes.join("; ")}` };
}

/** Whether `pkg` resolves from `resolveFrom`; a lookup that fails oddly counts as installed. */
function isInstalled(pkg: string, resolveFrom: string | URL): boolean {
  try {
    createRequire(resolveFrom).resolve(pkg);
    return true;
  } catch (err) {
    return (err as { code?: unknown } | null)?.code !== "MODULE_NOT_FOUND";
  }
}

/** The install hint for an explicit "tensorflow" request that found no tfjs-node. */
const TENSORFLOW_HINT = "install it on a machine that can download libtensorflow: " +
  "`deno install npm:@tensorflow/tfjs-node-gpu` (NVIDIA GPU, CUDA) or " +
  "`deno install npm:@tensorflow/tfjs-node` (CPU), then run with --allow-ffi (or -A); " +
  "or ask for 'auto', 'wasm' or 'cpu'";

/** The candidates tried, in order, for each backend name; for `auto`, also why. */
async function plan(
  requested: BackendName,
  resolveFrom: string | URL,
): Promise<{ candidates: Candidate[]; why?: string }> {
  if (requested === "auto") {
    const tfjsNode = TFJS_NODE_PACKAGES.filter((pkg) => isInstalled(pkg, resolveFrom));
    const webgpu: AdapterProbe = inWebWorker()
      ? { found: false, why: IN_WEB_WORKER }
      : gpuDeviceNodes()?.length === 0
      ? { found: false, why: NO_GPU_DEVICE }
      : await probeWebgpu();
    const decision = decideAuto({ tfjsNode, webgpu });
    const candidates = decision.plan.map((step) => {
      switch (step.backend) {
        case "tensorflow":
          return tfjsNodeCandidate(step.package, resolveFrom);
        case "webgpu":
          return webgpuCandidate;
        case "wasm":
          return wasmCandidate;
        case "cpu":
          return cpuCandidate;
      }
    });
    return { candidates, why: decision.why };
  }
  return { candidates: candidatesFor(requested, resolveFrom) };
}

/** The candidates of an explicit backend name. */
function candidatesFor(requested: Exclude<BackendName, "auto">, resolveFrom: string | URL) {
  const tensorflow = TFJS_NODE_PACKAGES.map((pkg) => tfjsNodeCandidate(pkg, resolveFrom));
  switch (requested) {
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
 * takes the first that works of tfjs-node-gpu and tfjs-node (when installed), webgpu (when the
 * adapter is a hardware one), wasm (SIMD) and cpu ({@linkcode decideAuto}), says why in
 * `auto`, and records in `tried` why each candidate before the chosen one failed. Also turns on
 * `tf.enableProdMode()` (no Node.js banner, no debug checks), on wasm registers
 * {@linkcode registerWasmConvGrad}'s kernel, and on webgpu makes `dataSync()` work under Deno
 * (tfjs's own needs `OffscreenCanvas`; the replacement maps a staging buffer).
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
 * // e.g. "backend: wasm (SIMD, 1 thread; auto: no tfjs-node; webgpu adapter is software
 * // (llvmpipe), not used)"
 * console.log(describeBackend(info));
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
  const { candidates, why } = await plan(name, resolveFrom);
  const autoLine = () => (why === undefined ? {} : { auto: [why, ...tried].join("; ") });
  for (const candidate of candidates) {
    try {
      const { tf: tfm = tf, ...found } = await candidate.init();
      return { requested: name, ...found, ...autoLine(), tried, tf: tfm };
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
 * (@tensorflow/tfjs-node-gpu)", "backend: webgpu (llvmpipe (LLVM 15.0.6, 256 bits), software)";
 * when `auto` picked it, its reason follows the details, e.g. "backend: wasm (SIMD, 1 thread;
 * auto: no tfjs-node; webgpu adapter is software (llvmpipe), not used)".
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
  if (info.software !== undefined) details.push("software");
  const parts = [details.join(", ")];
  if (info.requested === "auto") parts.push(info.auto ?? "auto");
  const inner = parts.filter((p) => p !== "").join("; ");
  return `backend: ${info.name}${inner ? ` (${inner})` : ""}`;
}
