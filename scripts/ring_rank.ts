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
import { parseArgs } from "node:util";
import { allreduce, type AllreduceOptions } from "../runtime/collective/allreduce.ts";
import { CollectiveError } from "../runtime/errors.ts";
import { createQuantizer } from "../runtime/quant/registry.ts";
import { Rng } from "../runtime/rng.ts";
import { connectTcpRing } from "../runtime/collective/tcp_ring.ts";

const HELP = `deno run -A scripts/ring_rank.ts --rank R --peers HOST:PORT,HOST:PORT,... [options]

Options:
  --rank R           this rank (0-based)
  --peers LIST       every rank's host:port in rank order
  --secret S         shared secret (or QODA_RING_SECRET); required off loopback
  --elements LIST    buffer sizes in float32 elements (default: from --mib)
  --mib LIST         buffer sizes in MiB (default 1)
  --mode M           fp32 | ring | allgather (default fp32)
  --scheme S         quantizer for ring/allgather: layerwise, qsgd, fp16, maxmin, ... (default layerwise)
  --bits B           quantizer bits (default 4)
  --bucket N         quantizer bucket size (default 1024)
  --op O             sum | mean (default sum)
  --iters N          timed repetitions, the median is reported (default 3)
  --warmup N         untimed repetitions first (default 1)
  --seed N           data seed (default 1)
  --timeout-ms N     per-operation deadline (default 30000)
  --check            verify the result against the exact sum
  --link NAME        label for the link in the output (default loopback)
  --segment-kib N    largest segment in KiB (default 1024)
  --help`;

function die(message: string, code = 2): never {
  console.error(`error: ${message}\n\n${HELP}`);
  Deno.exit(code);
}

function ints(s: string, flag: string): number[] {
  return s.split(",").map((x) => {
    const v = Number(x);
    if (!Number.isFinite(v) || v < 0) die(`${flag}: '${x}' is not a non-negative number`);
    return v;
  });
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

async function main(): Promise<number> {
  let a;
  try {
    a = parseArgs({
      args: Deno.args,
      strict: true,
      options: {
        rank: { type: "string" },
        peers: { type: "string" },
        secret: { type: "string" },
        elements: { type: "string" },
        mib: { type: "string", default: "1" },
        mode: { type: "string", default: "fp32" },
        scheme: { type: "string", default: "layerwise" },
        bits: { type: "string", default: "4" },
        bucket: { type: "string", default: "1024" },
        op: { type: "string", default: "sum" },
        iters: { type: "string", default: "3" },
        warmup: { type: "string", default: "1" },
        seed: { type: "string", default: "1" },
        "timeout-ms": { type: "string", default: "30000" },
        check: { type: "boolean", default: false },
        link: { type: "string", default: "loopback" },
        "segment-kib": { type: "string", default: "1024" },
        help: { type: "boolean", default: false },
      },
    }).values;
  } catch (e) {
    die((e as Error).message);
  }
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  if (a.rank === undefined || a.peers === undefined) die("--rank and --peers are required");
  const rank = Number(a.rank);
  const peers = a.peers.split(",");
  const size = peers.length;
  const mode = a.mode!;
  if (!["fp32", "ring", "allgather"].includes(mode)) {
    die(`--mode: '${mode}' is not one of fp32, ring, allgather`);
  }
  if (a.op !== "sum" && a.op !== "mean") die(`--op: '${a.op}' is not one of sum, mean`);
  const sizes = a.elements !== undefined
    ? ints(a.elements, "--elements")
    : ints(a.mib!, "--mib").map((m) => Math.round((m * 2 ** 20) / 4));
  const [iters] = ints(a.iters!, "--iters");
  const [warmup] = ints(a.warmup!, "--warmup");
  const [seed] = ints(a.seed!, "--seed");
  const [timeoutMs] = ints(a["timeout-ms"]!, "--timeout-ms");
  const bits = Number(a.bits), bucket = Number(a.bucket);

  const ctx = await connectTcpRing({
    rank,
    peers,
    secret: a.secret,
    timeoutMs,
    connectTimeoutMs: timeoutMs,
    log: (line) => console.error(line),
  });
  emit({ event: "ready", rank, ranks: size });
  const quantizer = mode === "fp32"
    ? null
    : createQuantizer({ scheme: a.scheme!, bits, bucketSize: bucket });
  const rng = new Rng(seed * 7919 + rank);
  try {
    for (const n of sizes) {
      const data = input(rank, n, seed);
      const buf = new Float32Array(n);
      const opts: AllreduceOptions = {
        op: a.op as "sum" | "mean",
        maxSegmentElements: Math.max(1, Math.floor((Number(a["segment-kib"]) * 1024) / 4)),
        compression: quantizer
          ? { mode: mode as "ring" | "allgather", rng, quantizerFor: () => quantizer }
          : undefined,
      };
      const times: number[] = [];
      let sent = 0, reduceMs = 0, encodeMs = 0;
      for (let it = 0; it < warmup + iters; it++) {
        buf.set(data);
        const st = await allreduce(ctx, buf, opts);
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
        time_ms: ms,
        algbw_gbps: algbw,
        busbw_gbps: size > 1 ? (algbw * 2 * (size - 1)) / size : algbw,
        bytes_sent: sent,
        reduce_ms: reduceMs,
        encode_ms: encodeMs,
        checksum: checksum(buf),
      };
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
    return 1;
  }
  await ctx.closeGracefully("done");
  return 0;
}

/** FNV-1a over the buffer's bytes: equal on every rank iff the results are bit-identical. */
function checksum(buf: Float32Array): string {
  const b = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    emitError(e);
    Deno.exit(1);
  }
}
