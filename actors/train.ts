/**
 * `train()`: the one entry point that trains any problem data-parallel with
 * quantized communication. The problem is a module (a user's own, or one
 * this repository ships) that every worker imports; the runtime does the
 * rest: it starts the workers (processes, or in this process), broadcasts
 * the starting point, forms the ring, runs the supervisor (QODA's step sizes,
 * layer-wise level tables, commits, restarts) and checks that the replicas
 * agree.
 *
 * Started by a launcher (torchrun, Slurm's `srun`, `mpirun`, a Kubernetes
 * Indexed Job), every process calls `train()` alike: the launcher's
 * environment says which rank it is ({@linkcode rendezvousFromEnv}); rank 0
 * runs the supervisor and worker 0, every other rank joins it as one worker.
 *
 * @module
 */
import { ReplicaDivergenceError, UnknownNameError } from "../runtime/errors.ts";
import type { LevelSchedule } from "../runtime/quant/levels.ts";
import type { OptimizerName } from "../runtime/optim/types.ts";
import type { CoderName } from "../runtime/coding/codec.ts";
import { type Collective, type JobConfig, jobConfig, moduleUrl } from "./job.ts";
import { localWorkerCommand } from "./launch.ts";
import {
  type RecoveryEvent,
  TrainingSupervisor,
  type TrainingSupervisorOptions,
} from "./supervisor.ts";
import {
  launchedSupervisorOptions,
  launchHost,
  type Rendezvous,
  rendezvousFromEnv,
} from "./rendezvous.ts";
import { runWorker, type WorkerFinal } from "./worker.ts";
import { SupervisorError } from "./errors.ts";

/** The supervisor's options a {@linkcode train} call passes on as they are. */
export type TrainRunOptions = Pick<
  TrainingSupervisorOptions,
  | "evalEvery"
  | "commitEvery"
  | "commitEverySeconds"
  | "maxSkippedInARow"
  | "commitDir"
  | "resumeFrom"
  | "onEval"
  | "onStep"
  | "onRecovery"
  | "log"
>;

/**
 * Options of {@linkcode train}: the problem, the job's settings, where it runs, and the
 * supervisor's {@linkcode TrainRunOptions} (evaluations, commits, resume, callbacks).
 */
