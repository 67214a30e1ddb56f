/**
 * `deno task bench:train`: time to a quality target of WGAN training with
 * QODA over the ring, on N netlab hosts at shaped link rates (root), or on
 * loopback processes otherwise, for several compression settings with the
 * same seed and step budget. Every configuration is compared with
 * uncompressed QODA measured in the same run (speedup ratios), and QODA's
 * collectives per step with Q-GenX's.
 *
 * Each configuration runs `scripts/train.ts --problem wgan … --json`: on
 * netlab, host 0 runs the supervisor and one worker, every other host one
 * worker (`actors/worker_main.ts --join`).
 *
 * @module
 */
import { jsonLines, netlabHost0, runCommand } from "./_netlab.ts";
import { Progress } from "./_progress.ts";
import { writeResults } from "./_run_folder.ts";
import {
  COLLECTIVE_FLAG,
  type Command,
  type FlagTable,
  type FlagValues,
  HELP_FLAG,
  helpText,
  parseFlags,
  runCli,
  UsageError,
} from "./_cli.ts";
import { GAN_DATASETS } from "../models/gan/datasets.ts";
import { GAN_ARCHS } from "../models/gan/networks.ts";
import { trainingDefaults } from "../models/gan/wgan.ts";
import { COLLECTIVE_HELP } from "../actors/job.ts";

/** One benchmark configuration. */
interface Config {
  name: string;
  optimizer: string;
  quant: string;
  bits: number;
}

const CONFIGS: Config[] = [
  { name: "qoda-none", optimizer: "qoda", quant: "none", bits: 32 },
  { name: "qoda-fp16", optimizer: "qoda", quant: "fp16", bits: 16 },
  { name: "qoda-qsgd8", optimizer: "qoda", quant: "qsgd", bits: 8 },
  { name: "qoda-layerwise4", optimizer: "qoda", quant: "layerwise", bits: 4 },
  { name: "qgenx-layerwise4", optimizer: "qgenx", quant: "layerwise", bits: 4 },
];

const CONFIG_NAMES = CONFIGS.map((c) => c.name);

/** The flags of `deno task bench:train`. */
export const BENCH_TRAIN_FLAGS = {
  links: {
    type: "string",
    list: true,
    check: (l) =>
      l === "loopback" || /^\d+(\.\d+)?[kmg]bit$/i.test(l)
        ? undefined
        : "expected loopback or a rate like 1gbit",
    defaultHelp: "1gbit,100mbit as root, loopback otherwise",
    help: "netlab rates (root), e.g. 1gbit,100mbit; or loopback",
  },
  workers: { type: "int", min: 1, default: 4, help: "workers = netlab hosts" },
  configs: {
    type: "string",
    list: true,
    choices: CONFIG_NAMES,
    default: CONFIG_NAMES,
    defaultHelp: "all five",
    help: `any of ${CONFIG_NAMES.join(", ")}`,
  },
  dataset: { type: "string", choices: GAN_DATASETS, default: "mnist", help: "WGAN data set" },
  arch: {
    type: "string",
    choices: GAN_ARCHS,
    defaultHelp: "the dataset's: dcgan for mnist, mlp for the mixtures",
    help: "WGAN architecture",
  },
  steps: { type: "int", min: 1, default: 400, help: "step budget of every configuration" },
  "eval-every": { type: "int", min: 1, default: 25, help: "quality evaluations every N steps" },
  target: {
    type: "number",
    value: "Q",
    defaultHelp: "the worst quality float32 QODA (qoda-none) has from 70% of its steps on, so " +
      "that float32 reaches and holds it by then",
    help: "quality target (Fréchet distance for mnist, lower is better; modes covered for the " +
      "mixtures)",
  },
  optimizer: {
    type: "string",
    choices: ["qoda", "qoda-adagrad", "qoda-rms"],
    default: "qoda-adagrad",
    help: "the QODA of the qoda-* settings (Q-GenX stays Q-GenX)",
  },
  collective: {
    ...COLLECTIVE_FLAG.collective,
    help: `compressed collective of every quantized setting (${COLLECTIVE_HELP})`,
  },
  lr: { type: "number", above: 0, defaultHelp: "the WGAN default", help: "learning rate" },
  seed: { type: "int", min: 0, default: 0, help: "seed" },
  out: {
    type: "string",
    value: "FILE",
    default: "bench-results/bench_train.json",
    help: "JSON results",
  },
  json: { type: "boolean", help: "also print one JSON object per configuration" },
  from: {
    type: "string",
    list: true,
    value: "FILE[,FILE…]",
    help: "train nothing: re-read the rows of earlier result files and print the table for " +
      "--target (later files replace earlier rows of the same configuration and link)",
  },
  ...HELP_FLAG,
} as const satisfies FlagTable;

