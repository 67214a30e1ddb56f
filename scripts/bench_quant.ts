/**
 * `deno task bench:quant`: throughput and quality of every quantizer + coder
 * on 64 MiB of fp32 gradient-like data (normal, with a few heavy rows), with
 * a memcpy of the same bytes timed in the same run as the reference.
 *
 * Encode is the send path, `quantizeEncode` into a frame buffer reused from
 * one repetition to the next (`--path separate`: `encode(quantize())` with
 * fresh arrays each time, as before the fused path existed).
 *
 * Prints a table; `--json` prints one JSON object per line instead. Results
 * are also written to `bench-results/bench_quant.jsonl` (or `--out FILE`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  type CoderName,
  CODERS,
  decodeInto,
  encode,
  quantizeEncode,
} from "../runtime/coding/codec.ts";
import { createQuantizer } from "../runtime/quant/registry.ts";
import { LayerwiseQuantizer } from "../runtime/quant/layerwise.ts";
import { SCHEMES } from "../runtime/quant/types.ts";
import type { LayerInfo, Quantizer } from "../runtime/quant/types.ts";
import { Rng } from "../runtime/rng.ts";

const HELP = `deno task bench:quant [options]

Quantize+encode and decode+dequantize throughput of every scheme, against a
memcpy of the same bytes timed in the same run.

Options:
  --mib N          size of the fp32 test vector in MiB (default 64)
  --schemes LIST   comma-separated schemes (default all: ${SCHEMES.join(",")})
  --bits LIST      comma-separated bit widths (default 2,4,8; fp32/fp16 run once)
  --coder NAME     ${CODERS.join("|")}|all (default fixed)
  --bucket N       bucket size for maxmin/qsgd/layerwise (default 1024)
  --row N          row length for the matrix view used by ptq/psq/bhq (default 4096)
  --reps N         timed repetitions per case, the median is kept (default 3)
  --path P         fused: quantizeEncode() into a reused frame buffer (default);
                   separate: encode(quantize()), new arrays each time
  --seed N         data seed (default 1)
  --json           one JSON object per line instead of the table
  --out FILE       also write JSON lines here (default bench-results/bench_quant.jsonl)
  --help           this text`;

/** One measured configuration. */
export interface QuantBenchRow {
  scheme: string;
  bits: number;
  coder: string;
  bucket: number;
  mib: number;
  encode_gbps: number;
  decode_gbps: number;
  memcpy_gbps: number;
  encode_vs_memcpy: number;
  decode_vs_memcpy: number;
  bits_per_coord: number;
  eps_q: number;
  encode_ms: number;
  decode_ms: number;
  path: string;
}

function fail(msg: string): never {
  console.error(`error: ${msg}\n\n${HELP}`);
  Deno.exit(2);
}

