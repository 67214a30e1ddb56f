/**
 * `deno task bench:allreduce`: the ring all-reduce, float32 and compressed,
 * on N loopback ranks or N netlab hosts at a shaped rate, against
 * torch.distributed's Gloo all-reduce measured in the same run.
 *
 * algbw = S/t and busbw = algbw·2(N−1)/N, as nccl-tests defines them (S the
 * buffer size in bytes, t the median time). Prints a table, or one JSON object
 * per line with `--json`; also writes `bench-results/bench_allreduce.jsonl`.
 *
 * The Gloo comparison runs scripts/gloo_allreduce.py with the first python3
 * that imports torch.distributed with Gloo: `$QODA_PYTHON` when set, else
 * python3 on PATH, then Debian's /usr/bin/python3 (apt-get install
 * python3-torch); with none, it stops before running anything and says what
 * to install.
 *
 * `--collective auto`, the default as in training, runs the trials of
 * training's `auto` collective on every compressed row (float32, integer and
 * allgather, untimed) and times the mode the ranks agreed on; the row's
 * collective reads `auto: <choice>`, so `time / fp32` shows whether the
 * default ever loses to float32. `--collective ring|allgather|integer` times
 * that collective.
 *
 * `--trace` times every phase of qoda-ring's operations on every rank
 * (quantize+encode, decode, reduce, framing/socket, idle), in wall-clock and
 * thread CPU time (see runtime/collective/trace.ts), prints the breakdown
 * under the table and adds it to each qoda-ring row as `trace`, one entry per
 * rank (on netlab, rank 0's only).
 *
 * @module
 */
import { freeLoopbackPorts } from "./_ports.ts";
import { SCHEMES } from "../runtime/quant/types.ts";
import {
  type Command,
  type FlagTable,
  type FlagValues,
  HELP_FLAG,
  helpText,
  parseFlags,
  runCli,
  UsageError,
} from "./_cli.ts";
import { jsonLines, netlabHost0, runCommand } from "./_netlab.ts";
import { Progress } from "./_progress.ts";
import { writeResults } from "./_run_folder.ts";
import { findTorchPython } from "./_python.ts";
import { TRACE_PHASES, type TraceSummary } from "../runtime/collective/trace.ts";
import { COMPRESSION_MODES } from "../runtime/collective/allreduce.ts";

const MODE = /^(([a-z]+?)\d+)$/;

/** The flags of `deno task bench:allreduce`. */
export const BENCH_ALLREDUCE_FLAGS = {
  ranks: { type: "int", min: 1, max: 32, default: 4, help: "ranks (processes, or netlab hosts)" },
  mib: { type: "number", list: true, above: 0, default: [1, 16, 64], help: "buffer sizes in MiB" },
  layers: {
    type: "int",
    list: true,
    min: 1,
    value: "N,N,…",
    help: "cut qoda-ring's buffer into layers of these sizes in elements, as a model's variables " +
      "are (one buffer of their sum, instead of --mib; Gloo reduces the sum as one tensor)",
  },
  modes: {
    type: "string",
    list: true,
    default: ["fp32", "layerwise4", "layerwise8", "qsgd8", "fp16"],
    check: (m) => {
      const scheme = MODE.exec(m)?.[2];
      if (m === "fp32" || m === "fp16") return undefined;
      return scheme && (SCHEMES as readonly string[]).includes(scheme)
        ? undefined
        : `expected fp32, fp16 or one of ${SCHEMES.join(", ")} followed by bits (layerwise4)`;
    },
    help: "fp32, layerwise4, layerwise8, qsgd8, fp16, … (scheme + bits)",
  },
  collective: {
    type: "string",
    choices: [...COMPRESSION_MODES, "auto"],
    default: "auto",
    help: "auto (training's default: its trials pick float32, integer or allgather; the row " +
      "names the choice) | ring (CGX-style compressed ring) | allgather | integer (integer " +
      "codes summed on the way)",
  },
  link: {
    type: "string",
    default: "loopback",
    check: (l) =>
      l === "loopback" || parseRate(l) !== null
        ? undefined
        : "expected loopback or a rate like 1gbit or 100mbit",
    help: "loopback, or a netlab rate such as 1gbit or 100mbit (needs root)",
  },
  delay: { type: "string", help: "netlab one-way delay, e.g. 1ms" },
  transport: {
    type: "string",
    choices: ["shm", "tcp"],
    default: "shm",
    help: "loopback ranks: shm sends chunk payloads through shared memory (where the ranks " +
      "may map it), tcp through the sockets (QODA_RING_SHM=0); netlab hosts are always tcp",
  },
  compare: {
    type: "string",
    choices: ["gloo", "none"],
    default: "gloo",
    help: "the Gloo all-reduce to compare with (needs a python3 with torch: python3 on PATH, " +
      "then /usr/bin/python3, or $QODA_PYTHON), or none",
  },
  iters: { type: "int", min: 1, default: 5, help: "timed repetitions per size (median)" },
  trace: {
    type: "boolean",
    help: "time each phase of qoda-ring per rank (wall and thread CPU); printed and in the JSON",
  },
  warmup: { type: "int", min: 0, default: 1, help: "untimed repetitions" },
  json: { type: "boolean", help: "one JSON object per line instead of the table" },
  out: {
    type: "string",
    value: "FILE",
    default: "bench-results/bench_allreduce.jsonl",
    help: "JSON lines",
  },
  ...HELP_FLAG,
} as const satisfies FlagTable;

