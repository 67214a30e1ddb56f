/**
 * One rank of a TCP ring running all-reduces on generated data: the process
 * that the multi-process tests and `bench:allreduce` start once per rank.
 *
 * Every rank can regenerate every rank's input (seeded by rank), so `--check`
 * verifies the result against the exact float64 sum without extra traffic.
 * Prints one JSON object per line: `{"event":"ready",…}` once the ring is
 * formed, one `{"event":"result",…}` per size, or `{"event":"error",…}`
 * (exit code 1) naming what failed.
 *
 * @module
 */
import {
  allreduce,
  type AllreduceOptions,
  COMPRESSION_MODES,
  type CompressionOptions,
  type LayerSpan,
} from "../runtime/collective/allreduce.ts";
import { allreduceAuto, CollectiveTrials } from "../runtime/collective/auto.ts";
import { AllreduceTrace } from "../runtime/collective/trace.ts";
import { CollectiveError } from "../runtime/errors.ts";
import { createQuantizer } from "../runtime/quant/registry.ts";
import { Rng } from "../runtime/rng.ts";
import { kernelArena } from "../runtime/kernels/kernels.ts";
import { connectTcpRing } from "../runtime/collective/tcp_ring.ts";
import { SCHEMES } from "../runtime/quant/types.ts";
import {
  checkQuantFlags,
  type Command,
  type FlagTable,
  type FlagValues,
  HELP_FLAG,
  helpText,
  parseFlags,
  runCli,
  UsageError,
} from "./_cli.ts";

/** The flags of scripts/ring_rank.ts. */
export const RING_RANK_FLAGS = {
  rank: { type: "int", min: 0, required: true, value: "R", help: "this rank (0-based)" },
  peers: {
    type: "string",
    list: true,
    required: true,
    value: "HOST:PORT,…",
    help: "every rank's host:port in rank order",
  },
  secret: {
    type: "string",
    help: "shared secret (or QODA_RING_SECRET); required off loopback",
  },
  elements: {
    type: "int",
    list: true,
    min: 0,
    defaultHelp: "from --mib",
    help: "buffer sizes in float32 elements",
  },
  mib: { type: "number", list: true, min: 0, default: [1], help: "buffer sizes in MiB" },
  layers: {
    type: "int",
    list: true,
    min: 1,
    value: "N,N,…",
    help: "the buffer's layers in elements, in order (one buffer of their sum, instead of " +
      "--mib or --elements), as a model's variables cut it",
  },
  mode: {
    type: "string",
    choices: ["fp32", ...COMPRESSION_MODES, "auto"],
    default: "fp32",
    help: "float32 all-reduce, or compressed through the CGX ring, the all-gather or integer " +
      "sums; auto: training's trials (float32, integer, allgather) run first, untimed, and the " +
      "timed repetitions use the mode the ranks agreed on",
  },
  scheme: {
    type: "string",
    choices: SCHEMES,
    default: "layerwise",
    help: "quantizer of the ring and allgather modes",
  },
  bits: { type: "int", min: 1, max: 16, default: 4, help: "quantizer bits" },
  bucket: { type: "int", min: 1, default: 1024, help: "quantizer bucket size" },
  op: { type: "string", choices: ["sum", "mean"], default: "sum", help: "reduction" },
  iters: { type: "int", min: 1, default: 3, help: "timed repetitions, the median is reported" },
  warmup: { type: "int", min: 0, default: 1, help: "untimed repetitions first" },
  seed: { type: "int", min: 0, default: 1, help: "data seed" },
  "timeout-ms": { type: "int", min: 1, default: 30000, help: "per-operation deadline" },
  check: { type: "boolean", help: "verify the result against the exact sum" },
  link: { type: "string", default: "loopback", help: "label for the link in the output" },
  "segment-kib": {
    type: "number",
    above: 0,
    defaultHelp: "the all-reduce's: 1024 for float32, 512 KiB of codes compressed",
    help: "largest segment in KiB of float32 values",
  },
  trace: {
    type: "boolean",
    help: "time each phase (wall and thread CPU) of the timed operations; adds `trace` to results",
  },
  ...HELP_FLAG,
} as const satisfies FlagTable;

type RingRankCli = FlagValues<typeof RING_RANK_FLAGS>;

function help(): string {
  return helpText({
    usage: "deno run -A scripts/ring_rank.ts --rank R --peers HOST:PORT,HOST:PORT,... [flags]",
    about: "One rank of a TCP ring running all-reduces on generated data; prints one JSON\n" +
      "object per line (ready, one result per size, or error).",
    flags: RING_RANK_FLAGS,
  });
}

function parse(args: string[]): RingRankCli {
  const { values: a } = parseFlags(args, RING_RANK_FLAGS);
  if (a.rank >= a.peers.length) {
    throw new UsageError(
      `--rank: invalid value '${a.rank}': --peers lists ${a.peers.length} ranks (0..${
        a.peers.length - 1
      })`,
    );
  }
  if (a.mode !== "fp32") checkQuantFlags(a.scheme, a.bits, a.bucket);
  return a;
}

/** Rank r's input: deterministic normal data. */
function input(rank: number, n: number, seed: number): Float32Array {
  const rng = new Rng(seed * 1_000_003 + rank);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  return v;
}

/** The error event: what failed, and for collective errors the rank held responsible. */
function emitError(e: unknown, rank?: number): void {
  const err = e as Error;
  emit({
    event: "error",
    ...(rank === undefined ? {} : { rank }),
    name: err.name,
    code: e instanceof CollectiveError ? e.code : "",
    culprit: e instanceof CollectiveError ? e.culprit : -1,
    message: err.message,
  });
}

function emit(o: Record<string, unknown>): void {
  console.log(JSON.stringify(o, (_, v) => (typeof v === "bigint" ? v.toString() : v)));
}