export interface TrainOptions extends TrainRunOptions {
  /**
   * The problem: the specifier of a module that exports
   * `createProblem(init): TrainProblem` (an absolute URL such as
   * `new URL("./my_problem.ts", import.meta.url)`, or a path relative to the
   * working directory), or a name of {@linkcode TrainOptions.problems}.
   */
  problem: string | URL;
  /** Names → module specifiers, for a `problem` given by name. @default {{}} */
  problems?: Readonly<Record<string, string>>;
  /** The problem's name, handed to `createProblem`. @default {the file name of the module, or the registered name} */
  name?: string;
  /** The problem's options, handed to `createProblem` (plain JSON). @default {{}} */
  options?: Record<string, unknown>;
  /**
   * `process`: one `deno` process per worker, over TCP; `inprocess`: every
   * worker in this process over in-memory links (quick experiments and tests).
   * @default {"process"}
   */
  runtime?: "process" | "inprocess";
  /** Number of workers (ring size). @default {2, or the launcher's world size} */
  workers?: number;
  /**
   * Where the processes of a launched job meet (runtime "process" only):
   * `"env"` reads this process's environment for a launcher's variables
   * (see {@linkcode rendezvousFromEnv}; no variables: a local job, as if
   * null); null ignores them. Rank 0 runs the supervisor and worker 0; every
   * other rank joins it as one worker and returns its own replica's result.
   * The shared secret comes from `QODA_RING_SECRET` or `QODA_RING_SECRET_FILE`
   * (required unless the rendezvous is on loopback).
   * @default {"env"}
   */
  rendezvous?: Rendezvous | "env" | null;
  /**
   * This host's address as the other hosts reach it (its ring listener).
   * @default {127.0.0.1 for a loopback rendezvous, else QODA_RING_HOST or the host name}
   */
  host?: string;
  /** qoda | qgenx | sgd | adam. @default {"qoda"} */
  optimizer?: OptimizerName;
  /** Base learning rate (QODA: of γ and η). @default {1} */
  lr?: number;
  /** Quantizer scheme of the exchanged vectors ("none": float32). @default {"layerwise"} */
  quant?: string;
  /** Quantizer bits. @default {4} */
  bits?: number;
  /** Quantizer bucket size. @default {1024} */
  bucket?: number;
  /**
   * How quantized vectors are reduced: `allgather`, `ring`, `integer`, or `auto` (the
   * fastest of float32, `integer` and `allgather`, timed on the run's first collectives; the
   * result's `collective` names the choice). Name one for runs that must reproduce bit for
   * bit. @default {"auto"}
   */
  collective?: Collective;
  /** Coder of the quantized messages. @default {"fixed"} */
  coder?: CoderName;
  /** Iterations. @default {1000} */
  steps?: number;
  /** Seed of everything. @default {0} */
  seed?: number;
  /** Layer-wise level re-solve schedule. @default {{ warmup: [20, 100, 500], every: 2000 }} */
  adapt?: LevelSchedule | false;
  /** Compare the replicas' checksums every this many steps (0: only at the end). @default {50} */
  checksumEvery?: number;
  /** Per-collective deadline, ms. @default {60000} */
  timeoutMs?: number;
  /**
   * Keep an exponential moving average of the parameters with this decay per
   * step (e.g. 0.999) and evaluate, checkpoint and return the average instead
   * of the last iterate (`ParamAverage`; for GANs, the averaged generator).
   * @default {0: none}
   */
  average?: number;
  /** Stops every worker and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What {@linkcode train} returns. */
export interface TrainResult {
  /** The job that ran (every setting, defaults filled in). */
  job: JobConfig;
  /** This process's rank: 0, or its launcher rank in a launched job. */
  rank: number;
  /**
   * The final parameters (every replica holds the same): the moving average
   * when the job keeps one (`average`), else the last iterate.
   */
  params: Float32Array;
  /** The problem's quality figures at the final parameters (rank 0's; empty on other ranks). */
  metrics: Record<string, number>;
  /** Steps run. */
  steps: number;
  /** Workers at the end. */
  workers: number;
  /** Payload bytes all workers sent. */
  bytesSent: number;
  /** Collectives per worker. */
  collectives: number;
  /** The collective that ran at the end (`fp32` without compression; for `auto`, its choice). */
  collective: string;
  /**
   * How the chunk payloads travelled: `shm` (shared memory between worker processes on one
   * host), `tcp`, `memory` (`runtime: "inprocess"`), `shm+tcp` where ranks differed, `none` for
   * one worker.
   */
  transport: string;
  /** Steps every replica skipped (a non-finite value on some rank). */
  skipped: number;
  /** FNV-1a of the last iterate (what the replicas agree on, averaged or not). */
  checksum: string;
  /** Ring resets after failures. */
  recoveries: RecoveryEvent[];
  /** Mean step time, ms. */
  stepMs: number;
  /** Wall time, s. */
  seconds: number;
}

/**
 * Trains a problem data-parallel with quantized communication and resolves
 * once every step has run. The replicas start from the supervisor's X_1 and
 * are compared by checksum during the run and at its end: a divergence is a
 * {@linkcode ReplicaDivergenceError}, never silent.
 *
 * @example Train a module's problem on two in-process workers
 * ```ts
 * import { train } from "@qoda/ring";
 *
 * // A problem module exports createProblem(init) → TrainProblem; this one is
 * // one of the repository's games.
 * const problem = new URL("../models/game_problem.ts", import.meta.url);
 * const r = await train({ problem, name: "quadratic", runtime: "inprocess", workers: 2, steps: 200, lr: 0.5 });
 * if (!(r.metrics.dist < 0.5 * 2)) throw new Error(`distance ${r.metrics.dist}`);
 * ```
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const { problem, problems = {}, runtime = "process", signal } = options;
  if (runtime !== "process" && runtime !== "inprocess") {
    throw new UnknownNameError("runtime", String(runtime), ["process", "inprocess"]);
  }
  const rv = runtime !== "process"
    ? null
    : options.rendezvous === undefined || options.rendezvous === "env"
    ? rendezvousFromEnv(Deno.env.toObject())
    : options.rendezvous;
  if (rv && options.workers !== undefined && options.workers !== rv.worldSize) {
    throw new RangeError(
      `workers ${options.workers} contradicts the world size ${rv.worldSize} the ${rv.launcher} launcher set`,
    );
  }
  const workers = rv?.worldSize ?? options.workers ?? 2;
  const spec = String(problem);
  const registered = Object.hasOwn(problems, spec) ? problems[spec] : undefined;
  if (registered === undefined && !looksLikeModule(spec)) {
    throw new UnknownNameError("problem", spec, Object.keys(problems));
  }
  const module = moduleUrl(registered ?? spec);
  const job = jobConfig({
    problem: options.name ?? (registered ? spec : baseName(module)),
    module,
    problemOptions: options.options ?? {},
    optimizer: options.optimizer,
    lr: options.lr,
    quant: options.quant,
    bits: options.bits,
    bucket: options.bucket,
    collective: options.collective,
    coder: options.coder,
    steps: options.steps,
    seed: options.seed,
    adapt: options.adapt,
    checksumEvery: options.checksumEvery,
    timeoutMs: options.timeoutMs,
    average: options.average,
  });
  signal?.throwIfAborted();
  const t0 = performance.now();
  let launched: Partial<TrainingSupervisorOptions> = {};
  if (rv) {
    const host = launchHost(rv, options.host);
    if (rv.rank !== 0) return await joinLaunched(rv, host, job, options.log, t0);
    launched = launchedSupervisorOptions(rv, host);
  }
  const sup = new TrainingSupervisor({
    job,
    workers,
    spawn: runtime === "inprocess" ? "inprocess" : localWorkerCommand(),
    ...launched,
    ...runOptions(options),
  });
  const abort = () => sup.stop("aborted", { commit: true }).catch(() => {});
  signal?.addEventListener("abort", abort, { once: true });
  try {
    const r = await sup.run();
    if (!r.replicas_agree) {
      throw new ReplicaDivergenceError(
        `the ${r.workers} replicas ended with different parameters (rank 0: ${r.checksum})`,
      );
    }
    return {
      job,
      rank: 0,
      params: r.params,
      metrics: r.metrics,
      steps: r.steps,
      workers: r.workers,
      bytesSent: r.bytes_sent,
      collectives: r.collectives,
      collective: r.collective_used,
      transport: r.transport,
      skipped: r.skipped,
      checksum: r.checksum,
      recoveries: r.recoveries,
      stepMs: r.step_ms,
      seconds: r.seconds,
    };
  } catch (e) {
    signal?.throwIfAborted();
    throw e;
  } finally {
    signal?.removeEventListener("abort", abort);
  }
}

/** A launched job's rank other than 0: one worker that joins the supervisor at the rendezvous. */
async function joinLaunched(
  rv: Rendezvous,
  host: string,
  job: JobConfig,
  log: ((line: string) => void) | undefined,
  t0: number,
): Promise<TrainResult> {
  let final: WorkerFinal | null = null;
  const code = await runWorker({
    join: rv.address,
    listenHost: host,
    name: `worker-rank${rv.rank}`,
    joinTimeoutMs: 120_000,
    log,
    onFinal: (f) => (final = f),
  });
  const f = final as WorkerFinal | null;
  if (code !== 0 || !f) {
    throw new SupervisorError(
      `rank ${rv.rank}: the supervisor at ${rv.address} ended the job before its last step (exit ${code})`,
    );
  }
  return {
    job,
    rank: rv.rank,
    params: f.params,
    metrics: {},
    steps: job.steps,
    workers: rv.worldSize,
    bytesSent: f.bytesSent,
    collectives: f.collectiveCalls,
    collective: f.collective,
    transport: rv.worldSize > 1 ? f.transport ?? "tcp" : "none",
    skipped: f.skipped,
    checksum: f.checksum,
    recoveries: [],
    stepMs: NaN,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Every key of {@linkcode TrainRunOptions} (the compiler holds the two lists together). */
const RUN_OPTION_KEYS: Record<keyof TrainRunOptions, true> = {
  evalEvery: true,
  commitEvery: true,
  commitEverySeconds: true,
  maxSkippedInARow: true,
  commitDir: true,
  resumeFrom: true,
  onEval: true,
  onStep: true,
  onRecovery: true,
  log: true,
};

/** The options of a train() call that go to the supervisor as they are. */
function runOptions(o: TrainOptions): TrainRunOptions {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(RUN_OPTION_KEYS) as (keyof TrainRunOptions)[]) out[k] = o[k];
  return out as TrainRunOptions;
}

function looksLikeModule(spec: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(spec) || /[\\/]/.test(spec) || /\.[cm]?[jt]sx?$/.test(spec);
}

function baseName(url: string): string {
  const file = url.slice(url.lastIndexOf("/") + 1);
  return file.replace(/\.[cm]?[jt]sx?$/, "") || url;
}
