/**
 * `deno task train`: one entry point for every training problem.
 *
 * - no `--problem`, or `--problem wgan`: the WGAN demo (`train_gan.ts`);
 * - `--problem bilinear|quadratic|linear|kelly`: monotone games (`train_game.ts`);
 * - `--problem mnist`, or `--fqt …` without `--problem`: the MNIST classifier demo
 *   (`train_mnist.ts`).
 *
 * Each command parses the whole command line (`--problem` included) with its own flag table.
 *
 * @module
 */
import { GAME_NAMES } from "../models/games.ts";
import { peekFlag, runCli, UsageError } from "./_cli.ts";

/** Every `--problem`. */
export const TRAIN_PROBLEMS = ["wgan", "mnist", ...GAME_NAMES] as const;

/**
 * Dispatches to the problem's command line.
 * @param args Command-line arguments.
 * @returns The exit code (2 for an unknown problem).
 */
export async function main(args: string[]): Promise<number> {
  // Fully quantized training is a feature of the classifier demo: `--fqt` alone selects it.
  const fqt = args.some((a) => a === "--fqt" || a.startsWith("--fqt="));
  const p = peekFlag(args, "problem") ?? (fqt ? "mnist" : undefined);
  if (p === undefined || p === "wgan") return await (await import("./train_gan.ts")).main(args);
  if (p === "mnist") return await (await import("./train_mnist.ts")).main(args);
  if ((GAME_NAMES as readonly string[]).includes(p)) {
    return await (await import("./train_game.ts")).main(args);
  }
  return await runCli(args, {
    name: "deno task train",
    help: () => `usage: deno task train --problem ${TRAIN_PROBLEMS.join("|")} [flags]`,
    parse: () => {
      throw new UsageError(
        `--problem: invalid value '${p}'; valid choices: ${TRAIN_PROBLEMS.join(", ")}`,
      );
    },
    run: () => Promise.resolve(2),
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