type BenchAllreduceCli = FlagValues<typeof BENCH_ALLREDUCE_FLAGS>;

function help(): string {
  return helpText({
    usage: "deno task bench:allreduce [flags]",
    about: "The ring all-reduce, float32 and compressed, on N loopback ranks or N netlab hosts\n" +
      "at a shaped rate, against torch.distributed's Gloo all-reduce measured in the same run.",
    flags: BENCH_ALLREDUCE_FLAGS,
  });
}

function parse(args: string[]): BenchAllreduceCli {
  const { values: a } = parseFlags(args, BENCH_ALLREDUCE_FLAGS);
  if (a.link !== "loopback" && Deno.uid() !== 0) {
    throw new UsageError(`--link: '${a.link}' runs netlab, which needs root`);
  }
  return a;
}

/** One measured configuration. */
export interface AllreduceRow {
  impl: string;
  ranks: number;
  mib: number;
  mode: string;
  bits: number;
  collective: string;
  link: string;
  /** How qoda-ring's chunk payloads travelled: shm or tcp (Gloo: tcp). */
  transport: string;
  time_ms: number;
  algbw_gbps: number;
  busbw_gbps: number;
  /** This row's busbw over Gloo fp32's at the same size (in the same run). */
  busbw_vs_gloo?: number;
  /** This row's time over qoda-ring fp32's at the same size (in the same run). */
  time_vs_fp32?: number;
  /** busbw over the link rate (netlab only). */
  busbw_vs_link?: number;
  /** With `--trace`: per rank, the mean per operation of each phase (see {@linkcode RankTrace}). */
  trace?: RankTrace[];
}

/** One rank's phase breakdown of a qoda-ring row, in ms per operation. */
export interface RankTrace extends TraceSummary {
  /** The rank. */
  rank: number;
}

function parseRate(link: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(k|m|g)bit$/i.exec(link);
  if (!m) return null;
  const mult = { k: 1e3, m: 1e6, g: 1e9 }[m[2].toLowerCase() as "k" | "m" | "g"];
  return (Number(m[1]) * mult) / 8 / 1e9; // GB/s
}

function modeArgs(mode: string): { scheme: string; bits: number } {
  if (mode === "fp32") return { scheme: "fp32", bits: 32 };
  if (mode === "fp16") return { scheme: "fp16", bits: 16 };
  const m = /^([a-z]+?)(\d+)$/.exec(mode)!;
  return { scheme: m[1], bits: Number(m[2]) };
}

