/**
 * `deno task bench:quant`: throughput and quality of every quantizer + coder
 * on 64 MiB of fp32 gradient-like data (normal, with a few heavy rows), with
 * a memcpy of the same bytes timed in the same run as the reference.
 *
 * Encode is the send path, `quantizeEncode` into a frame buffer reused from
 * one repetition to the next (`--path separate`: `encode(quantize())` with
 * fresh arrays each time, as before the fused path existed). Decode is
 * `decodeInto` a reused array; decode+add is the reduce-scatter's receive,
 * `decodeAddInto` a running sum (`--path separate`: `decodeInto` a scratch
 * array, then a JS loop adds it, as the ring did before the fused kernel).
 * The vector, the decode target and the running sum live in the kernels' own
 * memory (`kernelArena`), as a training worker's buffer does, unless
 * `--memory plain`. Every sign-magnitude case (`qsgd`, `layerwise`) runs
 * once per quantize kernel (`--kernels`): the native one where it loads, and
 * the WebAssembly one.
 *
 * Each timed repetition runs right after a timed memcpy of the vector, and
 * a ratio to memcpy is the median of the repetitions' ratios, so a slow
 * phase of a shared machine weighs on both sides of a ratio alike.
 *
 * Prints a table; `--json` prints one JSON object per line instead. Results
 * are also written to `bench-results/bench_quant.jsonl` (or `--out FILE`).
 *
 * @module
 */
import {
  type CoderName,
  CODERS,
  decodeAddInto,
  decodeInto,
  encode,
  quantizeEncode,
} from "../runtime/coding/codec.ts";
import { createQuantizer } from "../runtime/quant/registry.ts";
import { LayerwiseQuantizer } from "../runtime/quant/layerwise.ts";
import { SCHEMES } from "../runtime/quant/types.ts";
import type { LayerInfo, Quantizer } from "../runtime/quant/types.ts";
import { Rng } from "../runtime/rng.ts";
import { kernelArena } from "../runtime/kernels/kernels.ts";
import {
  nativeKernelStatus,
  nativeQuantKernel,
  setNativeKernel,
} from "../runtime/kernels/native.ts";
import {
  type Command,
  type FlagTable,
  type FlagValues,
  HELP_FLAG,
  helpText,
  parseFlags,
  runCli,
} from "./_cli.ts";
import { Progress } from "./_progress.ts";
import { writeResults } from "./_run_folder.ts";

/** The flags of `deno task bench:quant`. */
export const BENCH_QUANT_FLAGS = {
  mib: { type: "int", min: 1, default: 64, help: "size of the fp32 test vector in MiB" },
  schemes: {
    type: "string",
    list: true,
    choices: SCHEMES,
    default: [...SCHEMES],
    defaultHelp: "all",
    help: "schemes",
  },
  bits: {
    type: "int",
    list: true,
    min: 1,
    max: 16,
    default: [2, 4, 8],
    help: "bit widths (fp32/fp16 run once)",
  },
  coder: {
    type: "string",
    choices: [...CODERS, "all"],
    default: "fixed",
    help: "message coder, or all of them",
  },
  kernels: {
    type: "string",
    list: true,
    choices: ["native", "wasm"],
    default: ["native", "wasm"],
    defaultHelp: "native (where it loads) and wasm",
    help: "quantize kernels to time for qsgd and layerwise (native: deno task build:native)",
  },
  bucket: { type: "int", min: 1, default: 1024, help: "bucket size for maxmin/qsgd/layerwise" },
  row: { type: "int", min: 1, default: 4096, help: "row length of the matrix view (ptq/psq/bhq)" },
  reps: { type: "int", min: 1, default: 3, help: "timed repetitions per case, the median is kept" },
  path: {
    type: "string",
    choices: ["fused", "separate"],
    default: "fused",
    help: "fused: quantizeEncode() into a reused frame buffer; separate: encode(quantize()), " +
      "new arrays each time",
  },
  memory: {
    type: "string",
    choices: ["arena", "plain"],
    default: "arena",
    help: "arena: the vector, the decode target and the running sum live in the kernels' own " +
      "memory (kernelArena, as a training worker's buffer does), so they are read and written in " +
      "place; plain: ordinary arrays, copied through the kernels' scratch",
  },
  seed: { type: "int", min: 0, default: 1, help: "data seed" },
  json: { type: "boolean", help: "one JSON object per line instead of the table" },
  out: {
    type: "string",
    value: "FILE",
    default: "bench-results/bench_quant.jsonl",
    help: "also write JSON lines here",
  },
  ...HELP_FLAG,
} as const satisfies FlagTable;

type BenchQuantCli = FlagValues<typeof BENCH_QUANT_FLAGS>;

function help(): string {
  return helpText({
    usage: "deno task bench:quant [flags]",
    about: "Quantize+encode and decode+dequantize throughput of every scheme, against a\n" +
      "memcpy of the same bytes timed in the same run.",
    flags: BENCH_QUANT_FLAGS,
  });
}