type BenchTrainCli = FlagValues<typeof BENCH_TRAIN_FLAGS> & { links: string[] };

function help(): string {
  return helpText({
    usage: "deno task bench:train [flags]",
    about: [
      "Trains the same WGAN with several optimiser/compression settings on N workers and",
      "reports, per setting: wall-clock time to the quality target, final quality, step-time",
      "breakdown, bytes sent and the speedup over uncompressed QODA on the same link.",
      "The ceiling is the most any compression could give on that link at equal steps:",
      "float32's step time over its step time less its exchange (compute-bound runs stay",
      "close to 1×).",
    ].join("\n"),
    flags: BENCH_TRAIN_FLAGS,
  });
}

function parse(args: string[]): BenchTrainCli {
  const { values: v } = parseFlags(args, BENCH_TRAIN_FLAGS);
  const root = Deno.uid() === 0;
  const links = v.links ?? (root ? ["1gbit", "100mbit"] : ["loopback"]);
  if (!root && links.some((l) => l !== "loopback")) {
    throw new UsageError("--links: netlab links need root; use --links loopback");
  }
  return { ...v, links };
}

/** One result row. */
interface Row {
  config: string;
  optimizer: string;
  quant: string;
  bits: number;
  link: string;
  /**
   * The collective that ran: `fp32`, or the compressed one (under `auto`,
   * its choice); absent from rows stored before it was recorded.
   */
  collective?: string;
  workers: number;
  steps: number;
  /** The quality target this row was timed to. */
  target: number | null;
  time_to_target_s: number | null;
  final_quality: number;
  bytes_sent: number;
  step_ms: number;
  compute_ms: number;
  quantize_ms: number;
  communicate_ms: number;
  optimizer_ms: number;
  control_ms: number;
  collectives_per_step: number;
  seconds: number;
  speedup_vs_none: number | null;
  /** {@linkcode exchangeCeiling} of float32 QODA on this row's link; absent before it was recorded. */
  ceiling?: number | null;
  /** Quality at each evaluation (seconds since the start), to recompute times to other targets. */
  evals: { step: number; seconds: number; quality: number }[];
}

/**
 * Seconds until the quality reached `target` and held it: the first
 * evaluation from which every later one is at or past the target (a noisy
 * early dip does not count). Null when the run ends short of it.
 */
export function timeToTarget(
  evals: readonly { seconds: number; quality: number }[],
  target: number,
  lowerIsBetter: boolean,
): number | null {
  const ok = (q: number) => (lowerIsBetter ? q <= target : q >= target);
  let held: number | null = null;
  for (const e of evals) held = ok(e.quality) ? held ?? e.seconds : null;
  return held;
}

/** The optimiser a setting runs: the chosen QODA for the qoda-* settings, else its own. */
function optimizerOf(c: Config, o: Record<string, string>): string {
  return c.optimizer === "qoda" ? o.optimizer : c.optimizer;
}

function trainArgs(c: Config, o: Record<string, string>, workers: number): string[] {
  const args = [
    "--problem",
    "wgan",
    "--dataset",
    o.dataset,
    "--workers",
    String(workers),
    "--optimizer",
    optimizerOf(c, o),
    "--quant",
    c.quant,
    "--steps",
    o.steps,
    "--eval-every",
    o["eval-every"],
    "--seed",
    o.seed,
    "--json",
    "--quiet",
    "--no-artifacts",
  ];
  if (o.lr) args.push("--lr", o.lr);
  // One problem for every setting: the QODA variant's pair, batch, λ, loss and average.
  args.push("--arch", o.arch, "--batch", o.batch, "--gp", o.gp, "--average", o.average);
  args.push("--loss", o.loss, "--parameterization", o.parameterization, "--pack", o.pack);
  if (c.quant !== "none") args.push("--bits", String(c.bits), "--collective", o.collective);
  return args;
}

async function runLoopback(c: Config, o: Record<string, string>, workers: number) {
  const out = await runCommand([
    Deno.execPath(),
    "run",
    "-A",
    "scripts/train.ts",
    ...trainArgs(c, o, workers),
  ]);
  return jsonLines(out).at(-1)!;
}