/** What every qoda-ring run of the benchmark is given. */
interface QodaRun {
  ranks: number;
  /** `--mib …` or `--layers …` for ring_rank. */
  sizeArgs: string[];
  mode: string;
  collective: string;
  iters: number;
  warmup: number;
  trace: boolean;
}

/** qoda-ring on loopback: N processes. Returns rank 0's result events. */
async function qodaLoopback(
  { ranks, sizeArgs, mode, collective, iters, warmup, trace }: QodaRun,
  transport: string,
): Promise<Record<string, unknown>[]> {
  const peers = freeLoopbackPorts(ranks).map((p) => `127.0.0.1:${p}`);
  const { scheme, bits } = modeArgs(mode);
  const args = (r: number) => [
    "run",
    "-A",
    "scripts/ring_rank.ts",
    "--rank",
    String(r),
    "--peers",
    peers.join(","),
    ...sizeArgs,
    "--mode",
    mode === "fp32" ? "fp32" : collective,
    "--scheme",
    scheme === "fp32" ? "layerwise" : scheme,
    "--bits",
    String(scheme === "fp32" ? 4 : bits), // fp32 quantizes nothing; ring_rank takes 1..16
    "--iters",
    String(iters),
    "--warmup",
    String(warmup),
    "--timeout-ms",
    "120000",
    ...(trace ? ["--trace"] : []),
  ];
  const outs = await Promise.all(
    Array.from({ length: ranks }, (_, r) =>
      runCommand(
        [Deno.execPath(), ...args(r)],
        transport === "tcp" ? { QODA_RING_SHM: "0" } : undefined,
      )),
  );
  // Rank 0's results, each with every rank's trace when traced.
  const all = outs.map((o) => jsonLines(o).filter((e) => e.event === "result"));
  return all[0].map((e, i) =>
    trace ? { ...e, traces: all.map((rs, r) => ({ rank: r, ...(rs[i]?.trace as object) })) } : e
  );
}

/** qoda-ring inside netlab: N namespaces at `rate`. */
async function qodaNetlab(
  { ranks, sizeArgs, mode, collective, iters, warmup, trace }: QodaRun,
  rate: string,
  delay: string | undefined,
): Promise<Record<string, unknown>[]> {
  const { scheme, bits } = modeArgs(mode);
  const secret = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16))
    .join("");
  const inner = [
    `PEERS=$(echo "$NETLAB_PEERS" | sed 's/,/:29650,/g'):29650`,
    `exec ${Deno.execPath()} run -A scripts/ring_rank.ts --rank "$NETLAB_RANK" --peers "$PEERS"` +
    ` --secret ${secret} ${sizeArgs.join(" ")} --mode ${mode === "fp32" ? "fp32" : collective}` +
    ` --scheme ${scheme === "fp32" ? "layerwise" : scheme} --bits ${
      scheme === "fp32" ? 4 : bits
    } --iters ${iters}` +
    ` --warmup ${warmup} --timeout-ms 600000 --link ${rate}${trace ? " --trace" : ""}`,
  ].join("; ");
  const rows = await netlabHost0(ranks, rate, delay, inner);
  return rows.filter((e) => e.event === "result").map((e) =>
    trace ? { ...e, traces: [{ rank: 0, ...(e.trace as object) }] } : e
  );
}

async function glooLoopback(
  python: string,
  ranks: number,
  mibs: number[],
  iters: number,
  warmup: number,
): Promise<Record<string, unknown>[]> {
  const text = await runCommand([
    python,
    "scripts/gloo_allreduce.py",
    "--launch",
    String(ranks),
    "--mib",
    mibs.join(","),
    "--iters",
    String(iters),
    "--warmup",
    String(warmup),
    "--json",
  ], { PYTHONUNBUFFERED: "1" });
  return jsonLines(text);
}