function intList(s: string, flag: string): number[] {
  return s.split(",").map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n <= 0) fail(`${flag}: '${x}' is not a positive integer`);
    return n;
  });
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Times `f` `reps` times after one warm-up run; returns the median in ms. */
function time(f: () => void, reps: number): number {
  f();
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
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

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      args: Deno.args,
      strict: true,
      options: {
        mib: { type: "string", default: "64" },
        schemes: { type: "string", default: SCHEMES.join(",") },
        bits: { type: "string", default: "2,4,8" },
        coder: { type: "string", default: "fixed" },
        bucket: { type: "string", default: "1024" },
        row: { type: "string", default: "4096" },
        reps: { type: "string", default: "3" },
        path: { type: "string", default: "fused" },
        seed: { type: "string", default: "1" },
        json: { type: "boolean", default: false },
        out: { type: "string", default: "bench-results/bench_quant.jsonl" },
        help: { type: "boolean", default: false },
      },
    }).values;
  } catch (e) {
    fail((e as Error).message);
  }
  if (args.help) {
    console.log(HELP);
    return;
  }
  const [mib] = intList(args.mib!, "--mib");
  const [bucket] = intList(args.bucket!, "--bucket");
  const [row] = intList(args.row!, "--row");
  const [reps] = intList(args.reps!, "--reps");
  const [seed] = intList(args.seed!, "--seed");
  const bitsList = intList(args.bits!, "--bits");
  const schemes = args.schemes!.split(",");
  for (const s of schemes) {
    if (!(SCHEMES as readonly string[]).includes(s)) {
      fail(`--schemes: unknown scheme '${s}'; valid: ${SCHEMES.join(", ")}`);
    }
  }
  const path = args.path!;
  if (path !== "fused" && path !== "separate") fail(`--path: '${path}' is not fused or separate`);
  const coders: CoderName[] = args.coder === "all" ? [...CODERS] : [args.coder as CoderName];
  for (const c of coders) {
    if (!(CODERS as readonly string[]).includes(c)) {
      fail(`--coder: unknown coder '${c}'; valid: ${CODERS.join(", ")}, all`);
    }
  }

  const n = Math.floor((mib * 1024 * 1024) / 4 / row) * row;
  const v = gradientLike(n, row, seed);
  const layer: LayerInfo = { name: "bench/kernel", shape: [n / row, row] };
  let sqNorm = 0;
  for (let i = 0; i < n; i++) sqNorm += v[i] * v[i];
  const src = new Uint8Array(v.buffer);
  const dst = new Uint8Array(src.length);
  const out = new Float32Array(n);
  const rng = new Rng(seed + 1);
  const rows: QuantBenchRow[] = [];
  const lines: string[] = [];
  if (!args.json) {
    console.log(
      `bench:quant — ${(n * 4 / 2 ** 20).toFixed(0)} MiB fp32, bucket ${bucket}, ` +
        `row ${row}, median of ${reps}, ${path} encode; GB/s of fp32 input\n`,
    );
    console.log(
      "scheme     bits coder  enc GB/s  dec GB/s  memcpy GB/s  enc/memcpy  dec/memcpy  bits/coord  eps_q",
    );
  }

  for (const scheme of schemes) {
    const widths = scheme === "none" ? [32] : scheme === "fp16" ? [16] : bitsList;
    for (const bits of widths) {
      for (const coder of coders) {
        if ((scheme === "none" || scheme === "fp16") && coder !== "fixed") continue;
        if ((scheme === "qsgd" || scheme === "layerwise") && bits < 2) continue;
        const q: Quantizer = createQuantizer({ scheme, bits, bucketSize: bucket, rowLength: row });
        if (q instanceof LayerwiseQuantizer) {
          // Levels adapted to this data, as they would be after warm-up.
          q.quantize(v, rng, layer);
          q.adaptNow();
        }
        const memcpyMs = time(() => dst.set(src), Math.max(5, reps));
        let bytes: Uint8Array = new Uint8Array(0);
        let frameBuf: Uint8Array = new Uint8Array(0);
        const encMs = time(
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
        const decMs = time(() => {
          decodeInto(bytes, q, out);
        }, reps);
        let err = 0;
        for (let i = 0; i < n; i++) err += (out[i] - v[i]) ** 2;
        const gb = (n * 4) / 1e9;
        const r: QuantBenchRow = {
          scheme,
          bits: bytes[5],
          coder,
          bucket,
          mib: (n * 4) / 2 ** 20,
          encode_gbps: gb / (encMs / 1e3),
          decode_gbps: gb / (decMs / 1e3),
          memcpy_gbps: gb / (memcpyMs / 1e3),
          encode_vs_memcpy: memcpyMs / encMs,
          decode_vs_memcpy: memcpyMs / decMs,
          bits_per_coord: (bytes.length * 8) / n,
          eps_q: err / sqNorm,
          encode_ms: encMs,
          decode_ms: decMs,
          path,
        };
        rows.push(r);
        const line = JSON.stringify(r);
        lines.push(line);
        if (args.json) console.log(line);
        else {
          console.log(
            `${scheme.padEnd(10)} ${String(r.bits).padStart(4)} ${coder.padEnd(6)} ` +
              `${r.encode_gbps.toFixed(3).padStart(8)}  ${r.decode_gbps.toFixed(3).padStart(8)}  ` +
              `${r.memcpy_gbps.toFixed(2).padStart(11)}  ${
                r.encode_vs_memcpy.toFixed(3).padStart(10)
              }  ` +
              `${r.decode_vs_memcpy.toFixed(3).padStart(10)}  ${
                r.bits_per_coord.toFixed(3).padStart(10)
              }  ` +
              `${r.eps_q.toExponential(2)}`,
          );
        }
      }
    }
  }
  if (args.out) {
    const dir = args.out.includes("/") ? args.out.slice(0, args.out.lastIndexOf("/")) : ".";
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(args.out, lines.join("\n") + "\n");
  }
  const lw = rows.find((r) => r.scheme === "layerwise" && r.bits === 4 && r.coder === "fixed");
  if (lw && !args.json) {
    const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
    console.log(
      `\nlayerwise 4-bit targets: encode ${lw.encode_vs_memcpy.toFixed(3)}× memcpy (≥ 0.3: ` +
        `${verdict(lw.encode_vs_memcpy >= 0.3)}), decode ${lw.decode_vs_memcpy.toFixed(3)}× ` +
        `(≥ 0.5: ${verdict(lw.decode_vs_memcpy >= 0.5)}), ${lw.bits_per_coord.toFixed(3)} ` +
        `bits/coord (≤ 4.2: ${verdict(lw.bits_per_coord <= 4.2)})`,
    );
  }
  if (args.out && !args.json) console.log(`results: ${args.out}`);
}

if (import.meta.main) await main();
