/**
 * What the training CLIs share when they run a job on worker processes: the
 * command that starts a local worker, the process-runtime flags, and Ctrl-C
 * handling (the supervisor stops every process it started).
 *
 * @module
 */
import {
  type SupervisedResult,
  TrainingSupervisor,
  type TrainingSupervisorOptions,
} from "../../actors/supervisor.ts";

/** The command that starts one local worker process (`scripts/worker.ts`). */
export function localWorkerCommand(quiet = true): string[] {
  const root = new URL("../../", import.meta.url);
  return [
    Deno.execPath(),
    "run",
    "-A",
    "--config",
    new URL("deno.json", root).pathname,
    new URL("scripts/worker.ts", root).pathname,
    ...(quiet ? ["--quiet"] : []),
  ];
}

/** Help lines of the process-runtime flags (shared by the training CLIs). */
export const PROCESS_FLAGS_HELP =
  `process runtime (one process per worker, a supervisor in this process):
  --runtime R         process (worker processes over TCP, the default) | inprocess (all
                      workers in this process over an in-memory ring: quick experiments)
  --listen HOST:PORT  the supervisor's control address (default 127.0.0.1:0, any free port)
  --secret S          shared secret of the control plane and the ring (or QODA_RING_SECRET);
                      required off loopback
  --remote-workers    start no local workers: wait for --workers N processes started with
                      \`deno task worker --join HOST:PORT --secret S\`
  --elastic           when a worker dies, go on with fewer instead of starting a new one
  --heartbeat-ms N    a worker silent this long is declared dead (default 10000)`;

/** parseArgs option specs of {@linkcode PROCESS_FLAGS_HELP}. */
export const PROCESS_FLAG_OPTIONS = {
  runtime: { type: "string", default: "process" },
  listen: { type: "string", default: "127.0.0.1:0" },
  secret: { type: "string" },
  "remote-workers": { type: "boolean", default: false },
  elastic: { type: "boolean", default: false },
  "heartbeat-ms": { type: "string", default: "10000" },
} as const;

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
    console.error("interrupted: stopping every worker process");
    sup.stop("interrupted").catch(() => {});
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
