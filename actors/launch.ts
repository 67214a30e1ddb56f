/**
 * Running a job on worker processes: the command that starts a local worker,
 * and Ctrl-C handling (the supervisor stops every process it started).
 *
 * @module
 */
import {
  type SupervisedResult,
  TrainingSupervisor,
  type TrainingSupervisorOptions,
} from "./supervisor.ts";

/**
 * The command that starts one local worker process (`worker_main.ts`). It
 * names no config file: like the process that trains, a worker resolves the
 * problem module's imports through the `deno.json` Deno finds for it.
 *
 * @param quiet Pass `--quiet` (no log lines from the worker).
 */
export function localWorkerCommand(quiet = true): string[] {
  const main = new URL("./worker_main.ts", import.meta.url);
  return [
    Deno.execPath(),
    "run",
    "-A",
    main.protocol === "file:" ? decodeURIComponent(main.pathname) : main.href,
    ...(quiet ? ["--quiet"] : []),
  ];
}

/**
 * Runs a supervisor until the job ends; Ctrl-C (SIGINT) or SIGTERM stops
 * every worker process it started and rejects.
 *
 * @param options The supervisor's options.
 * @param announce Called once the control address is known (for remote workers).
 * @param created Called with the supervisor right after it is made.
 */
export async function supervise(
  options: TrainingSupervisorOptions,
  announce?: (address: string) => void,
  created?: (sup: TrainingSupervisor) => void,
): Promise<SupervisedResult> {
  const sup = new TrainingSupervisor(options);
  created?.(sup);
  const stop = () => {
    console.error("interrupted: committing, then stopping every worker process");
    sup.stop("interrupted", { commit: true }).catch(() => {});
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, stop);
  let settled = false;
  const running = sup.run().finally(() => (settled = true));
  if (announce) {
    (async () => {
      while (!sup.address && !settled) await new Promise((r) => setTimeout(r, 20));
      if (sup.address) announce(sup.address);
    })();
  }
  try {
    return await running;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, stop);
  }
}
