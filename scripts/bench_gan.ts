/**
 * `deno task bench:gan`: the mixtures against the reference of the field at
 * equal wall time. For each dataset it runs `deno task train --dataset D
 * --collective allgather` (QODA with per-coordinate step sizes, layer-wise
 * 4-bit messages, 2 worker processes), times the whole command, then gives
 * the same number of seconds on the same machine to a standard PyTorch
 * WGAN-GP
 * (`scripts/wgan_reference.py`: `gan_toy.py`'s settings, 3×128 ReLU MLPs,
 * 5 critic steps, Adam 1e-4 with β (0.5, 0.9), λ 0.1, batch 256) and
 * compares modes covered and high-quality samples, measured the same way.
 *
 * @module
 */
import { jsonLines, runCommand } from "./_netlab.ts";
import { findTorchPython } from "./_python.ts";
import { Progress } from "./_progress.ts";
import { writeResults } from "./_run_folder.ts";
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
import { MIXTURE_NAMES } from "../models/gan/datasets.ts";

/** The flags of `deno task bench:gan`. */
export const BENCH_GAN_FLAGS = {
  datasets: {
    type: "string",
    list: true,
    choices: MIXTURE_NAMES,
    default: [...MIXTURE_NAMES],
    help: "the mixtures to train",
  },
  steps: { type: "int", min: 1, defaultHelp: "the dataset's default", help: "our step budget" },
  seconds: {
    type: "number",
    above: 0,
    defaultHelp: "the wall time of our run",
    help: "the reference's budget",
  },
  threads: { type: "int", min: 1, default: 2, help: "the reference's torch threads" },
  seed: { type: "int", min: 0, default: 0, help: "seed of both" },
  out: {
    type: "string",
    value: "FILE",
    default: "bench-results/bench_gan.json",
    help: "JSON results",
  },
  ...HELP_FLAG,
} as const satisfies FlagTable;

type BenchGanCli = FlagValues<typeof BENCH_GAN_FLAGS>;

/** One trained pair's result. */
interface Row {
  dataset: string;
  impl: "qoda-ring" | "pytorch-wgan-gp";
  seconds: number;
  steps: number;
  modes_covered: number;
  modes: number;
  high_quality: number;
}

function help(): string {
  return helpText({
    usage: "deno task bench:gan [flags]",
    about: [
      "Trains each mixture with `deno task train`'s defaults, then a standard PyTorch WGAN-GP",
      "for the same wall time on the same machine, and compares modes covered and the share",
      "of high-quality samples. Needs a python3 with torch (apt-get install python3-torch).",
    ].join("\n"),
    flags: BENCH_GAN_FLAGS,
  });
}

function parse(args: string[]): BenchGanCli {
  return parseFlags(args, BENCH_GAN_FLAGS).values;
}

async function run(v: BenchGanCli): Promise<void> {
  const py = await findTorchPython(undefined, "bench:gan's PyTorch reference");
  if ("error" in py) throw new UsageError(py.error);
  const rows: Row[] = [];
  const progress = new Progress({ total: 2 * v.datasets.length, unit: "run" });
  try {
    for (const dataset of v.datasets) {
      progress.tick(rows.length, `qoda-ring ${dataset}`);
      const ours = [Deno.execPath(), "run", "-A", "scripts/train.ts", "--dataset", dataset];
      // Layer-wise 4-bit messages, as measured: `auto` would keep float32 on one host.
      ours.push("--collective", "allgather");
      ours.push("--seed", String(v.seed), "--json", "--no-artifacts", "--quiet");
      if (v.steps) ours.push("--steps", String(v.steps));
      const t0 = performance.now();
      const r = jsonLines(await runCommand(ours)).at(-1)!;
      const seconds = (performance.now() - t0) / 1000;
      rows.push({
        dataset,
        impl: "qoda-ring",
        seconds,
        steps: r.steps as number,
        modes_covered: r.modes_covered as number,
        modes: r.modes as number,
        high_quality: r.high_quality as number,
      });
      progress.tick(rows.length, `pytorch ${dataset}`);
      const budget = v.seconds ?? seconds;
      const ref = jsonLines(
        await runCommand([
          py.python,
          "scripts/wgan_reference.py",
          ...["--dataset", dataset, "--seconds", budget.toFixed(1), "--seed", String(v.seed)],
          ...["--threads", String(v.threads), "--eval-every", "1000000000"],
        ]),
      ).at(-1)!;
      rows.push({
        dataset,
        impl: "pytorch-wgan-gp",
        seconds: ref.seconds as number,
        steps: ref.iterations as number,
        modes_covered: ref.modes_covered as number,
        modes: ref.modes as number,
        high_quality: ref.high_quality as number,
      });
    }
  } finally {
    progress.done();
  }
  console.log(formatTable(rows));
  const settings = { steps: v.steps ?? null, threads: v.threads, seed: v.seed };
  await writeResults(v.out, { date: new Date().toISOString(), ...settings, rows });
  console.log(`\nresults: ${v.out}`);
}

/**
 * The table of `rows`, each reference row followed by how far ahead the
 * row of ours before it is (modes more, high-quality share × the reference's).
 */
export function formatTable(rows: readonly Row[]): string {
  const head = `${"dataset".padEnd(12)} ${"impl".padEnd(16)} ${"seconds".padStart(8)} ${
    "steps".padStart(7)
  } ${"modes".padStart(7)} ${"high-quality".padStart(12)}`;
  const lines = [head];
  for (const [i, r] of rows.entries()) {
    lines.push(
      `${r.dataset.padEnd(12)} ${r.impl.padEnd(16)} ${r.seconds.toFixed(1).padStart(8)} ${
        String(r.steps).padStart(7)
      } ${`${r.modes_covered}/${r.modes}`.padStart(7)} ${
        `${(100 * r.high_quality).toFixed(1)}%`.padStart(12)
      }`,
    );
    const ours = rows[i - 1];
    if (r.impl === "pytorch-wgan-gp" && ours?.impl === "qoda-ring" && ours.dataset === r.dataset) {
      const ratio = r.high_quality > 0
        ? `${(ours.high_quality / r.high_quality).toFixed(1)}×`
        : "∞";
      lines.push(
        `${"".padEnd(12)} ${"qoda-ring ahead".padEnd(16)} ${"".padStart(8)} ${"".padStart(7)} ${
          `${ours.modes_covered - r.modes_covered >= 0 ? "+" : ""}${
            ours.modes_covered - r.modes_covered
          }`.padStart(7)
        } ${ratio.padStart(12)}`,
      );
    }
  }
  return lines.join("\n");
}

/** The bench:gan command. */
export const BENCH_GAN_COMMAND: Command<BenchGanCli> = {
  name: "deno task bench:gan",
  help,
  parse,
  run,
};

/** Runs the benchmark; returns the exit code. */
export function main(args: string[]): Promise<number> {
  return runCli(args, BENCH_GAN_COMMAND);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
