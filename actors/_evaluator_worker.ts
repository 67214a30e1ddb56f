/**
 * A Web Worker that evaluates a job's problem off the supervisor's thread:
 * quality metrics (a Fréchet distance over 1,000 generated digits takes
 * seconds) must not hold up the step commands. Messages in:
 * `{ job }` once, then `{ id, params }` (no `params`: the problem's
 * starting point); out: `{ id, metrics }` or `{ id, error }`.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { createProblem, type JobConfig } from "./job.ts";
import type { TrainProblem } from "./problem.ts";

let problem: Promise<TrainProblem> | null = null;

self.onmessage = async (e: MessageEvent) => {
  const m = e.data as { job?: JobConfig; id?: number; params?: Float32Array };
  if (m.job) {
    problem = createProblem(m.job);
    problem.catch(() => {}); // reported with the first evaluation
    return;
  }
  try {
    if (!problem) throw new Error("evaluator: no job yet");
    const p = await problem;
    const metrics = await p.evaluate(m.params ?? p.initial());
    self.postMessage({ id: m.id, metrics });
  } catch (err) {
    self.postMessage({ id: m.id, error: (err as Error).message ?? String(err) });
  }
};
