// Flag-value checks shared by the training command lines (scripts/train_*.ts).
// Internal to scripts/.
import { localWorkerCommand } from "../actors/launch.ts";

/** A bad command line: the CLIs print the message and exit with code 2. */
export class Usage extends Error {}

/** `v` if it is one of `valid`, else a {@linkcode Usage} error listing them. */
export function choice<T extends string>(flag: string, v: string, valid: readonly T[]): T {
  if (!(valid as readonly string[]).includes(v)) {
    throw new Usage(`${flag}: invalid value '${v}'; valid choices: ${valid.join(", ")}`);
  }
  return v as T;
}

/** `v` as a number within the bounds, else a {@linkcode Usage} error saying what was expected. */
export function num(
  flag: string,
  v: string,
  opts: { int?: boolean; min?: number; gt?: number } = {},
): number {
  const x = Number(v);
  if (
    v.trim() === "" || !Number.isFinite(x) || (opts.int && !Number.isInteger(x)) ||
    x < (opts.min ?? -Infinity) || (opts.gt !== undefined && !(x > opts.gt))
  ) {
    const bound = opts.min !== undefined
      ? ` ≥ ${opts.min}`
      : opts.gt !== undefined
      ? ` > ${opts.gt}`
      : "";
    throw new Usage(
      `${flag}: expected ${opts.int ? "an integer" : "a number"}${bound}, got '${v}'`,
    );
  }
  return x;
}

/** The process-runtime flags (`PROCESS_FLAG_OPTIONS`), checked. */
export interface ProcessFlags {
  listen: string;
  secret?: string;
  remoteWorkers: boolean;
  elastic: boolean;
  heartbeatMs: number;
}

/** Reads the process-runtime flags from parseArgs values. */
export function processFlags(a: Record<string, string | boolean | undefined>): ProcessFlags {
  return {
    listen: a.listen as string,
    secret: a.secret as string | undefined,
    remoteWorkers: a["remote-workers"] as boolean,
    elastic: a.elastic as boolean,
    heartbeatMs: num("--heartbeat-ms", a["heartbeat-ms"] as string, { int: true, min: 100 }),
  };
}

/** The supervisor options that the process-runtime flags decide. */
export function processOptions(workers: number, f: ProcessFlags) {
  return {
    workers,
    spawn: f.remoteWorkers ? null : localWorkerCommand(),
    listen: f.listen,
    secret: f.secret ?? null,
    elastic: f.elastic,
    heartbeatTimeoutMs: f.heartbeatMs,
  };
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
