/**
 * Builds the WGAN of a job: initialises the job's tfjs backend (default
 * `auto`: tfjs-node when installed, else wasm, else cpu) and the problem of
 * `models/gan/wgan.ts`. Imported only for `problem: "wgan"`, so the games
 * never load tfjs.
 *
 * @module
 */
import { initBackend } from "../backend/backend.ts";
import { createWganProblem, type WganOptions, type WganProblem } from "../../models/gan/wgan.ts";
import type { JobConfig } from "./job.ts";

/**
 * The job's WGAN problem. `job.problemOptions` holds the {@linkcode WganOptions}
 * (dataset, arch, batch, …) plus `backend`; the seed is the job's.
 */
export async function createWganJobProblem(job: JobConfig): Promise<WganProblem> {
  const { backend = "auto", ...options } = job.problemOptions as
    & Partial<WganOptions>
    & { backend?: string };
  const { tf } = await initBackend(backend);
  return await createWganProblem(tf, {
    dataset: "mnist",
    ...options,
    seed: job.seed,
  } as WganOptions);
}