/** One measured configuration. */
export interface QuantBenchRow {
  scheme: string;
  bits: number;
  coder: string;
  /** The quantize kernel: `native`, `wasm`, or `-` for schemes that use neither. */
  kernel: string;
  bucket: number;
  mib: number;
  encode_gbps: number;
  decode_gbps: number;
  /** Decode, dequantize and add to a running sum. */
  decode_add_gbps: number;
  memcpy_gbps: number;
  encode_vs_memcpy: number;
  decode_vs_memcpy: number;
  decode_add_vs_memcpy: number;
  bits_per_coord: number;
  eps_q: number;
  encode_ms: number;
  decode_ms: number;
  decode_add_ms: number;
  path: string;
  /** Where the vector, the decode target and the running sum live: `arena` or `plain`. */
  memory: string;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
}

/**
 * Times `f` `reps` times after one warm-up run, each time right after `ref`
 * (run twice, the second timed, so that it finds the caches as a run of its
 * own would): the medians of both (ms) and the median of the ratios ref / f.
 */
function timeVs(
  ref: () => void,
  f: () => void,
  reps: number,
): { ms: number; refMs: number; ratio: number } {
  f();
  const ts: number[] = [], refs: number[] = [], ratios: number[] = [];
  for (let r = 0; r < reps; r++) {
    ref();
    const t0 = performance.now();
    ref();
    const t1 = performance.now();
    f();
    const t2 = performance.now();
    refs.push(t1 - t0);
    ts.push(t2 - t1);
    ratios.push((t1 - t0) / (t2 - t1));
  }
  return { ms: median(ts), refMs: median(refs), ratio: median(ratios) };
}

/** Normal data, with 1 row in 64 scaled ×30 (heavy rows, as in real gradients). */
export function gradientLike(n: number, row: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  for (let r = 0; r * row < n; r += 64) {
    for (let i = r * row; i < Math.min(n, (r + 1) * row); i++) v[i] *= 30;
  }
  return v;
}

