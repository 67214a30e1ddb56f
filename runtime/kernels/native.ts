/**
 * The optional native kernels: `quant_native.c` (sign-magnitude quantize +
 * pack, and the integer all-reduce's hop, receive and bucket maxima, with
 * AVX-512), built by `deno task build:native` into
 * `runtime/kernels/quant_native.so` and called through Deno's FFI.
 * {@linkcode Kernels.smQuantizeInto}, {@linkcode Kernels.gridHop},
 * {@linkcode Kernels.gridUnpackDequantize} and
 * {@linkcode Kernels.bucketMaxAbs} use them when the library is there, the
 * CPU has AVX-512 and the process may use FFI (`-A` or `--allow-ffi`);
 * every other kernel runs in WebAssembly. `QODA_NATIVE_KERNEL=0`
 * turns it off; `QODA_NATIVE_KERNEL=PATH` loads the library from PATH (and
 * an error there is reported, not skipped).
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { GridFault, GridHop, SmQuantizeResult } from "./types.ts";

/** Version of the library's interface that this wrapper speaks (`nq_abi`). */
const ABI = 1;
/** Words of random-stream state (`STATE_WORDS` in the C source). */
const STATE_WORDS = 68;

const SYMBOLS = {
  nq_abi: { parameters: [], result: "i32" },
  nq_source: { parameters: [], result: "pointer" },
  nq_supported: { parameters: [], result: "i32" },
  nq_seed: { parameters: ["buffer", "u32", "u32"], result: "void" },
  nq_quantize: {
    parameters: [
      "buffer", // x
      "i32", // n
      "i32", // bucket
      "i32", // kind
      "buffer", // levels
      "i32", // nlev
      "buffer", // norms
      "buffer", // codes
      "buffer", // packed
      "i32", // bits
      "buffer", // hist
      "i32", // hb
      "buffer", // hcount
      "buffer", // state
      "buffer", // stats
    ],
    result: "i32",
  },
  nq_grid_hop: {
    parameters: [
      "buffer", // x
      "i32", // n
      "buffer", // scales
      "i32", // bucket
      "i32", // top
      "buffer", // in
      "i32", // w_in
      "i32", // bias_in
      "buffer", // out
      "i32", // w_out
      "buffer", // dec
      "f64", // divisor
      "buffer", // state
      "f32", // floor
      "f32", // limit
    ],
    result: "i32",
  },
  nq_grid_unpack_dequantize: {
    parameters: [
      "buffer", // in
      "i32", // n
      "i32", // w
      "i32", // bias
      "buffer", // scales
      "i32", // bucket
      "i32", // top
      "f64", // divisor
      "buffer", // dec
      "buffer", // state
    ],
    result: "i32",
  },
  nq_bucket_max_abs: { parameters: ["buffer", "i32", "i32", "buffer"], result: "void" },
} as const;

/** The default library: next to this module, when it is a local file. */
const DEFAULT_LIBRARY = new URL("./quant_native.so", import.meta.url);
/** The C source, whose hash a library must carry. */
const SOURCE = new URL("./quant_native.c", import.meta.url);

/**
 * The first 16 hex digits of the SHA-256 of the C source next to this
 * module, or null where it cannot be read (then any build is taken).
 */
function sourceHash(): string | null {
  try {
    return createHash("sha256").update(Deno.readFileSync(SOURCE)).digest("hex").slice(0, 16);
  } catch {
    return null;
  }
}

/**
 * Throws a RangeError unless `a` holds at least `need` elements: the native
 * kernels write and read through raw pointers, so a short array must be
 * refused before the call, as the WebAssembly path's copies refuse it.
 */
function fits(a: ArrayBufferView & { length: number }, need: number, what: string): void {
  if (a.length < need) {
    throw new RangeError(
      `native kernel: ${what} holds ${a.length} elements, the call needs ${need}`,
    );
  }
}

/** The native kernel, loaded. Get the process's with {@linkcode nativeQuantKernel}. */
export class NativeQuantKernel {
  readonly #lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  readonly #state = new Uint32Array(STATE_WORDS);
  readonly #stats = new Float64Array(2);
  /** The shared-grid hop's four stream states, then a faulty lane's value. */
  readonly #gridState = new Int32Array(8);
  #hcount = new Uint32Array(0);
  /** Where the library was loaded from. */
  readonly path: string;

