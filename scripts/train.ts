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
import { type Rendezvous, rendezvousFromEnv } from "../actors/rendezvous.ts";
import { main as workerMain } from "../actors/worker_main.ts";
import { peekFlag, runCli, UsageError } from "./_cli.ts";

/** Every `--problem`. */
export const TRAIN_PROBLEMS = ["wgan", "mnist", ...GAME_NAMES] as const;

/**
 * Dispatches to the problem's command line.
 * @param args Command-line arguments.
 * @returns The exit code (2 for an unknown problem).
 */
export async function main(args: string[]): Promise<number> {
  // Started by a launcher (torchrun, srun, mpirun, a Kubernetes Indexed Job): rank 0 runs the
  // command with the launcher's world size; every other rank is one worker of its job.
  let rv: Rendezvous | null;
  try {
    rv = rendezvousFromEnv(Deno.env.toObject());
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 2;
  }
  if (rv) {
    const given = peekFlag(args, "workers");
    if (given !== undefined && Number(given) !== rv.worldSize) {
      console.error(
        `error: --workers ${given} contradicts the world size ${rv.worldSize} the ${rv.launcher} launcher set`,
      );
      return 2;
    }
    if (peekFlag(args, "runtime") === "inprocess") {
      console.error(
        `error: --runtime inprocess cannot run a job the ${rv.launcher} launcher started`,
      );
      return 2;
    }
    if (rv.rank !== 0) return await workerMain(args.includes("--quiet") ? ["--quiet"] : []);
    args = [...args, "--workers", String(rv.worldSize), "--runtime", "process"];
  }
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