async function glooNetlab(
  python: string,
  ranks: number,
  mibs: number[],
  iters: number,
  warmup: number,
  rate: string,
  delay: string | undefined,
): Promise<Record<string, unknown>[]> {
  const inner =
    `MASTER=$(echo "$NETLAB_PEERS" | cut -d, -f1); exec ${python} scripts/gloo_allreduce.py` +
    ` --rank "$NETLAB_RANK" --world ${ranks} --master "$MASTER:29651" --mib ${mibs.join(",")}` +
    ` --iters ${iters} --warmup ${warmup} --json`;
  return await netlabHost0(ranks, rate, delay, inner);
}

async function run(a: BenchAllreduceCli): Promise<void> {
  const { ranks, modes, link } = a;
  // A layered buffer is one buffer of the layers' sum (Gloo reduces it as one tensor).
  const mibs = a.layers ? [(4 * a.layers.reduce((s, l) => s + l, 0)) / 2 ** 20] : a.mib;
  const sizeArgs = a.layers ? ["--layers", a.layers.join(",")] : ["--mib", mibs.join(",")];
  const rate = link === "loopback" ? null : parseRate(link);
  const compare = a.compare === "none" ? [] : [a.compare];
  const { iters, warmup } = a;
  // The Gloo comparison needs a python3 with torch: found before anything runs.
  let python = "python3";
  if (compare.includes("gloo")) {
    const found = await findTorchPython();
    if ("error" in found) throw new Error(found.error);
    python = found.python;
  }

  const rows: AllreduceRow[] = [];
  const toRow = (e: Record<string, unknown>, impl: string): AllreduceRow => ({
    impl,
    ranks,
    mib: Number(e.mib),
    mode: String(e.mode),
    bits: Number(e.bits),
    collective: e.chose ? `auto: ${e.chose}` : String(e.collective ?? "ring"),
    link,
    transport: String(e.transport ?? "tcp"),
    time_ms: Number(e.time_ms),
    algbw_gbps: Number(e.algbw_gbps),
    busbw_gbps: Number(e.busbw_gbps),
    ...(Array.isArray(e.traces) ? { trace: e.traces as RankTrace[] } : {}),
  });
  // One line redrawn in place on a terminal; otherwise a plain line after each run (none with
  // --json, whose output is the JSON lines).
  const runs = [...compare, ...modes];
  const progress = new Progress({
    total: runs.length,
    unit: "run",
    plainEveryMs: a.json ? Infinity : 0,
  });
  const running = (i: number) =>
    i < runs.length ? `running ${runs[i] === "gloo" ? "gloo fp32" : `qoda-ring ${runs[i]}`}` : "";
  progress.tick(0, running(0));
  try {
    if (compare.includes("gloo")) {
      const g = rate === null
        ? await glooLoopback(python, ranks, mibs, iters, warmup)
        : await glooNetlab(python, ranks, mibs, iters, warmup, link, a.delay);
      for (const e of g) rows.push(toRow({ ...e, collective: "ring" }, "gloo"));
      progress.tick(1, running(1));
    }
    for (const mode of modes) {
      const q: QodaRun = {
        ranks,
        sizeArgs,
        mode,
        collective: a.collective,
        iters,
        warmup,
        trace: a.trace,
      };
      const r = rate === null
        ? await qodaLoopback(q, a.transport)
        : await qodaNetlab(q, link, a.delay);
      for (const e of r) rows.push(toRow(e, "qoda-ring"));
      const done = compare.length + modes.indexOf(mode) + 1;
      progress.tick(done, running(done));
    }
  } finally {
    progress.done();
  }
  for (const row of rows) {
    const gloo = rows.find((x) => x.impl === "gloo" && x.mib === row.mib);
    const fp32 = rows.find((x) => x.impl === "qoda-ring" && x.mode === "fp32" && x.mib === row.mib);
    if (gloo) row.busbw_vs_gloo = row.busbw_gbps / gloo.busbw_gbps;
    if (fp32 && row.impl === "qoda-ring") row.time_vs_fp32 = row.time_ms / fp32.time_ms;
    if (rate !== null) row.busbw_vs_link = row.busbw_gbps / rate;
  }
  const lines = rows.map((r) => JSON.stringify(r));
  if (a.json) lines.forEach((l) => console.log(l));
  else {
    console.log(
      `bench:allreduce — ${ranks} ranks, ${link}${a.delay ? ` +${a.delay}` : ""}, ` +
        `${a.collective} collective, median of ${iters}, qoda-ring's payloads via ` +
        `${
          [...new Set(rows.filter((r) => r.impl === "qoda-ring").map((r) => r.transport))].join(
            "/",
          ) || "-"
        }\n`,
    );
    console.log(
      "impl        mode       collective       bits    MiB   time ms   algbw GB/s  busbw GB/s" +
        "  vs gloo  vs fp32" +
        (rate !== null ? "  vs link" : ""),
    );
    for (const r of rows) {
      console.log(
        `${r.impl.padEnd(11)} ${r.mode.padEnd(10)} ${r.collective.padEnd(15)} ` +
          `${String(r.bits).padStart(5)} ` +
          `${String(r.mib).padStart(6)} ${r.time_ms.toFixed(1).padStart(9)} ` +
          `${r.algbw_gbps.toFixed(3).padStart(12)} ${r.busbw_gbps.toFixed(3).padStart(11)} ` +
          `${
            r.busbw_vs_gloo === undefined ? "      -" : r.busbw_vs_gloo.toFixed(2).padStart(7)
          }  ` +
          `${r.time_vs_fp32 === undefined ? "      -" : r.time_vs_fp32.toFixed(3).padStart(7)}` +
          (rate !== null ? `  ${(r.busbw_vs_link ?? 0).toFixed(2).padStart(7)}` : ""),
      );
    }
    for (const r of rows) if (r.trace) console.log("\n" + formatTrace(r));
  }
  if (a.out) {
    await writeResults(a.out, lines);
    if (!a.json) console.log(`\nresults: ${a.out}`);
  }
}