  /**
   * Loads the library at `path`. Throws an error that names the path and
   * what is wrong: no such file, no FFI permission, another interface
   * version, a build from another version of `quant_native.c`, or a CPU
   * without the AVX-512 extensions it was built for.
   */
  constructor(path: string | URL) {
    this.path = path instanceof URL ? decodeURIComponent(path.pathname) : path;
    let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      lib = Deno.dlopen(path, SYMBOLS);
    } catch (e) {
      throw new Error(`native kernel ${this.path}: ${(e as Error).message}`, { cause: e });
    }
    const abi = lib.symbols.nq_abi();
    if (abi !== ABI) {
      lib.close();
      throw new Error(
        `native kernel ${this.path}: interface ${abi}, this wrapper speaks ${ABI}; ` +
          `rebuild it with deno task build:native`,
      );
    }
    const built = Deno.UnsafePointerView.getCString(lib.symbols.nq_source()!);
    const source = sourceHash();
    if (source !== null && built !== source) {
      lib.close();
      throw new Error(
        `native kernel ${this.path}: built from another version of quant_native.c ` +
          `(${built}; the source is ${source}); rebuild it with deno task build:native`,
      );
    }
    if (lib.symbols.nq_supported() !== 1) {
      lib.close();
      throw new Error(
        `native kernel ${this.path}: this CPU lacks the AVX-512 extensions it was built for ` +
          `(F, BW, DQ, VL, and VBMI where the building CPU had it)`,
      );
    }
    this.#lib = lib;
  }

  /**
   * Whether {@linkcode NativeQuantKernel.quantize} takes these arguments:
   * buckets of 16k coordinates, 2 to 16 levels, level statistics of every
   * 8th coordinate (or none). It does not depend on the output, so codes and
   * packed bytes of one input always come from the same kernel.
   */
  takes(bucket: number, nlev: number, histStride: number | undefined): boolean {
    return bucket > 0 && bucket % 16 === 0 && nlev >= 2 && nlev <= 16 &&
      (histStride === undefined || histStride === 8);
  }

  /** Whether {@linkcode NativeQuantKernel.quantize} packs `bits` itself (else: codes, then packing). */
  packs(bits: number, nlev: number): boolean {
    return (bits === 4 || bits === 8) && 2 * nlev <= 2 ** bits;
  }

  /**
   * Sign-magnitude stochastic rounding of `v` (see `quant_native.c`), seeded
   * by the two words `a` and `b`: norms to `norms`, codes to `codes` or
   * packed `bits` bits each into `packed` from its first byte, every 8th
   * normalized coordinate added to `hist`.
   */
  quantize(
    v: Float32Array,
    bucket: number,
    kind: 0 | 2,
    levels: Float32Array,
    a: number,
    b: number,
    norms: Float32Array,
    codes: Uint16Array | null,
    packed: Uint8Array | null,
    bits: number,
    hist: Float64Array | null,
  ): SmQuantizeResult {
    // Nothing to do; and FFI passes an empty array as a null pointer.
    if (v.length === 0) return { sqError: 0, sqNorm: 0, badBucket: -1 };
    const n = v.length;
    fits(norms, Math.ceil(n / bucket), "norms");
    if (codes) fits(codes, n, "codes");
    if (packed) fits(packed, Math.ceil((n * bits) / 8), "packed");
    const s = this.#lib.symbols;
    const hb = hist ? hist.length : 0;
    if (this.#hcount.length < 2 * hb) this.#hcount = new Uint32Array(2 * hb);
    s.nq_seed(this.#state, a >>> 0, b >>> 0);
    const bad = s.nq_quantize(
      v,
      v.length,
      bucket,
      kind,
      levels,
      levels.length,
      norms,
      codes,
      packed,
      bits,
      hist,
      hb,
      hist ? this.#hcount : null,
      this.#state,
      this.#stats,
    );
    if (bad === -2) {
      throw new Error(
        `native kernel: arguments it does not take (bucket ${bucket}, ${levels.length} levels, ` +
          `${bits} bits)`,
      );
    }
    if (bad >= 0) return { sqError: NaN, sqNorm: NaN, badBucket: bad };
    return { sqError: this.#stats[0], sqNorm: this.#stats[1], badBucket: -1 };
  }

  /**
   * One hop of the integer all-reduce, `grid_hop` of `quant_kernels.c` to
   * the bit (the same draws, sums, lanes and first fault); see
   * {@linkcode Kernels.gridHop}. Returns null, or where it stopped.
   */
  gridHop(h: GridHop): GridFault | null {
    const n = h.x.length;
    if (n === 0) return null;
    fits(h.scales, Math.ceil(n / h.bucket), "scales");
    if (h.lanesIn) fits(h.lanesIn, Math.ceil((n * h.wIn) / 8), "lanesIn");
    if (h.lanesOut) fits(h.lanesOut, Math.ceil((n * h.wOut) / 8), "lanesOut");
    if (h.decoded) fits(h.decoded, n, "decoded");
    const state = this.#gridState;
    state.set(h.streams);
    const bad = this.#lib.symbols.nq_grid_hop(
      h.x,
      n,
      h.scales,
      h.bucket,
      h.top,
      h.lanesIn,
      h.wIn,
      h.biasIn,
      h.lanesOut,
      h.wOut,
      h.decoded,
      h.divisor,
      state,
      h.floor,
      h.limit,
    );
    if (bad >= 0) return { index: bad >> 1, lane: bad & 1 ? state[4] >>> 0 : null };
    h.streams.set(state.subarray(0, 4));
    return null;
  }

  /**
   * The integer all-reduce's all-gather receive, `grid_unpack_dequantize`
   * of `quant_kernels.c` to the bit; see {@linkcode Kernels.gridUnpackDequantize}.
   * Returns null, or the first lane above 2·bias.
   */
  gridUnpackDequantize(
    lanes: Uint8Array,
    w: number,
    bias: number,
    scales: Float32Array,
    bucket: number,
    top: number,
    divisor: number,
    out: Float32Array,
  ): GridFault | null {
    const n = out.length;
    if (n === 0) return null;
    fits(lanes, Math.ceil((n * w) / 8), "lanes");
    fits(scales, Math.ceil(n / bucket), "scales");
    const state = this.#gridState;
    const bad = this.#lib.symbols.nq_grid_unpack_dequantize(
      lanes,
      out.length,
      w,
      bias,
      scales,
      bucket,
      top,
      divisor,
      out,
      state,
    );
    return bad < 0 ? null : { index: bad, lane: state[4] >>> 0 };
  }

  /** The largest |x| of each bucket into `out`, as `bucket_max_abs` of `quant_kernels.c`. */
  bucketMaxAbs(x: Float32Array, bucket: number, out: Float32Array): void {
    if (x.length === 0) return;
    fits(out, Math.ceil(x.length / bucket), "out");
    this.#lib.symbols.nq_bucket_max_abs(x, x.length, bucket, out);
  }

  /** Unloads the library; the kernel must not be used afterwards. */
  close(): void {
    this.#lib.close();
  }
}

