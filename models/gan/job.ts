/**
 * The WGAN as a problem module (see `ProblemModule` in `actors/problem.ts`):
 * initialises the job's tfjs backend (default `auto`: tfjs-node when
 * installed, else wasm, else cpu) and builds the problem of `wgan.ts`. The
 * runtime imports this module only for a WGAN job, so the games never load
 * tfjs.
 *
 * @module
 */
import { initBackend } from "../tfjs/backend/backend.ts";
import { createWganProblem, type WganOptions, type WganProblem } from "./wgan.ts";
import type { ProblemInit } from "../../actors/problem.ts";

/**
 * The job's WGAN problem. `init.options` holds the {@linkcode WganOptions}
 * (dataset, arch, batch, …) plus `backend`; the seed is the job's.
 *
 * @example The ring of eight Gaussians on the cpu backend
 * ```ts
 * import { createProblem } from "./job.ts";
 * const p = await createProblem({
 *   name: "wgan",
 *   options: { dataset: "gaussians8", backend: "cpu", evalSamples: 100 },
 *   seed: 0,
 * });
 * if (p.dim !== p.initial().length) throw new Error();
 * p.dispose();
 * ```
 */
export async function createProblem(init: ProblemInit): Promise<WganProblem> {
  const { backend = "auto", ...options } = init.options as
    & Partial<WganOptions>
    & { backend?: string };
  const { tf } = await initBackend(backend);
  return await createWganProblem(tf, {
    dataset: "mnist",
    ...options,
    seed: init.seed,
  } as WganOptions);
}