async function run(args: BenchQuantCli): Promise<void> {
  const { mib, bucket, row, reps, seed, path } = args;
  const bitsList = args.bits;
  const schemes = args.schemes;
  const coders: CoderName[] = args.coder === "all" ? [...CODERS] : [args.coder];

  const n = Math.floor((mib * 1024 * 1024) / 4 / row) * row;
  const array = (len: number) => args.memory === "plain" ? new Float32Array(len) : kernelArena(len);
  const v = array(n);
  v.set(gradientLike(n, row, seed));
  const layer: LayerInfo = { name: "bench/kernel", shape: [n / row, row] };
  let sqNorm = 0;
  for (let i = 0; i < n; i++) sqNorm += v[i] * v[i];
  const src = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const dst = new Uint8Array(src.length);
  const out = array(n);
  const acc = array(n);
  const rng = new Rng(seed + 1);
  const rows: QuantBenchRow[] = [];
  const lines: string[] = [];
  const native = args.kernels.includes("native");
  if (native && !nativeQuantKernel() && args.kernels.length === 1) {
    throw new Error(`--kernels native: ${nativeKernelStatus()}`);
  }
  const kernelsRun = args.kernels.filter((k) => k === "wasm" || nativeQuantKernel() !== null);
  const cases: { scheme: string; bits: number; coder: CoderName; kernel: string }[] = [];
  for (const scheme of schemes) {
    const widths = scheme === "none" ? [32] : scheme === "fp16" ? [16] : bitsList;
    for (const bits of widths) {
      for (const coder of coders) {
        if ((scheme === "none" || scheme === "fp16") && coder !== "fixed") continue;
        if ((scheme === "qsgd" || scheme === "layerwise") && bits < 2) continue;
        const signMagnitude = scheme === "qsgd" || scheme === "layerwise";
        for (const kernel of signMagnitude ? kernelsRun : ["-"]) {
          cases.push({ scheme, bits, coder, kernel });
        }
      }
    }
  }
  // One line redrawn in place on a terminal; the table rows are the plain output.
  const progress = new Progress({ total: cases.length, unit: "case" });
  const say = (line: string) => progress.log(line);
  if (!args.json) {
    say(
      `bench:quant — ${(n * 4 / 2 ** 20).toFixed(0)} MiB fp32, bucket ${bucket}, ` +
        `row ${row}, median of ${reps}, ${path} encode, ${args.memory} memory; GB/s of fp32 input\n` +
        `native kernel: ${nativeKernelStatus()}\n`,
    );
    say(
      "scheme     bits coder  kernel  enc GB/s  dec GB/s  memcpy GB/s  enc/memcpy  dec/memcpy  " +
        "dec+add/memcpy  bits/coord  eps_q",
    );
  }

  try {
    for (const [done, { scheme, bits, coder, kernel }] of cases.entries()) {
      progress.tick(done, `${scheme} ${bits}-bit ${coder} ${kernel}`);
      setNativeKernel(kernel !== "wasm");
      const q: Quantizer = createQuantizer({ scheme, bits, bucketSize: bucket, rowLength: row });
      if (q instanceof LayerwiseQuantizer) {
        // Levels adapted to this data, as they would be after warm-up.
        q.quantize(v, rng, layer);
        q.adaptNow();
      }
      const memcpy = () => dst.set(src);
      let bytes: Uint8Array = new Uint8Array(0);
      let frameBuf: Uint8Array = new Uint8Array(0);
      const enc = timeVs(
        memcpy,
        path === "fused"
          ? () => {
            bytes = quantizeEncode(q, v, rng, { layer, coder, out: frameBuf });
            if (bytes.buffer !== frameBuf.buffer) frameBuf = new Uint8Array(bytes.buffer);
          }
          : () => {
            bytes = encode(q.quantize(v, rng, layer), coder);
          },
        reps,
      );
      const dec = timeVs(memcpy, () => {
        decodeInto(bytes, q, out);
      }, reps);
      acc.fill(0);
      const decAdd = timeVs(
        memcpy,
        path === "fused" ? () => decodeAddInto(bytes, q, acc) : () => {
          decodeInto(bytes, q, out);
          for (let i = 0; i < n; i++) acc[i] += out[i];
        },
        reps,
      );
      const encMs = enc.ms, decMs = dec.ms, decAddMs = decAdd.ms;
      const memcpyMs = median([enc.refMs, dec.refMs, decAdd.refMs]);
      let err = 0;
      for (let i = 0; i < n; i++) err += (out[i] - v[i]) ** 2;
      const gb = (n * 4) / 1e9;
      const r: QuantBenchRow = {
        scheme,
        bits: bytes[5],
        coder,
        kernel,
        bucket,
        mib: (n * 4) / 2 ** 20,
        encode_gbps: gb / (encMs / 1e3),
        decode_gbps: gb / (decMs / 1e3),
        decode_add_gbps: gb / (decAddMs / 1e3),
        memcpy_gbps: gb / (memcpyMs / 1e3),
        encode_vs_memcpy: enc.ratio,
        decode_vs_memcpy: dec.ratio,
        decode_add_vs_memcpy: decAdd.ratio,
        bits_per_coord: (bytes.length * 8) / n,
        eps_q: err / sqNorm,
        encode_ms: encMs,
        decode_ms: decMs,
        decode_add_ms: decAddMs,
        path,
        memory: args.memory,
      };
      rows.push(r);
      const line = JSON.stringify(r);
      lines.push(line);
      if (args.json) say(line);
      else {
        say(
          `${scheme.padEnd(10)} ${String(r.bits).padStart(4)} ${coder.padEnd(6)} ` +
            `${kernel.padEnd(6)} ` +
            `${r.encode_gbps.toFixed(3).padStart(8)}  ${r.decode_gbps.toFixed(3).padStart(8)}  ` +
            `${r.memcpy_gbps.toFixed(2).padStart(11)}  ${
              r.encode_vs_memcpy.toFixed(3).padStart(10)
            }  ` +
            `${r.decode_vs_memcpy.toFixed(3).padStart(10)}  ` +
            `${r.decode_add_vs_memcpy.toFixed(3).padStart(14)}  ${
              r.bits_per_coord.toFixed(3).padStart(10)
            }  ` +
            `${r.eps_q.toExponential(2)}`,
        );
      }
    }
  } finally {
    progress.done();
  }
  if (args.out) {
    await writeResults(args.out, lines);
  }
  for (const lw of rows) {
    if (lw.scheme !== "layerwise" || lw.bits !== 4 || lw.coder !== "fixed" || args.json) continue;
    const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
    console.log(
      `\nlayerwise 4-bit targets, ${lw.kernel} kernel: encode ${lw.encode_vs_memcpy.toFixed(3)}× ` +
        `memcpy (≥ 0.5: ${verdict(lw.encode_vs_memcpy >= 0.5)}), decode ` +
        `${lw.decode_vs_memcpy.toFixed(3)}× (≥ 0.5: ${verdict(lw.decode_vs_memcpy >= 0.5)}), ` +
        `decode+add ${lw.decode_add_vs_memcpy.toFixed(3)}× (≥ 0.7: ${
          verdict(lw.decode_add_vs_memcpy >= 0.7)
        }), ${lw.bits_per_coord.toFixed(3)} bits/coord (≤ 4.2: ${
          verdict(lw.bits_per_coord <= 4.2)
        })`,
    );
  }
  if (args.out && !args.json) console.log(`results: ${args.out}`);
}

/** The bench:quant command. */
export const BENCH_QUANT_COMMAND: Command<BenchQuantCli> = {
  name: "deno task bench:quant",
  help,
  parse: (args) => parseFlags(args, BENCH_QUANT_FLAGS).values,
  run,
};

/** Runs the benchmark; returns the exit code. */
export function main(args: string[]): Promise<number> {
  return runCli(args, BENCH_QUANT_COMMAND);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