/**
 * The phase breakdown of a traced row as a table: one line per rank and
 * phase, wall and CPU ms per operation, then the operation's totals.
 */
export function formatTrace(row: AllreduceRow): string {
  const t = row.trace ?? [];
  const clock = t[0]?.cpuClock === "thread" ? "thread CPU" : "no CPU clock: CPU = wall";
  const idle = t[0]?.schedstat ? "idle from schedstat" : "idle = remainder";
  const lines = [
    `trace: qoda-ring ${row.mode} ${row.bits}-bit, ${row.mib} MiB, ms per operation ` +
    `(${clock}; ${idle})`,
    "rank  phase      wall ms   cpu ms  share of wall",
  ];
  const f = (x: number, w = 8) => x.toFixed(2).padStart(w);
  for (const rt of t) {
    for (const ph of TRACE_PHASES) {
      const p = rt.phases[ph];
      lines.push(
        `${String(rt.rank).padStart(4)}  ${ph.padEnd(9)} ${f(p.wallMs)} ${f(p.cpuMs)}  ` +
          `${((100 * p.wallMs) / (rt.wallMs || 1)).toFixed(0).padStart(5)}%`,
      );
    }
    lines.push(
      `${String(rt.rank).padStart(4)}  operation ${f(rt.wallMs)} ${f(rt.cpuMs)}  ` +
        `(runnable, waiting for a core: ${rt.queuedMs.toFixed(2)} ms)`,
    );
  }
  return lines.join("\n");
}

/** The bench:allreduce command. */
export const BENCH_ALLREDUCE_COMMAND: Command<BenchAllreduceCli> = {
  name: "deno task bench:allreduce",
  help,
  parse,
  run,
};

/** Runs the benchmark; returns the exit code. */
export function main(args: string[]): Promise<number> {
  return runCli(args, BENCH_ALLREDUCE_COMMAND);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