async function run(a: RingRankCli): Promise<number> {
  const { rank, peers, mode } = a;
  const size = peers.length;
  const sizes = a.layers
    ? [a.layers.reduce((s, l) => s + l, 0)]
    : a.elements ?? a.mib.map((m) => Math.round((m * 2 ** 20) / 4));
  const layout = a.layers ? layersLayout(a.layers) : undefined;
  const { iters, warmup, seed, bits, bucket } = a;
  const timeoutMs = a["timeout-ms"];

  let ctx;
  try {
    ctx = await connectTcpRing({
      rank,
      peers,
      secret: a.secret,
      timeoutMs,
      connectTimeoutMs: timeoutMs,
      log: (line) => console.error(line),
    });
  } catch (e) {
    emitError(e);
    throw e;
  }
  emit({ event: "ready", rank, ranks: size, transport: ctx.transport });
  const quantizer = mode === "fp32"
    ? null
    : createQuantizer({ scheme: a.scheme, bits, bucketSize: bucket });
  const rng = new Rng(seed * 7919 + rank);
  const trace = a.trace ? new AllreduceTrace() : undefined;
  try {
    for (const n of sizes) {
      const data = input(rank, n, seed);
      const buf = kernelArena(n); // in the kernels' memory, as a training worker's buffer is
      const opts: AllreduceOptions = {
        op: a.op,
        layout,
        ...(a["segment-kib"] !== undefined
          ? { maxSegmentElements: Math.max(1, Math.floor((a["segment-kib"] * 1024) / 4)) }
          : {}),
        compression: quantizer && mode !== "auto"
          ? { mode: mode as CompressionOptions["mode"], rng, quantizerFor: () => quantizer }
          : undefined,
        trace,
      };
      // auto: the trials first (untimed), then every call in the agreed mode.
      const trials = mode === "auto" ? new CollectiveTrials() : null;
      let call = 0, chose: Record<string, unknown> = {};
      const once = async () => {
        if (!trials || !quantizer) return await allreduce(ctx, buf, opts);
        const c = await allreduceAuto(
          ctx,
          buf,
          { ...opts, compression: { rng, quantizerFor: () => quantizer } },
          trials,
          call++,
        );
        if (c.decided) chose = { chose: c.decided.choice, auto_ms: c.decided.perCall };
        return c.stats;
      };
      while (trials && call < trials.trialCalls) {
        buf.set(data);
        await once();
      }
      const times: number[] = [];
      let sent = 0, reduceMs = 0, encodeMs = 0;
      for (let it = 0; it < warmup + iters; it++) {
        buf.set(data);
        if (it === warmup) trace?.reset();
        const st = await once();
        if (it >= warmup) {
          times.push(st.totalMs);
          sent = st.bytesSent;
          reduceMs += st.reduceMs / iters;
          encodeMs += st.encodeMs / iters;
        }
      }
      times.sort((x, y) => x - y);
      const ms = times[times.length >> 1];
      const bytes = 4 * n;
      const algbw = bytes / (ms / 1000) / 1e9;
      const result: Record<string, unknown> = {
        event: "result",
        impl: "qoda-ring",
        rank,
        ranks: size,
        elements: n,
        mib: bytes / 2 ** 20,
        mode: mode === "fp32" ? "fp32" : quantizer!.scheme,
        collective: mode === "fp32" ? "ring" : mode,
        bits: mode === "fp32" ? 32 : bits,
        link: a.link,
        transport: ctx.transport,
        time_ms: ms,
        algbw_gbps: algbw,
        busbw_gbps: size > 1 ? (algbw * 2 * (size - 1)) / size : algbw,
        bytes_sent: sent,
        reduce_ms: reduceMs,
        encode_ms: encodeMs,
        checksum: checksum(buf),
        ...chose,
      };
      if (trace) result.trace = trace.summary();
      if (a.check) {
        const exact = new Float64Array(n);
        for (let r = 0; r < size; r++) {
          const x = input(r, n, seed);
          for (let i = 0; i < n; i++) exact[i] += x[i];
        }
        let maxErr = 0, sq = 0, sqNorm = 0;
        const div = a.op === "mean" ? size : 1;
        for (let i = 0; i < n; i++) {
          const e = buf[i] - exact[i] / div;
          maxErr = Math.max(maxErr, Math.abs(e));
          sq += e * e;
          sqNorm += (exact[i] / div) ** 2;
        }
        result.max_abs_error = maxErr;
        result.rel_sq_error = sqNorm > 0 ? sq / sqNorm : 0;
      }
      emit(result);
    }
  } catch (e) {
    emitError(e, rank);
    await ctx.closeGracefully("error");
    throw e;
  }
  await ctx.closeGracefully("done");
  return 0;
}

/** Layers of the given sizes, end to end, named `layer0`, `layer1`, … (type `dense`). */
function layersLayout(sizes: number[]): LayerSpan[] {
  let at = 0;
  return sizes.map((length, i) => {
    const l = { name: `layer${i}`, type: "dense", offset: at, length };
    at += length;
    return l;
  });
}

/** FNV-1a over the buffer's bytes: equal on every rank iff the results are bit-identical. */
function checksum(buf: Float32Array): string {
  const b = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** The ring rank command. */
export const RING_RANK_COMMAND: Command<RingRankCli> = {
  name: "deno run -A scripts/ring_rank.ts",
  help,
  parse,
  run,
};

/**
 * Runs one rank: the exit code is 0 when every size ran, 1 on a failure (an error event on
 * stdout and `error: …` on stderr), 2 on a bad command line.
 */
export function main(args: string[]): Promise<number> {
  return runCli(args, RING_RANK_COMMAND);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
