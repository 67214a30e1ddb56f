/**
 * `deno task bench:allreduce`: the ring all-reduce, float32 and compressed,
 * on N loopback ranks or N netlab hosts at a shaped rate, against
 * torch.distributed's Gloo all-reduce measured in the same run.
 *
 * algbw = S/t and busbw = algbw·2(N−1)/N, as nccl-tests defines them (S the
 * buffer size in bytes, t the median time). Prints a table, or one JSON object
 * per line with `--json`; also writes `bench-results/bench_allreduce.jsonl`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { freeLoopbackPorts } from "./_ports.ts";
import { jsonLines, netlabHost0, runCommand } from "./_netlab.ts";

const HELP = `deno task bench:allreduce [options]

Options:
  --ranks N          ranks (processes, or netlab hosts) (default 4)
  --mib LIST         buffer sizes in MiB (default 1,16,64)
  --modes LIST       fp32, layerwise4, layerwise8, qsgd8, fp16, … (scheme + bits)
                     (default fp32,layerwise4,layerwise8,qsgd8,fp16)
  --collective C     ring (CGX-style compressed ring) | allgather (default ring)
  --link L           loopback, or a netlab rate such as 1gbit or 100mbit (needs root)
  --delay D          netlab one-way delay, e.g. 1ms (optional)
  --compare LIST     gloo (default gloo; "none" to skip)
  --iters N          timed repetitions per size (median) (default 5)
  --warmup N         untimed repetitions (default 1)
  --json             one JSON object per line instead of the table
  --out FILE         JSON lines (default bench-results/bench_allreduce.jsonl)
  --help`;

/** One measured configuration. */
export interface AllreduceRow {
  impl: string;
  ranks: number;
  mib: number;
  mode: string;
  bits: number;
  collective: string;
  link: string;
  time_ms: number;
  algbw_gbps: number;
  busbw_gbps: number;
  /** This row's busbw over Gloo fp32's at the same size (in the same run). */
  busbw_vs_gloo?: number;
  /** This row's time over qoda-ring fp32's at the same size (in the same run). */
  time_vs_fp32?: number;
  /** busbw over the link rate (netlab only). */
  busbw_vs_link?: number;
}

function fail(msg: string): never {
  console.error(`error: ${msg}\n\n${HELP}`);
  Deno.exit(2);
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
  const m = /^([a-z]+?)(\d+)$/.exec(mode);
  if (!m) fail(`--modes: '${mode}' is not fp32, fp16 or a scheme followed by bits (layerwise4)`);
  return { scheme: m[1], bits: Number(m[2]) };
}

/** qoda-ring on loopback: N processes. Returns rank 0's result events. */
async function qodaLoopback(
  ranks: number,
  mibs: number[],
  mode: string,
  collective: string,
  iters: number,
  warmup: number,
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
    "--mib",
    mibs.join(","),
    "--mode",
    mode === "fp32" ? "fp32" : collective,
    "--scheme",
    scheme === "fp32" ? "layerwise" : scheme,
    "--bits",
    String(bits),
    "--iters",
    String(iters),
    "--warmup",
    String(warmup),
    "--timeout-ms",
    "120000",
  ];
  const outs = await Promise.all(
    Array.from({ length: ranks }, (_, r) => runCommand([Deno.execPath(), ...args(r)])),
  );
  return jsonLines(outs[0]).filter((e) => e.event === "result");
}

/** qoda-ring inside netlab: N namespaces at `rate`. */
async function qodaNetlab(
  ranks: number,
  mibs: number[],
  mode: string,
  collective: string,
  iters: number,
  warmup: number,
  rate: string,
  delay: string | undefined,
): Promise<Record<string, unknown>[]> {
  const { scheme, bits } = modeArgs(mode);
  const secret = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16))
    .join("");
  const inner = [
    `PEERS=$(echo "$NETLAB_PEERS" | sed 's/,/:29650,/g'):29650`,
    `exec ${Deno.execPath()} run -A scripts/ring_rank.ts --rank "$NETLAB_RANK" --peers "$PEERS"` +
    ` --secret ${secret} --mib ${mibs.join(",")} --mode ${mode === "fp32" ? "fp32" : collective}` +
    ` --scheme ${scheme === "fp32" ? "layerwise" : scheme} --bits ${bits} --iters ${iters}` +
    ` --warmup ${warmup} --timeout-ms 600000 --link ${rate}`,
  ].join("; ");
  const rows = await netlabHost0(ranks, rate, delay, inner);
  return rows.filter((e) => e.event === "result");
}