let loaded: NativeQuantKernel | null | undefined;
let why = "";

/**
 * The process's native kernel, loaded on first use, or null (then
 * {@linkcode nativeKernelStatus} says why). Throws when
 * `QODA_NATIVE_KERNEL` names a library that does not load.
 *
 * @example
 * ```ts
 * import { nativeKernelStatus, nativeQuantKernel } from "./native.ts";
 * const k = nativeQuantKernel();
 * if ((k === null) !== nativeKernelStatus().startsWith("wasm")) throw new Error("one status");
 * ```
 */
export function nativeQuantKernel(): NativeQuantKernel | null {
  if (loaded !== undefined) return loaded;
  let env: string | undefined;
  try {
    env = Deno.env.get("QODA_NATIVE_KERNEL");
  } catch {
    env = undefined; // no --allow-env: the default
  }
  if (env === "0" || env === "off") {
    why = "QODA_NATIVE_KERNEL=0";
    return loaded = null;
  }
  if (env) return loaded = new NativeQuantKernel(env);
  if (DEFAULT_LIBRARY.protocol !== "file:") {
    why = "the module is not a local file";
    return loaded = null;
  }
  try {
    Deno.statSync(DEFAULT_LIBRARY);
  } catch (e) {
    why = e instanceof Deno.errors.NotFound
      ? "not built (deno task build:native)"
      : (e as Error).message;
    return loaded = null;
  }
  try {
    return loaded = new NativeQuantKernel(DEFAULT_LIBRARY);
  } catch (e) {
    // Built but not usable (a stale build, another CPU): worth a line, once.
    why = (e as Error).message;
    console.warn(`qoda-ring: ${why}; quantizing in WebAssembly`);
    return loaded = null;
  }
}

let enabled = true;

/**
 * Turns the native kernel off (false) or back on (true) for this isolate,
 * so that the WebAssembly kernel runs even where the library loads: the
 * benchmarks time both, the tests pin one. Returns the previous setting.
 */
export function setNativeKernel(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** The native kernel that quantization uses now: loaded and not turned off, else null. */
export function activeNativeKernel(): NativeQuantKernel | null {
  return enabled ? nativeQuantKernel() : null;
}

/**
 * Which quantize kernel runs, in a line: `native AVX-512 (PATH)`, or
 * `wasm SIMD128 (why not native)`.
 */
export function nativeKernelStatus(): string {
  const k = nativeQuantKernel();
  if (k && !enabled) return "wasm SIMD128 (native turned off)";
  return k ? `native AVX-512 (${k.path})` : `wasm SIMD128 (${why})`;
}
