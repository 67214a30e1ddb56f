/**
 * `deno task train`: one entry point for every training problem.
 *
 * - no `--problem`, or `--problem wgan`: the WGAN demo (`train_gan.ts`);
 * - `--problem bilinear|quadratic|linear|kelly`: monotone games (`train_game.ts`);
 * - `--problem mnist`, or `--fqt …` without `--problem`: the MNIST classifier demo
 *   (`train_mnist.ts`).
 *
 * @module
 */
import { GAME_NAMES } from "../models/games.ts";

/** Every `--problem`. */
export const TRAIN_PROBLEMS = ["wgan", "mnist", ...GAME_NAMES] as const;

/** The `--problem` value in `args` (last one wins), or undefined. */
function problemOf(args: string[]): string | undefined {
  let p: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--problem") p = args[i + 1] ?? "";
    else if (args[i].startsWith("--problem=")) p = args[i].slice("--problem=".length);
  }
  return p;
}

/** Drops `--problem X` / `--problem=X` from `args`. */
function withoutProblem(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--problem") i++;
    else if (!args[i].startsWith("--problem=")) out.push(args[i]);
  }
  return out;
}

/**
 * Dispatches to the problem's command line.
 * @param args Command-line arguments.
 * @returns The exit code (2 for an unknown problem).
 */
export async function main(args: string[]): Promise<number> {
  // Fully quantized training is a feature of the classifier demo: `--fqt` alone selects it.
  const fqt = args.some((a) => a === "--fqt" || a.startsWith("--fqt="));
  const p = problemOf(args) ?? (fqt ? "mnist" : undefined);
  if (p === undefined || p === "wgan") return await (await import("./train_gan.ts")).main(args);
  if (p === "mnist") return await (await import("./train_mnist.ts")).main(withoutProblem(args));
  if ((GAME_NAMES as readonly string[]).includes(p)) {
    return await (await import("./train_game.ts")).main(args);
  }
  console.error(
    `error: --problem: invalid value '${p}'; valid choices: ${TRAIN_PROBLEMS.join(", ")}`,
  );
  console.error("run `deno task train --help` for every flag");
  return 2;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
