/**
 * The problems this repository ships, by name: each name maps to the module
 * that builds it (a `ProblemModule`), which is what a job carries. The
 * runtime never names a problem; the command lines resolve a `--problem` name
 * here.
 *
 * @example
 * ```ts
 * import { problemModule, PROBLEM_NAMES } from "./registry.ts";
 * if (!PROBLEM_NAMES.includes("wgan") || !PROBLEM_NAMES.includes("mnist")) throw new Error();
 * if (!problemModule("bilinear").endsWith("/game_problem.ts")) throw new Error();
 * ```
 *
 * @module
 */
import { UnknownNameError } from "../runtime/errors.ts";
import { GAME_NAMES } from "./games.ts";

const MODULES: Record<string, string> = {
  ...Object.fromEntries(GAME_NAMES.map((g) => [g, "./game_problem.ts"])),
  wgan: "./gan/job.ts",
  mnist: "./mnist/problem.ts",
};

/** Every problem name a job may use with {@linkcode problemModule}. */
export const PROBLEM_NAMES: readonly string[] = Object.keys(MODULES);

/**
 * The URL of the module that builds problem `name`.
 * @throws {UnknownNameError} `name` is not a shipped problem.
 */
export function problemModule(name: string): string {
  const m = MODULES[name];
  if (!m) throw new UnknownNameError("problem", name, PROBLEM_NAMES);
  return new URL(m, import.meta.url).href;
}