async function glooLoopback(
  ranks: number,
  mibs: number[],
  iters: number,
  warmup: number,
): Promise<Record<string, unknown>[]> {
  const text = await runCommand([
    "python3",
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
  ranks: number,
  mibs: number[],
  iters: number,
  warmup: number,
  rate: string,
  delay: string | undefined,
): Promise<Record<string, unknown>[]> {
  const inner =
    `MASTER=$(echo "$NETLAB_PEERS" | cut -d, -f1); exec python3 scripts/gloo_allreduce.py` +
    ` --rank "$NETLAB_RANK" --world ${ranks} --master "$MASTER:29651" --mib ${mibs.join(",")}` +
    ` --iters ${iters} --warmup ${warmup} --json`;
  return await netlabHost0(ranks, rate, delay, inner);
}

async function main(): Promise<void> {
  let a;
  try {
    a = parseArgs({
      args: Deno.args,
      strict: true,
      options: {
        ranks: { type: "string", default: "4" },
        mib: { type: "string", default: "1,16,64" },
        modes: { type: "string", default: "fp32,layerwise4,layerwise8,qsgd8,fp16" },
        collective: { type: "string", default: "ring" },
        link: { type: "string", default: "loopback" },
        delay: { type: "string" },
        compare: { type: "string", default: "gloo" },
        iters: { type: "string", default: "5" },
        warmup: { type: "string", default: "1" },
        json: { type: "boolean", default: false },
        out: { type: "string", default: "bench-results/bench_allreduce.jsonl" },
        help: { type: "boolean", default: false },
      },
    }).values;
  } catch (e) {
    fail((e as Error).message);
  }
  if (a.help) {
    console.log(HELP);
    return;
  }
  const ranks = Number(a.ranks);
  if (!Number.isInteger(ranks) || ranks < 1 || ranks > 32) {
    fail(`--ranks: '${a.ranks}' is not 1..32`);
  }
  const mibs = a.mib!.split(",").map(Number);
  if (mibs.some((m) => !(m > 0))) fail(`--mib: '${a.mib}' has a non-positive size`);
  const modes = a.modes!.split(",");
  modes.forEach(modeArgs);
  if (a.collective !== "ring" && a.collective !== "allgather") {
    fail(`--collective: '${a.collective}' is not ring or allgather`);
  }
  const link = a.link!;
  const rate = link === "loopback" ? null : parseRate(link);
  if (link !== "loopback" && rate === null) {
    fail(`--link: '${link}' is neither loopback nor a rate like 1gbit or 100mbit`);
  }
  if (rate !== null && Deno.uid() !== 0) fail("--link with a rate runs netlab, which needs root");
  const compare = a.compare === "none" ? [] : a.compare!.split(",");
  for (const c of compare) if (c !== "gloo") fail(`--compare: '${c}' is not gloo or none`);
  const iters = Number(a.iters), warmup = Number(a.warmup);

  const rows: AllreduceRow[] = [];
  const toRow = (e: Record<string, unknown>, impl: string): AllreduceRow => ({
    impl,
    ranks,
    mib: Number(e.mib),
    mode: String(e.mode),
    bits: Number(e.bits),
    collective: String(e.collective ?? "ring"),
    link,
    time_ms: Number(e.time_ms),
    algbw_gbps: Number(e.algbw_gbps),
    busbw_gbps: Number(e.busbw_gbps),
  });
  if (compare.includes("gloo")) {
    const g = rate === null
      ? await glooLoopback(ranks, mibs, iters, warmup)
      : await glooNetlab(ranks, mibs, iters, warmup, link, a.delay);
    for (const e of g) rows.push(toRow({ ...e, collective: "ring" }, "gloo"));
  }
  for (const mode of modes) {
    const r = rate === null
      ? await qodaLoopback(ranks, mibs, mode, a.collective!, iters, warmup)
      : await qodaNetlab(ranks, mibs, mode, a.collective!, iters, warmup, link, a.delay);
    for (const e of r) rows.push(toRow(e, "qoda-ring"));
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
        `${a.collective} collective, median of ${iters}\n`,
    );
    console.log(
      "impl        mode        bits    MiB   time ms   algbw GB/s  busbw GB/s  vs gloo  vs fp32" +
        (rate !== null ? "  vs link" : ""),
    );
    for (const r of rows) {
      console.log(
        `${r.impl.padEnd(11)} ${r.mode.padEnd(10)} ${String(r.bits).padStart(5)} ` +
          `${String(r.mib).padStart(6)} ${r.time_ms.toFixed(1).padStart(9)} ` +
          `${r.algbw_gbps.toFixed(3).padStart(12)} ${r.busbw_gbps.toFixed(3).padStart(11)} ` +
          `${
            r.busbw_vs_gloo === undefined ? "      -" : r.busbw_vs_gloo.toFixed(2).padStart(7)
          }  ` +
          `${r.time_vs_fp32 === undefined ? "      -" : r.time_vs_fp32.toFixed(3).padStart(7)}` +
          (rate !== null ? `  ${(r.busbw_vs_link ?? 0).toFixed(2).padStart(7)}` : ""),
      );
    }
  }
  if (a.out) {
    await Deno.mkdir(a.out.includes("/") ? a.out.slice(0, a.out.lastIndexOf("/")) : ".", {
      recursive: true,
    });
    await Deno.writeTextFile(a.out, lines.join("\n") + "\n");
    if (!a.json) console.log(`\nresults: ${a.out}`);
  }
}

if (import.meta.main) await main();