async function runNetlab(c: Config, o: Record<string, string>, workers: number, rate: string) {
  const secret = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16))
    .join("");
  const deno = Deno.execPath();
  const train = `${deno} run -A scripts/train.ts ${trainArgs(c, o, workers).join(" ")}` +
    ` --remote-workers --listen "$NETLAB_ADDR:29700" --secret ${secret}`;
  const worker = (host: string) =>
    `${deno} run -A actors/worker_main.ts --quiet --join "${host}:29700" --listen-host "$NETLAB_ADDR" --secret ${secret}`;
  const inner = [
    `HOST0=$(echo "$NETLAB_PEERS" | cut -d, -f1)`,
    `if [ "$NETLAB_RANK" = 0 ]; then ${train} & SUP=$!; sleep 1; ${
      worker("$NETLAB_ADDR")
    }; wait $SUP;` +
    ` else sleep 1.5; exec ${worker("$HOST0")}; fi`,
  ].join("; ");
  const rows = await netlabHost0(workers, rate, undefined, inner, "qtrain");
  const last = rows.at(-1);
  if (!last) throw new Error(`${c.name} @ ${rate}: no JSON result from host 0`);
  return last;
}

async function run(v: BenchTrainCli): Promise<void> {
  const { links, workers } = v;
  // In the table's order: float32 first, whose run sets the default target.
  const configs = CONFIGS.filter((c) => v.configs.includes(c.name));
  if (v.target === undefined && !configs.some((c) => c.name === "qoda-none") && !v.from) {
    throw new UsageError("--configs: without --target, qoda-none is needed (it sets the target)");
  }
  // The chosen QODA's settings (qoda-adagrad: WGAN-GP; qoda-rms: the dataset's own, ns).
  const d = trainingDefaults(v.dataset, v.optimizer, v.arch);
  const o: Record<string, string> = {
    dataset: v.dataset,
    arch: d.arch,
    batch: String(d.batch),
    gp: String(d.gp),
    average: String(d.average),
    loss: d.loss,
    parameterization: d.parameterization,
    pack: String(d.pack),
    steps: String(v.steps),
    "eval-every": String(v["eval-every"]),
    seed: String(v.seed),
    lr: v.lr === undefined ? "" : String(v.lr),
    optimizer: d.optimizer,
    collective: v.collective,
  };
  const target = v.target ?? null;
  if (v.from) {
    const byKey = new Map<string, Row>();
    for (const f of v.from) {
      for (const r of JSON.parse(await Deno.readTextFile(f)).rows as Row[]) {
        byKey.set(`${r.config}@${r.link}`, r);
      }
    }
    const order = (r: Row) =>
      links.indexOf(r.link) * 100 + CONFIGS.findIndex((c) => c.name === r.config);
    const rows = [...byKey.values()].sort((a, b) => order(a) - order(b));
    await report(rows, target, o.dataset === "mnist", v.out);
    return;
  }
  const rows: Row[] = [];
  // One line redrawn in place on a terminal; the per-configuration lines are the plain output.
  const progress = new Progress({ total: links.length * configs.length, unit: "run" });
  try {
    for (const link of links) {
      for (const c of configs) {
        progress.tick(rows.length, `${c.name} @ ${link}`);
        progress.log(`bench:train: ${c.name} on ${workers} workers @ ${link} …`, { stderr: true });
        const r = link === "loopback"
          ? await runLoopback(c, o, workers)
          : await runNetlab(c, o, workers, link);
        const row: Row = {
          config: c.name,
          optimizer: optimizerOf(c, o),
          quant: c.quant,
          bits: c.bits,
          link,
          collective: String(r.collective_used),
          workers,
          steps: r.steps as number,
          target: null, // decided in report()
          time_to_target_s: null,
          final_quality: r.quality as number,
          bytes_sent: r.bytes_sent as number,
          step_ms: r.step_ms as number,
          compute_ms: r.compute_ms as number,
          quantize_ms: r.quantize_ms as number,
          communicate_ms: r.communicate_ms as number,
          optimizer_ms: r.optimizer_ms as number,
          control_ms: r.control_ms as number,
          collectives_per_step: (r.collectives as number) / (r.steps as number),
          seconds: r.seconds as number,
          speedup_vs_none: null,
          evals: r.evals as Row["evals"],
        };
        rows.push(row);
        if (v.json) progress.log(JSON.stringify(row));
      }
    }
  } finally {
    progress.done();
  }
  await report(rows, target, o.dataset === "mnist", v.out);
}

/**
 * The default target: the worst quality of a run's evaluations from
 * `fraction` of its steps on (the highest Fréchet distance, the fewest
 * modes), a level the run reaches by then and holds to its end. Null when
 * no evaluation is that late.
 */
export function heldQuality(
  evals: readonly { step: number; quality: number }[],
  steps: number,
  lowerIsBetter: boolean,
  fraction = 0.7,
): number | null {
  const late = evals.filter((e) => e.step >= fraction * steps).map((e) => e.quality);
  if (!late.length) return null;
  return lowerIsBetter ? Math.max(...late) : Math.min(...late);
}

/**
 * The most any compression can speed up a run at equal steps: float32's step time over its step
 * time with the exchange taking no time at all (`step / (step − communicate)`). Compute,
 * control and waiting on the slowest worker stay; a compressed setting also pays its own
 * quantizing. Null without a positive remainder.
 *
 * @example Float32 at 1 Gbit/s: 31 ms of exchange in a 133 ms step
 * ```ts
 * import { exchangeCeiling } from "./bench_train.ts";
 * if (exchangeCeiling({ step_ms: 133, communicate_ms: 31 })!.toFixed(2) !== "1.30") throw new Error();
 * ```
 */
export function exchangeCeiling(
  fp32: { readonly step_ms: number; readonly communicate_ms: number },
): number | null {
  const rest = fp32.step_ms - fp32.communicate_ms;
  return rest > 0 && fp32.communicate_ms >= 0 ? fp32.step_ms / rest : null;
}

/** Times to target, speedups against uncompressed QODA on each link, the table and the JSON file. */
async function report(rows: Row[], given: number | null, lowerIsBetter: boolean, out: string) {
  for (const r of rows) {
    // Each link's own float32 run sets its target (runs are deterministic: the same on every link).
    const base = rows.find((b) => b.link === r.link && b.config === "qoda-none");
    const target = given ?? (base ? heldQuality(base.evals, base.steps, lowerIsBetter) : null);
    r.target = target;
    if (target === null) continue;
    r.time_to_target_s = timeToTarget(r.evals, target, lowerIsBetter);
    // Met at the starting point: the time measures nothing but start-up.
    if (r.evals.length && r.time_to_target_s === r.evals[0].seconds) {
      console.error(
        `bench:train: ${r.config} @ ${r.link} meets the target at its start; choose a stricter --target`,
      );
      r.time_to_target_s = null;
    }
  }
  for (const r of rows) {
    const base = rows.find((b) => b.link === r.link && b.config === "qoda-none");
    r.speedup_vs_none = base?.time_to_target_s && r.time_to_target_s
      ? base.time_to_target_s / r.time_to_target_s
      : null;
    r.ceiling = base ? exchangeCeiling(base) : null;
  }
  const targets = [...new Set(rows.map((r) => r.target))].map((t) => t?.toFixed(2) ?? "none");
  console.log(
    `\ntarget: quality ${lowerIsBetter ? "≤" : "≥"} ${targets.join(" / ")}, reached and held (${
      given === null ? "float32 QODA's from 70% of its steps on" : "--target"
    })`,
  );
  const fmt = (x: number | null, d = 1) => (x === null || x === undefined ? "–" : x.toFixed(d));
  console.log(
    `\n${"config".padEnd(18)} ${"link".padEnd(9)} ${"collective".padEnd(10)} ${
      "to target s".padStart(11)
    } ${"quality".padStart(8)} ${"step ms".padStart(8)} ${"compute".padStart(8)} ${
      "quant".padStart(6)
    } ${"comm".padStart(7)} ${"ctrl".padStart(5)} ${"MB sent".padStart(9)} ${
      "coll/step".padStart(9)
    } ${"speedup".padStart(7)} ${"ceiling".padStart(7)}`,
  );
  for (const r of rows) {
    console.log(
      `${r.config.padEnd(18)} ${r.link.padEnd(9)} ${(r.collective ?? "–").padEnd(10)} ${
        fmt(r.time_to_target_s).padStart(11)
      } ${fmt(r.final_quality, 2).padStart(8)} ${fmt(r.step_ms).padStart(8)} ${
        fmt(r.compute_ms).padStart(8)
      } ${fmt(r.quantize_ms).padStart(6)} ${fmt(r.communicate_ms).padStart(7)} ${
        fmt(r.control_ms, 2).padStart(5)
      } ${(r.bytes_sent / 1e6).toFixed(1).padStart(9)} ${
        fmt(r.collectives_per_step, 0).padStart(9)
      } ${
        r.speedup_vs_none === null
          ? "–".padStart(7)
          : `${r.speedup_vs_none.toFixed(2)}×`.padStart(7)
      } ${(r.ceiling ? `${r.ceiling.toFixed(2)}×` : "–").padStart(7)}`,
    );
  }
  await writeResults(out, { date: new Date().toISOString(), target: given, rows });
  console.log(`\nresults: ${out}`);
}

/** The bench:train command. */
export const BENCH_TRAIN_COMMAND: Command<BenchTrainCli> = {
  name: "deno task bench:train",
  help,
  parse,
  run,
};

/** Runs the benchmark; returns the exit code. */
export function main(args: string[]): Promise<number> {
  return runCli(args, BENCH_TRAIN_COMMAND);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
