/**
 * The supervisor actor of the process runtime. It
 *
 * - listens on a control address and accepts workers (local processes it
 *   spawned with `--workers N`, or remote ones started with
 *   `deno task worker --join host:port --secret …`), authenticated by the
 *   ring's HMAC handshake;
 * - forms the ring: ranks, every rank's ring address, an epoch number;
 * - owns QODA's state: the step counter, the step-size accumulator and the
 *   step sizes ({@linkcode StepSchedule}), the layer-wise level tables
 *   (re-solved from every rank's statistics, then broadcast) and the commits;
 * - answers every step's reports with one command (η, γ, skip, level-table
 *   version, commit);
 * - watches heartbeats, connections and child processes, and on a failure
 *   resets the ring to a new epoch all-for-one: it restarts the dead worker
 *   (or, with `elastic`, goes on with fewer), restores the last commit and
 *   carries on, within the restart budget of its supervision policy.
 *
 * It is an actor: every worker's messages, lost connections, process exits
 * and watchdog ticks go through one mailbox and are handled one at a time;
 * its run (the epochs and their steps) reads the state those handlers keep.
 * Workers it starts itself are processes (`spawn`: a command) or actors in
 * this process (`spawn: "inprocess"`, over in-memory links and rings).
 *
 * @module
 */
import {
  decide as decidePolicy,
  isDeterministicFailure,
  type SupervisionPolicy,
  validatePolicy,
} from "./supervision.ts";
import { deserializeError } from "./error_codec.ts";
import { ReplicaDivergenceError } from "../runtime/errors.ts";
import { SupervisorError } from "./errors.ts";
import {
  LayerwiseQuantizer,
  type LevelTable,
  solveLevelTable,
} from "../runtime/quant/layerwise.ts";
import { isAdaptStep } from "../runtime/quant/levels.ts";
import { isLoopback, parseAddress } from "../runtime/transport/tcp.ts";
import type { StepReportMessage } from "../runtime/wire/messages.ts";
import { decodeCommit, encodeCommit, readCommit, writeCommit } from "./commit.ts";
import { acceptControl, ControlChannel, type ControlEvent, secretBytes } from "./control.ts";
import { createJobQuantizer, createProblem, type JobConfig } from "./job.ts";
import type { TrainProblem } from "./problem.ts";
import { type ScheduleState, StepSchedule } from "./schedule.ts";
import { MemoryRingHub, serveWorker, tcpRingConnector } from "./worker.ts";
import type { Assignment, CommitPart, JoinBody, NonFiniteBody, ParamsBody } from "./messages.ts";
import { Actor } from "./actor.ts";
import { memoryLinkPair } from "../runtime/transport/memory.ts";
import { TcpAcceptor } from "../runtime/transport/acceptor.ts";

/** Options of {@linkcode TrainingSupervisor}. */
export interface TrainingSupervisorOptions {
  /** The job every worker runs. */
  job: JobConfig;
  /** Ring size to form. */
  workers: number;
  /**
   * Command that starts one local worker; the supervisor appends
   * `--join HOST:PORT` (and passes the secret in QODA_RING_SECRET). Null:
   * spawn nothing and wait for remote workers to join.
   */
  spawn?: string[] | "inprocess" | null;
  /**
   * How many of the `workers` this supervisor starts itself with `spawn`;
   * the rest join from elsewhere. @default {all of them with a spawn, none without}
   */
  localWorkers?: number;
  /**
   * In-process workers form their rings over TCP on this host (so that
   * workers of other processes can be in the same ring), not in memory.
   */
  ringHost?: string;
  /** Control address to listen on. @default {"127.0.0.1:0"} */
  listen?: string;
  /** Shared secret (or QODA_RING_SECRET); required off loopback. */
  secret?: string | null;
  /** Go on with fewer workers instead of replacing a dead one. @default {false} */
  elastic?: boolean;
  /** Restart budget and backoff (all-for-one). @default {3 restarts in 10 min, 200 ms backoff} */
  policy?: SupervisionPolicy;
  /** A worker silent for this long is dead, ms. @default {10000} */
  heartbeatTimeoutMs?: number;
  /** Waiting for workers to join or get ready, ms. @default {120000} */
  joinTimeoutMs?: number;
  /** Evaluate rank 0's parameters every this many steps (0: only at the end). */
  evalEvery?: number;
  /** Commit every this many steps (0: never). */
  commitEvery?: number;
  /** Also commit once this many seconds passed since the last commit (0: never). @default {0} */
  commitEverySeconds?: number;
  /** Give up when this many steps in a row were skipped (non-finite values). @default {50} */
  maxSkippedInARow?: number;
  /** Directory of `commit.json` (a commit is kept in memory for recovery anyway). */
  commitDir?: string;
  /** Resume from `DIR/commit.json`. */
  resumeFrom?: string;
  /** Called with each evaluation. */
  onEval?: (e: SupervisedEval) => void;
  /** Called after each decided step. */
  onStep?: (s: StepSummary) => void;
  /** Called when the ring is reset. */
  onRecovery?: (r: RecoveryEvent) => void;
  /** One line per notable event. */
  log?: (line: string) => void;
}

/** One decided step, as the supervisor saw it. */
export interface StepSummary {
  /** The step (1-based). */
  step: number;
  /** The ring epoch it ran in. */
  epoch: number;
  /** Every rank skipped it (a non-finite value somewhere). */
  skip: boolean;
  /** Ranks that reported a non-finite value. */
  nonFiniteRanks: number[];
  /** QODA's γ decided for the step after next. */
  gamma: number;
  /** QODA's η of this step's dual update. */
  eta: number;
  /** Mean over ranks of the oracle (compute) time, ms. */
  computeMs: number;
  /** Mean over ranks of the quantize + encode time, ms. */
  quantizeMs: number;
  /** Mean over ranks of the rest of the collective (wire, decode, reduce), ms. */
  communicateMs: number;
  /** Mean over ranks of the optimiser's own time, ms. */
  optimizerMs: number;
  /** Mean wait of the previous step for this supervisor's command, ms. */
  controlMs: number;
  /** The shortest such wait of any rank (round trip and decision, no skew), ms. */
  controlCriticalMs: number;
  /** Payload bytes all ranks sent this step. */
  bytesSent: number;
  /** Collectives per rank this step. */
  collectives: number;
  /** Level table version in force after the step. */
  levelVersion: number;
}

/** An evaluation of rank 0's parameters. */
export interface SupervisedEval {
  /** The step the parameters were taken after (0: the starting point). */
  step: number;
  /** The problem's quality figures (`quality` and the problem's own). */
  metrics: Record<string, number>;
  /** Rank 0's last oracle scalars (losses). */
  scalars: Record<string, number>;
  /** Rank 0's measured ε_Q per layer type since the previous evaluation. */
  eps: Record<string, number>;
  /** The level table in force (null: initial levels or no layer-wise quantizer). */
  levels: LevelTable | null;
  /** Rank 0's parameters, or their moving average when the job keeps one (for checkpoints and samples). */
  params: Float32Array;
  /** When the parameters reached the supervisor (`performance.now()`); metrics come later. */
  receivedAt: number;
}

/** A ring reset. */
export interface RecoveryEvent {
  /** The epoch that failed. */
  epoch: number;
  /** What failed. */
  reason: string;
  /** Workers found dead. */
  dead: string[];
  /** The step the next epoch resumes after. */
  resumeStep: number;
  /** Ring size of the next epoch. */
  size: number;
  /** ms from the failure's detection to the next epoch being ready. */
  recoveryMs?: number;
}

/** What a supervised run returns. */
export interface SupervisedResult {
  /** Steps run. */
  steps: number;
  /** Workers in the ring at the end. */
  workers: number;
  /** Final quality figures of the problem (at rank 0's parameters). */
  metrics: Record<string, number>;
  /** Collectives per rank over the committed history. */
  collectives: number;
  /** Payload bytes all ranks sent over the committed history. */
  bytes_sent: number;
  /** Skipped steps (agreed non-finite). */
  skipped: number;
  /** Every rank's final parameters had the same checksum. */
  replicas_agree: boolean;
  /** The collective that ran at the end (`fp32` without compression; for `auto`, its choice). */
  collective_used: string;
  /**
   * How the last ring's chunk payloads travelled: `shm` (shared memory between processes on
   * one host), `tcp`, `memory` (in-process), both of the first two joined by `+` where ranks
   * differed, or `none` for a single worker.
   */
  transport: string;
  /** FNV-1a of the last iterate. */
  checksum: string;
  /** Ring resets. */
  recoveries: RecoveryEvent[];
  /** Epochs run. */
  epochs: number;
  /** Mean time between decided steps, ms. */
  step_ms: number;
  /** Mean oracle (compute) time per step, ms. */
  compute_ms: number;
  /** Mean quantize + encode time per step, ms. */
  quantize_ms: number;
  /** Mean rest of the collectives per step, ms. */
  communicate_ms: number;
  /** Mean optimiser time per step, ms. */
  optimizer_ms: number;
  /** Mean wait for the supervisor's command per step, ms. */
  control_ms: number;
  /**
   * Mean over steps of the shortest wait any rank had for its command (the
   * last rank to report waits only for the round trip and the decision; the
   * others' longer waits are skew they would otherwise spend in the next
   * collective): the supervisor's added latency per step, in ms.
   */
  control_critical_ms: number;
  /** control_critical_ms / step time: the supervisor's per-step overhead. */
  control_overhead: number;
  /** The final parameters (their moving average when the job keeps one). */
  params: Float32Array;
  /** Wall time of the run, s. */
  seconds: number;
}

/** A connected worker. */
interface Member {
  ch: ControlChannel;
  name: string;
  address: string;
  pid: number;
  child: LocalWorker | null;
  lastSeen: number;
  dead: string | null;
  rank: number;
}

/** The state an epoch starts from: a commit (or the beginning). */
interface Restart {
  step: number;
  schedule: ScheduleState;
  levels: LevelTable | null;
  parts: CommitPart[] | null;
}

/** The commit file. */
interface SupervisorCommit extends Restart {
  format: 2;
  job: JobConfig;
}

/** Options of {@linkcode TrainingSupervisor.stop}. */
export interface SupervisorStopOptions {
  /** Commit at the next step first (with a `commitDir`), so that a resume loses nothing. @default {false} */
  commit?: boolean;
  /** How long to wait for that commit, ms. @default {10000} */
  commitTimeoutMs?: number;
}

/** What the supervisor actor's mailbox takes. */
type SupervisorInbox =
  | { type: "joined"; member: Member }
  | { type: "message"; member: Member; msg: ControlEvent }
  | { type: "lost"; member: Member; why: string }
  | { type: "exited"; child: LocalWorker; why: string }
  | { type: "beat"; pid: number; name: string }
  | { type: "tick" };

/** A worker this supervisor started: a process, or a worker in this process. */
interface LocalWorker {
  /** Its process id (in-process workers: a negative id). */
  readonly pid: number;
  /** Ends it at once. */
  kill(): void;
  /** Settles with why it ended ("exited with code 0", "killed by SIGKILL"). */
  readonly status: Promise<string>;
  /** "worker process" or "in-process worker", for messages. */
  readonly what: string;
}

const DEFAULT_POLICY: SupervisionPolicy = {
  strategy: "all-for-one",
  maxRestarts: 3,
  withinMs: 600_000,
  backoff: { initialMs: 200, factor: 2, maxMs: 5_000 },
};

class EpochFailed extends Error {}

/**
 * Runs a job on a ring of worker processes.
 *
 * @example Two local worker processes on the bilinear game
 * ```ts ignore
 * import { TrainingSupervisor } from "./supervisor.ts";
 * const sup = new TrainingSupervisor({
 *   job: { problem: "bilinear", problemOptions: {}, optimizer: "qoda", lr: 0.5, quant: "layerwise",
 *     bits: 4, bucket: 1024, collective: "allgather", steps: 500, seed: 0,
 *     adapt: { warmup: [20, 100], every: 0 }, checksumEvery: 50, timeoutMs: 30_000 },
 *   workers: 2,
 *   spawn: [Deno.execPath(), "run", "-A", "actors/worker_main.ts"],
 * });
 * const r = await sup.run();
 * console.log(r.metrics.dist, r.replicas_agree);
 * ```
 */
export class TrainingSupervisor {
  readonly #o: TrainingSupervisorOptions;
  readonly #log: (line: string) => void;
  readonly #joined: Member[] = [];
  readonly #children = new Set<LocalWorker>();
  /** An epoch is forming its ring (workers may be busy building their problem). */
  #forming = false;
  /** The slowest step so far, ms. */
  #slowestStepMs = 0;
  /** Where the last non-finite operator sample was. */
  #lastNonFinite: NonFiniteBody | null = null;
  /** Steps skipped one after another, up to now. */
  #skippedInARow = 0;
  /** When workers that died outside a running ring were replaced (for the restart budget). */
  readonly #outsideRestarts: number[] = [];
  /** Set when the run cannot go on (workers keep dying before a ring forms). */
  #giveUp: SupervisorError | null = null;
  /** The shared secret, for workers started later. */
  #secret: Uint8Array | null = null;
  /** Workers this supervisor ended itself (their exits are expected). */
  readonly #killed = new Set<LocalWorker>();
  /** Spawned processes that have not joined yet. */
  readonly #pendingChildren: LocalWorker[] = [];
  /** In-process workers' rings (spawn "inprocess"). */
  readonly #memoryRings = new MemoryRingHub();
  #inprocessIds = 0;
  #acceptor: TcpAcceptor | null = null;
  #address = "";
  #wake: (() => void)[] = [];
  #failure: string | null = null;
  #failedAt = 0;
  /** The first deterministic error a worker reported in this epoch (see `isDeterministicFailure`). */
  #deterministic: { who: string; error: Error } | null = null;
  #levels: LevelTable | null = null;
  #active: Member[] = [];
  #epoch = 0;
  #stopping = false;
  // Per-epoch inboxes, filled by the readers.
  #reports = new Map<number, StepReportMessage[]>();
  #stats = new Map<number, Record<string, Float64Array>[]>();
  #ready = new Set<number>();
  /** Each ready rank's transport to its right neighbour (`ReadyBody.transport`). */
  #transports = new Map<number, string>();
  #parts = new Map<number, CommitPart[]>();
  #finals: { body: ParamsBody; blob: Uint8Array }[] = [];
  #evals: Promise<void>[] = [];
  /** Commits being gathered or written. */
  #commits: Promise<void>[] = [];
  /** The commit file's writes, one after another. */
  #commitWrite: Promise<void> = Promise.resolve();
  /** The step of the newest commit written. */
  #lastWritten = -1;
  /** When the last commit was asked for (`performance.now()`). */
  #lastCommitAt = performance.now();
  /** Commit at the next step (a stop that commits first). */
  #commitAsap = false;
  /** Stop once the commit asked for by {@linkcode TrainingSupervisor.stop} is written. */
  #stopAfterCommit: string | null = null;
  #evalProblem: Promise<TrainProblem> | null = null;
  #evaluator: Worker | null = null;
  #evalId = 0;
  /** This actor's mailbox: joins, messages, lost connections, exits, watchdog ticks. */
  readonly #inbox: Actor<SupervisorInbox> = new Actor<SupervisorInbox>({
    name: "supervisor",
    handler: (e) => this.#handle(e),
    onFailure: (r) => {
      this.#stopping = true;
      this.#fail(`the supervisor's handler failed: ${(r.error as Error)?.message}`);
    },
  });
  readonly #evalWaiters = new Map<
    number,
    { resolve: (m: Record<string, number>) => void; reject: (e: Error) => void }
  >();

  /**
   * Creates a supervisor; {@linkcode TrainingSupervisor.run} starts it.
   * @param options See {@linkcode TrainingSupervisorOptions}.
   */
  constructor(options: TrainingSupervisorOptions) {
    if (!(Number.isInteger(options.workers) && options.workers >= 1)) {
      throw new RangeError(`workers must be an integer ≥ 1, got ${options.workers}`);
    }
    if (options.policy) validatePolicy(options.policy);
    this.#o = options;
    this.#log = options.log ?? (() => {});
  }

  /** The control address workers join ("host:port"), once `run()` listens. */
  get address(): string {
    return this.#address;
  }

  /** PIDs of the local worker processes alive now (for tests and Ctrl-C). */
  get workerPids(): number[] {
    return this.#active.filter((m) => m.child && !m.dead).map((m) => m.pid);
  }

  /** Stops everything: tells workers to shut down and kills local ones. */
  async stop(reason = "stopped", options: SupervisorStopOptions = {}): Promise<void> {
    const { commit = false, commitTimeoutMs = 10_000 } = options;
    if (commit && this.#o.commitDir && !this.#stopping && this.#epoch > 0) {
      // Commit at the next step, then stop there (the step loop waits for the
      // write and sets #stopping): a resume loses nothing.
      const before = this.#lastWritten;
      this.#commitAsap = true;
      this.#stopAfterCommit = reason;
      const deadline = performance.now() + commitTimeoutMs;
      while (!this.#stopping && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      if (this.#lastWritten !== before) {
        this.#log(`supervisor: committed step ${this.#lastWritten}`);
      }
    }
    this.#stopping = true;
    this.#failure ??= reason;
    this.#notify();
    for (const m of this.#joined) {
      await m.ch.sendWire({ type: "shutdown", epoch: this.#epoch, reason }).catch(() => {});
    }
    await this.#reap(2_000);
  }

  /** Runs the job to its end (recovering from failures) and returns the figures. */
  async run(): Promise<SupervisedResult> {
    const o = this.#o, t0 = performance.now();
    const job = o.job;
    const secret = this.#secret = secretBytes(o.secret);
    const { hostname: host, port } = parseAddress(o.listen ?? "127.0.0.1:0", true);
    if (!isLoopback(host) && !secret) {
      throw new SupervisorError(
        `refusing to listen on ${host}, which is not loopback, without a secret: pass --secret or set QODA_RING_SECRET`,
      );
    }
    if (o.spawn === "inprocess" && (o.localWorkers ?? o.workers) >= o.workers) {
      this.#address = "in-process";
    } else {
      this.#acceptor = new TcpAcceptor(Deno.listen({ hostname: host, port, transport: "tcp" }), {
        log: (l) => this.#log(`supervisor: ${l}`),
      });
      this.#address = `${host}:${this.#acceptor.addr.port}`;
      this.#log(`supervisor: listening on ${this.#address}`);
      this.#acceptLoop(secret);
    }
    await this.#inbox.start();
    const watchdog = setInterval(() => this.#tell({ type: "tick" }), 200);
    try {
      let size = o.workers;
      let restart: Restart = o.resumeFrom ? await this.#loadCommit(o.resumeFrom) : {
        step: 0,
        schedule: { t: 0, sumSq: 0, skipped: 0 },
        levels: null,
        parts: null,
      };
      const local = o.spawn ? Math.min(size, o.localWorkers ?? size) : 0;
      for (let i = 0; i < local; i++) this.#spawn(secret);
      let lastCommit: Restart = restart;
      // The starting point's quality, so curves start where training did.
      if ((o.evalEvery ?? 0) > 0 && restart.step === 0) this.#evaluate(0, null, null);
      const history: number[] = [];
      const recoveries: RecoveryEvent[] = [];
      const totals = {
        step: 0,
        compute: 0,
        quantize: 0,
        comm: 0,
        opt: 0,
        control: 0,
        critical: 0,
        n: 0,
      };
      for (;;) {
        if (this.#stopping) throw new SupervisorError(this.#failure ?? "stopped");
        await this.#until(
          () => this.#alive().length >= size,
          o.joinTimeoutMs ?? 120_000,
          () => `only ${this.#alive().length} of ${size} workers joined`,
          false,
        );
        const members = this.#alive().slice(0, size);
        try {
          const out = await this.#runEpoch(
            members,
            restart,
            (c) => (lastCommit = c),
            totals,
            () => {
              const last = recoveries.at(-1);
              if (last && last.recoveryMs === undefined) {
                last.recoveryMs = performance.now() - this.#failedAt;
              }
            },
          );
          const steps = job.steps;
          const stepMs = totals.n ? totals.step / totals.n : 0;
          return {
            steps,
            workers: size,
            ...out,
            recoveries,
            epochs: this.#epoch,
            step_ms: stepMs,
            compute_ms: totals.n ? totals.compute / totals.n : 0,
            quantize_ms: totals.n ? totals.quantize / totals.n : 0,
            communicate_ms: totals.n ? totals.comm / totals.n : 0,
            optimizer_ms: totals.n ? totals.opt / totals.n : 0,
            control_ms: totals.n ? totals.control / totals.n : 0,
            control_critical_ms: totals.n ? totals.critical / totals.n : 0,
            control_overhead: stepMs > 0 ? totals.critical / totals.n / stepMs : 0,
            seconds: (performance.now() - t0) / 1000,
          };
        } catch (e) {
          if (!(e instanceof EpochFailed)) throw e;
          if (this.#stopping) throw new SupervisorError(`stopped: ${this.#failure ?? e.message}`);
          const reason = this.#failure ?? e.message;
          // Give the real culprit's exit or end of stream a moment to show.
          await new Promise((r) => setTimeout(r, 300));
          const dead = members.filter((m) => m.dead !== null);
          this.#log(
            `supervisor: epoch ${this.#epoch} failed: ${reason}` +
              (dead.length ? `; dead: ${dead.map((m) => `${m.name} (${m.dead})`).join(", ")}` : ""),
          );
          // A deterministic error (a bad shape, a configuration error) comes back on
          // every attempt: stop now. A crash, or an error that followed one, restarts.
          const det = this.#deterministic;
          if (det && dead.length === 0) {
            throw new SupervisorError(
              `${det.who} failed with a deterministic error in epoch ${this.#epoch}, ` +
                `not retried (a restart would repeat it): ${det.error.name}: ${det.error.message}`,
              { cause: det.error },
            );
          }
          const d = decidePolicy(o.policy ?? DEFAULT_POLICY, history, performance.now());
          if (d.action === "escalate") {
            throw new SupervisorError(
              `giving up after epoch ${this.#epoch} failed (${reason}): ${d.reason}`,
            );
          }
          history.push(performance.now());
          for (const m of members) {
            if (!m.dead) m.ch.send("abort", { epoch: this.#epoch }).catch(() => {});
          }
          for (const m of dead) this.#drop(m);
          if (o.elastic) size -= dead.length;
          else for (const m of dead) if (m.child) this.#spawn(secret);
          if (size < 1) throw new SupervisorError(`no workers left after epoch ${this.#epoch}`);
          restart = lastCommit;
          const ev: RecoveryEvent = {
            epoch: this.#epoch,
            reason,
            dead: dead.map((m) => m.name),
            resumeStep: restart.step,
            size,
          };
          recoveries.push(ev);
          o.onRecovery?.(ev);
          this.#failure = null;
          await new Promise((r) => setTimeout(r, d.delayMs));
        }
      }
    } finally {
      clearInterval(watchdog);
      await this.stop("finished").catch(() => {});
      this.#acceptor?.close();
      await Promise.allSettled(this.#evals);
      this.#evaluator?.terminate();
      (await this.#evalProblem?.catch(() => null))?.dispose?.();
      await this.#inbox.stop({ mode: "drop" });
    }
  }

  /** Posts an event to this actor's own mailbox (dropped once it is closed). */
  #tell(e: SupervisorInbox, from = "supervisor"): Promise<void> {
    return this.#inbox.tellAsync(from, e).catch(() => {});
  }

  /** Handles one event of the mailbox: the only place member state changes. */
  #handle(e: SupervisorInbox): void {
    switch (e.type) {
      case "joined":
        this.#joined.push(e.member);
        this.#log(
          `supervisor: ${e.member.name} joined from ${e.member.ch.remote} (ring address ${e.member.address})`,
        );
        this.#notify();
        return;
      case "message":
        e.member.lastSeen = performance.now();
        return this.#dispatch(e.member, e.msg);
      case "lost":
        return this.#markDead(e.member, e.why);
      case "exited": {
        const { child, why } = e;
        this.#children.delete(child);
        if (this.#killed.delete(child)) {
          // This supervisor ended it: the failure it was ended for is already known.
          const m = this.#joined.find((j) => j.child === child);
          if (m) {
            this.#markDead(m, `${child.what} ${Math.abs(child.pid)} stopped by the supervisor`);
          }
          return;
        }
        const m = this.#joined.find((j) => j.child === child);
        const pending = this.#pendingChildren.indexOf(child);
        if (pending >= 0) this.#pendingChildren.splice(pending, 1);
        const what = `${child.what} ${Math.abs(child.pid)} ${why}${m ? "" : " before joining"}`;
        if (m) this.#markDead(m, what);
        if (this.#stopping || (m && this.#active.includes(m))) return; // the epoch's failure handles it
        // Not in a running ring (starting, or between epochs): start another in its place,
        // within the restart budget.
        if (m) this.#drop(m);
        this.#log(`supervisor: ${what}`);
        const policy = this.#o.policy ?? DEFAULT_POLICY;
        const d = decidePolicy(policy, this.#outsideRestarts, performance.now());
        if (d.action === "escalate" || this.#o.elastic) {
          this.#fail(what);
          this.#giveUp = new SupervisorError(
            `${what}; ${d.action === "escalate" ? d.reason : "elastic: not replaced"}`,
          );
          this.#notify();
          return;
        }
        this.#outsideRestarts.push(performance.now());
        setTimeout(() => {
          if (!this.#stopping) this.#spawn(this.#secret);
        }, d.delayMs);
        return;
      }
      case "beat": {
        const m = this.#joined.find((j) => j.pid === e.pid && j.name === e.name);
        if (m) m.lastSeen = performance.now();
        return;
      }
      case "tick":
        return this.#watch();
    }
  }

  // ── one epoch ──────────────────────────────────────────────────────────────

  async #runEpoch(
    members: Member[],
    start: Restart,
    setCommit: (c: Restart) => void,
    totals: {
      step: number;
      compute: number;
      quantize: number;
      comm: number;
      opt: number;
      control: number;
      critical: number;
      n: number;
    },
    onReady: () => void,
  ): Promise<
    Omit<
      SupervisedResult,
      | "recoveries"
      | "epochs"
      | "steps"
      | "workers"
      | `${string}_ms`
      | "control_overhead"
      | "seconds"
    >
  > {
    const o = this.#o, job = o.job;
    const epoch = ++this.#epoch;
    this.#forming = true;
    const size = members.length;
    this.#active = members;
    this.#reports.clear();
    this.#stats.clear();
    this.#ready.clear();
    this.#transports.clear();
    this.#parts.clear();
    this.#finals = [];
    this.#deterministic = null;
    members.forEach((m, r) => (m.rank = r));
    const schedule = new StepSchedule({
      lrGamma: job.lrGamma ?? job.lr,
      lrEta: job.lrEta ?? job.lr,
    });
    schedule.restore(start.schedule);
    let levels: LevelTable | null = start.levels ? structuredClone(start.levels) : null;
    this.#levels = levels;
    const problem = await this.#problem();
    const q = createJobQuantizer(job);
    const bitsOf = (t: string) => (q instanceof LayerwiseQuantizer ? q.bitsOf(t) : job.bits);
    const evalEvery = o.evalEvery ?? 0, commitEvery = o.commitEvery ?? 0;
    const peers = members.map((m) => m.address);
    // A fresh start broadcasts X_1: every replica starts from the same point.
    const x1 = start.parts ? null : problem.initial();
    for (const m of members) {
      const a: Assignment = {
        epoch,
        rank: m.rank,
        size,
        peers,
        job,
        startStep: start.step,
        gamma: schedule.gamma,
        levels,
        evalEvery,
        commitEvery,
        blob: start.parts ? "commit" : "initial",
      };
      const part = start.parts
        ? {
          ...start.parts[m.rank],
          rank: m.rank,
          opt: start.parts[0].opt,
          average: start.parts[0].average,
        }
        : null;
      if (part && !start.parts![m.rank]) {
        // Elastic runs never grow, so every rank has a part; guard anyway.
        throw new SupervisorError(`the commit has no part for rank ${m.rank}`);
      }
      await m.ch.send(
        "assign",
        a,
        part ? utf8(encodeCommit(part)) : bytesOf(x1!),
      )
        .catch(() => {});
    }
    await this.#until(
      () => this.#ready.size === size,
      o.joinTimeoutMs ?? 120_000,
      () => `only ${this.#ready.size} of ${size} ranks formed the ring`,
    );
    onReady();
    this.#forming = false;
    this.#log(
      `supervisor: epoch ${epoch}: ring of ${size} formed` +
        (size > 1 ? ` (chunk payloads via ${this.#transportNames().join(" and ")})` : "") +
        `, from step ${start.step}`,
    );

    let prevDecided = performance.now(), lastYield = prevDecided;
    for (let t = start.step + 1; t <= job.steps; t++) {
      await this.#until(
        () => (this.#reports.get(t)?.filter(Boolean).length ?? 0) === size,
        (o.heartbeatTimeoutMs ?? 10_000) + job.timeoutMs,
        () =>
          `step ${t}: reports from ${
            this.#reports.get(t)?.filter(Boolean).length ?? 0
          } of ${size} ranks`,
      );
      const reports = this.#reports.get(t)!;
      this.#reports.delete(t);
      let d;
      try {
        d = schedule.decide(reports);
      } catch (e) {
        this.#fail(`step ${t}: ${(e as Error).message}`);
        throw new EpochFailed(String(e));
      }
      // Replicas that differ stay different after a restart: that is fatal.
      const sums = reports.filter((r) => r.checksum !== 0n);
      if (sums.length && sums.some((r) => r.checksum !== sums[0].checksum)) {
        throw new ReplicaDivergenceError(
          `step ${t}: the replicas' parameters differ (${
            reports.map((r, k) => `rank ${k}: ${(r.checksum - 1n).toString(16)}`).join(", ")
          })`,
        );
      }
      if (d.skip) {
        const nf = this.#lastNonFinite;
        const where = nf && nf.step === t
          ? ` (worker ${nf.rank}: ${nf.value} at ${nf.layer}[${nf.index}])`
          : "";
        this.#log(
          `supervisor: step ${t} skipped: worker(s) ${
            d.nonFiniteRanks.join(", ")
          } had non-finite values${where}`,
        );
        const limit = o.maxSkippedInARow ?? 50;
        if (++this.#skippedInARow >= limit) {
          throw new SupervisorError(
            `the last ${this.#skippedInARow} steps (to step ${t}) were all skipped: ` +
              `non-finite values${where || ` on worker(s) ${d.nonFiniteRanks.join(", ")}`}; ` +
              `lower the learning rate or check the problem's operator`,
          );
        }
      } else this.#skippedInARow = 0;
      const stats = this.#stats.get(t);
      this.#stats.delete(t);
      if (job.adapt && isAdaptStep(job.adapt, t) && stats && stats.length === size) {
        const table = solveLevelTable(stats, bitsOf, levels?.version ?? 0);
        if (table) {
          levels = {
            version: table.version,
            levels: { ...(levels?.levels ?? {}), ...table.levels },
          };
          this.#levels = levels;
          for (const m of members) {
            await m.ch.send("levels", table).catch(() => {});
          }
        }
      }
      const bySeconds = (o.commitEverySeconds ?? 0) > 0 &&
        performance.now() - this.#lastCommitAt >= o.commitEverySeconds! * 1000;
      const commit = (commitEvery > 0 && t % commitEvery === 0) || bySeconds ||
        this.#commitAsap;
      let committing: Promise<void> | null = null;
      if (commit) {
        this.#commitAsap = false;
        this.#lastCommitAt = performance.now();
        const snap = {
          step: t,
          schedule: schedule.state(),
          levels: levels ? structuredClone(levels) : null,
        };
        this.#parts.set(t, []);
        committing = this.#awaitCommit(snap, size, setCommit);
      }
      if (evalEvery > 0 && t % evalEvery === 0 && t !== job.steps) {
        await members[0].ch.send("evalRequest", { epoch, step: t }).catch(() => {});
      }
      const command = {
        type: "stepCommand" as const,
        epoch,
        step: t,
        gamma: d.gamma,
        eta: d.eta,
        skip: d.skip,
        levelTableVersion: levels?.version ?? 0,
        commit,
      };
      // Every link writes at once; a dead link's failure surfaces through its reader.
      await Promise.all(members.map((m) => m.ch.sendWire(command).catch(() => {})));
      if (committing && this.#stopAfterCommit !== null) {
        // stop({ commit: true }): no step past the commit.
        await committing;
        this.#stopping = true;
        this.#failure ??= this.#stopAfterCommit;
        this.#notify();
        throw new EpochFailed(this.#failure);
      }
      const now = performance.now();
      const mean = (f: (r: StepReportMessage) => number) =>
        reports.reduce((s, r) => s + f(r), 0) / size;
      const summary: StepSummary = {
        step: t,
        epoch,
        skip: d.skip,
        nonFiniteRanks: d.nonFiniteRanks,
        gamma: d.gamma,
        eta: d.eta,
        computeMs: mean((r) => r.computeMs),
        quantizeMs: mean((r) => r.quantizeMs),
        communicateMs: mean((r) => r.communicateMs),
        optimizerMs: mean((r) => r.optimizerMs),
        controlMs: mean((r) => r.controlMs),
        controlCriticalMs: Math.min(...reports.map((r) => r.controlMs)),
        bytesSent: reports.reduce((s, r) => s + r.bytesSent, 0),
        collectives: reports[0].collectives,
        levelVersion: levels?.version ?? 0,
      };
      if (t > start.step + 1) {
        totals.step += now - prevDecided;
        totals.compute += summary.computeMs;
        totals.quantize += summary.quantizeMs;
        totals.comm += summary.communicateMs;
        totals.opt += summary.optimizerMs;
        totals.control += summary.controlMs;
        totals.critical += summary.controlCriticalMs;
        totals.n++;
      }
      if (t > start.step + 1) {
        this.#slowestStepMs = Math.max(this.#slowestStepMs, now - prevDecided);
      }
      prevDecided = now;
      o.onStep?.(summary);
      // In-process workers step on promises alone: give timers and I/O (commit
      // writes, evaluations, a stop) a turn every 20 ms.
      if (now - lastYield > 20) {
        await new Promise((r) => setTimeout(r, 0));
        lastYield = performance.now();
      }
    }
    await this.#until(
      () => this.#finals.length === size,
      (o.heartbeatTimeoutMs ?? 10_000) + job.timeoutMs,
      () => `final parameters from ${this.#finals.length} of ${size} ranks`,
    );
    // A commit asked for at the last step is written before the run ends.
    await Promise.allSettled(this.#commits);
    const f0 = this.#finals.find((f) => f.body.rank === 0)!;
    const params = new Float32Array(f0.blob.slice().buffer);
    const metrics = await problem.evaluate(params);
    const sums = this.#finals.map((f) => f.body.checksum);
    return {
      metrics,
      collectives: f0.body.collectiveCalls,
      bytes_sent: this.#finals.reduce((s, f) => s + (f.body.bytesSent as number), 0),
      skipped: f0.body.skipped,
      replicas_agree: sums.every((c) => c === sums[0]),
      checksum: f0.body.checksum,
      collective_used: f0.body.collective,
      transport: size > 1 ? this.#transportNames().join("+") : "none",
      params,
    };
  }

  /** The ring's transports (`ReadyBody.transport` of its ranks), each once, sorted. */
  #transportNames(): string[] {
    return [...new Set(this.#transports.values())].sort();
  }

  #awaitCommit(
    snap: Omit<Restart, "parts">,
    size: number,
    setCommit: (c: Restart) => void,
  ): Promise<void> {
    const epoch = this.#epoch;
    const p = this.#until(
      () => (this.#parts.get(snap.step)?.filter(Boolean).length ?? 0) === size,
      60_000,
      () => `commit ${snap.step}: parts from ${this.#parts.get(snap.step)?.length ?? 0} of ${size}`,
    ).then(async () => {
      const parts = this.#parts.get(snap.step)!;
      this.#parts.delete(snap.step);
      const c: Restart = { ...snap, parts };
      if (epoch !== this.#epoch) return;
      setCommit(c);
      const dir = this.#o.commitDir;
      if (dir) {
        const file: SupervisorCommit = { format: 2, job: this.#o.job, ...c };
        // One write at a time, and never an older commit over a newer one.
        this.#commitWrite = this.#commitWrite.then(async () => {
          if (snap.step <= this.#lastWritten) return;
          await writeCommit(dir, file);
          this.#lastWritten = snap.step;
        }).catch((e) => this.#log(`supervisor: writing commit ${snap.step} failed: ${e.message}`));
        await this.#commitWrite;
      }
    }).catch(() => {}); // a failed epoch abandons its pending commit
    this.#commits.push(p);
    return p;
  }

  async #loadCommit(dir: string): Promise<Restart> {
    let c: SupervisorCommit;
    try {
      c = await readCommit(dir) as SupervisorCommit;
    } catch (e) {
      const why = e instanceof Deno.errors.NotFound
        ? "there is no commit.json there (was the run started with commits on?)"
        : e instanceof Deno.errors.NotADirectory
        ? "it is a file, not a run folder"
        : e instanceof SyntaxError
        ? `its commit.json is not valid JSON (${e.message})`
        : (e as Error).message;
      throw new SupervisorError(`cannot resume from ${dir}: ${why}`, { cause: e });
    }
    if (c?.format !== 2 || !Array.isArray(c.parts)) {
      throw new SupervisorError(`${dir}/commit.json is not a supervisor commit`);
    }
    const keys = Object.keys(this.#o.job) as (keyof JobConfig)[];
    const diff = keys.filter((k) =>
      k !== "steps" && JSON.stringify(c.job[k]) !== JSON.stringify(this.#o.job[k])
    );
    if (diff.length) {
      throw new SupervisorError(
        `cannot resume from ${dir}: the commit was made with different ${diff.join(", ")}`,
      );
    }
    if (c.parts.length !== this.#o.workers) {
      throw new SupervisorError(
        `cannot resume from ${dir}: it has ${c.parts.length} ranks, this run ${this.#o.workers}`,
      );
    }
    return { step: c.step, schedule: c.schedule, levels: c.levels, parts: c.parts };
  }

  /**
   * The supervisor's own instance of the job's problem (built on first use),
   * for evaluations, samples and checkpoints.
   */
  problem(): Promise<TrainProblem> {
    return this.#problem();
  }

  #problem(): Promise<TrainProblem> {
    return this.#evalProblem ??= createProblem(this.#o.job);
  }

  // ── members ────────────────────────────────────────────────────────────────

  #alive(): Member[] {
    return this.#joined.filter((m) => m.dead === null);
  }

  #spawn(secret: Uint8Array | null): void {
    const cmd = this.#o.spawn;
    if (!cmd) return;
    let child: LocalWorker;
    if (cmd === "inprocess") {
      // A worker in this process: the same step loop over an in-memory control
      // channel and in-memory rings.
      const id = -++this.#inprocessIds;
      const [supLink, workerLink] = memoryLinkPair(-1, -1);
      const channel = new ControlChannel(workerLink, "supervisor");
      const status = serveWorker({
        channel,
        ring: this.#o.ringHost === undefined
          ? this.#memoryRings.connector()
          : tcpRingConnector(this.#o.ringHost, secret),
        name: `worker-${-id}`,
        pid: id,
        log: this.#log,
        lend: () => this.#problem(),
      }).then(
        (code) => `exited with code ${code}`,
        (e) => `failed: ${(e as Error).message}`,
      );
      child = { pid: id, kill: () => channel.close(), status, what: "in-process worker" };
      this.#greet(new ControlChannel(supLink, `in-process worker ${-id}`));
    } else {
      const env: Record<string, string> = {};
      if (secret) env.QODA_RING_SECRET = new TextDecoder().decode(secret);
      const proc = new Deno.Command(cmd[0], {
        args: [...cmd.slice(1), "--join", this.#address],
        env,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn();
      child = {
        pid: proc.pid,
        kill: () => proc.kill("SIGKILL"),
        status: proc.status.then((s) =>
          s.signal ? `killed by ${s.signal}` : `exited with code ${s.code}`
        ),
        what: "worker process",
      };
      this.#log(`supervisor: started worker process ${proc.pid}`);
    }
    this.#children.add(child);
    child.status.then((why) => this.#tell({ type: "exited", child, why }));
    this.#pendingChildren.push(child);
  }

  async #acceptLoop(secret: Uint8Array | null): Promise<void> {
    const acceptor = this.#acceptor!;
    for (;;) {
      let ch: ControlChannel;
      try {
        ch = await acceptControl(acceptor, secret);
      } catch {
        return; // the acceptor is closed
      }
      this.#greet(ch);
    }
  }

  /**
   * Reads one worker's control channel: its `join` first (within 10 s), then
   * every message into this actor's mailbox, and finally its end.
   */
  async #greet(ch: ControlChannel): Promise<void> {
    const first = await Promise.race([
      ch.next().catch(() => null),
      new Promise<null>((r) => setTimeout(() => r(null), 10_000)),
    ]);
    if (first?.type === "control" && first.kind === "beat") {
      // A worker's heartbeat thread: every frame on this connection says that worker lives.
      const pid = Number(first.body.pid), name = String(first.body.name);
      for (;;) {
        const m = await ch.next().catch(() => null);
        if (m === null) return ch.close();
        await this.#tell({ type: "beat", pid, name });
      }
    }
    if (first?.type !== "control" || first.kind !== "join") {
      this.#log(`supervisor: ${ch.remote} did not send join; dropped`);
      ch.close();
      return;
    }
    const b: JoinBody = first.body;
    if (typeof b.address !== "string" || typeof b.name !== "string") {
      this.#log(`supervisor: ${ch.remote} sent a join without name/address; dropped`);
      ch.close();
      return;
    }
    const pid = Number(b.pid ?? -1);
    const child = this.#pendingChildren.find((c) => c.pid === pid) ?? null;
    if (child) this.#pendingChildren.splice(this.#pendingChildren.indexOf(child), 1);
    const member: Member = {
      ch,
      name: b.name,
      address: b.address,
      pid,
      child,
      lastSeen: performance.now(),
      dead: null,
      rank: -1,
    };
    await this.#tell({ type: "joined", member }, member.name);
    for (;;) {
      let msg: ControlEvent | null;
      try {
        msg = await ch.next();
      } catch (e) {
        const why = `control connection failed: ${(e as Error).message}`;
        return await this.#tell({ type: "lost", member, why }, member.name);
      }
      if (msg === null) {
        return await this.#tell({ type: "lost", member, why: "control connection closed" });
      }
      await this.#tell({ type: "message", member, msg }, member.name);
    }
  }

  #dispatch(m: Member, msg: ControlEvent): void {
    const epoch = this.#epoch;
    if (!this.#active.includes(m)) return;
    if (msg.type === "stepReport") {
      if (msg.epoch !== epoch) return;
      let a = this.#reports.get(msg.step);
      if (!a) this.#reports.set(msg.step, a = []);
      a[m.rank] = { ...msg, rank: m.rank };
    } else if (msg.type === "control") {
      switch (msg.kind) {
        case "ready":
          if (msg.body.epoch === epoch) {
            this.#ready.add(m.rank);
            this.#transports.set(m.rank, String(msg.body.transport ?? "tcp"));
          }
          break;
        case "stats": {
          const { types, bins, step } = msg.body;
          if (msg.body.epoch !== epoch) break;
          const flat = new Float64Array(msg.blob.slice().buffer);
          const rec: Record<string, Float64Array> = {};
          types.forEach((ty, i) => (rec[ty] = flat.slice(i * bins, (i + 1) * bins)));
          let a = this.#stats.get(step);
          if (!a) this.#stats.set(step, a = []);
          a[m.rank] = rec;
          break;
        }
        case "commitPart": {
          if (msg.body.epoch !== epoch) break;
          const a = this.#parts.get(msg.body.step);
          if (a) a[m.rank] = decodeCommit(new TextDecoder().decode(msg.blob)) as CommitPart;
          break;
        }
        case "params": {
          const b = msg.body;
          if (b.epoch !== epoch) break;
          if (b.step === this.#o.job.steps) this.#finals.push({ body: b, blob: msg.blob });
          else if (m.rank === 0) this.#evaluate(b.step, msg.blob, b);
          break;
        }
        case "nonFinite":
          if (msg.body.epoch === epoch) this.#lastNonFinite = msg.body;
          break;
        case "failed": {
          if (msg.body.epoch !== epoch) break;
          const err = deserializeError(msg.body.error);
          if (isDeterministicFailure(err)) {
            this.#deterministic ??= { who: `${m.name} (rank ${m.rank})`, error: err };
          }
          this.#fail(`${m.name} (rank ${m.rank}) failed: ${err.message}`);
          break;
        }
      }
    }
    this.#notify();
  }

  #evaluate(step: number, blob: Uint8Array | null, body: ParamsBody | null): void {
    const receivedAt = performance.now();
    const x = blob ? new Float32Array(blob.slice().buffer) : null;
    const levels = this.#levels ? structuredClone(this.#levels) : null;
    const p = this.#evaluateOffThread(x).then(async (metrics) => {
      this.#o.onEval?.({
        step,
        metrics,
        scalars: numbers(body?.scalars),
        eps: numbers(body?.eps),
        levels,
        params: x ?? (await this.#problem()).initial(),
        receivedAt,
      });
    }).catch((e) => this.#log(`supervisor: evaluation at step ${step} failed: ${e.message}`));
    this.#evals.push(p);
  }

  /**
   * Evaluates in a Web Worker of its own, so that a slow quality metric never
   * holds up the step commands (evaluations run one after another).
   */
  #evaluateOffThread(x: Float32Array | null): Promise<Record<string, number>> {
    if (!this.#evaluator) {
      this.#evaluator = new Worker(
        new URL("./_evaluator_worker.ts", import.meta.url),
        {
          type: "module",
        },
      );
      this.#evaluator.postMessage({ job: this.#o.job });
      this.#evaluator.onmessage = (e: MessageEvent) => {
        const { id, metrics, error } = e.data;
        const w = this.#evalWaiters.get(id);
        this.#evalWaiters.delete(id);
        if (error !== undefined) w?.reject(new Error(error));
        else w?.resolve(metrics);
      };
      this.#evaluator.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        for (const w of this.#evalWaiters.values()) w.reject(new Error(e.message));
        this.#evalWaiters.clear();
      };
    }
    const id = ++this.#evalId;
    return new Promise((resolve, reject) => {
      this.#evalWaiters.set(id, { resolve, reject });
      this.#evaluator!.postMessage(x ? { id, params: x } : { id });
    });
  }

  #markDead(m: Member, why: string): void {
    if (m.dead !== null) return;
    m.dead = why;
    if (this.#active.includes(m) && !this.#stopping) {
      this.#fail(`${m.name} (rank ${m.rank}): ${why}`);
    }
    this.#notify();
  }

  #drop(m: Member): void {
    m.ch.close();
    this.#kill(m.child);
    this.#joined.splice(this.#joined.indexOf(m), 1);
  }

  /**
   * Declares silent workers dead. Liveness is judged so that a busy worker
   * is not: while an epoch forms (workers build their problem, which may
   * hold up their heartbeats) the join deadline applies, and in the steps the
   * heartbeat timeout grows to four times the slowest step seen.
   */
  #watch(): void {
    const limit = this.#forming
      ? Math.max(this.#o.heartbeatTimeoutMs ?? 10_000, this.#o.joinTimeoutMs ?? 120_000)
      : Math.max(this.#o.heartbeatTimeoutMs ?? 10_000, 4 * this.#slowestStepMs);
    const now = performance.now();
    for (const m of this.#active) {
      if (m.dead === null && now - m.lastSeen > limit) {
        this.#markDead(
          m,
          `silent for ${Math.round(now - m.lastSeen)} ms (heartbeat timeout ${limit} ms)`,
        );
        this.#kill(m.child);
      }
    }
  }

  /** Ends a worker this supervisor started; its exit is then no news. */
  #kill(child: LocalWorker | null): void {
    if (!child) return;
    this.#killed.add(child);
    killQuietly(child);
  }

  #fail(reason: string): void {
    if (this.#failure === null) this.#failedAt = performance.now();
    this.#failure ??= reason;
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = [];
    for (const f of w) f();
  }

  /** Waits until `pred()`; rejects on a failure of this epoch or after `timeoutMs`. */
  async #until(
    pred: () => boolean,
    timeoutMs: number,
    what: () => string,
    failOnFailure = true,
  ): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    const epoch = this.#epoch;
    while (!pred()) {
      if (this.#giveUp) throw this.#giveUp;
      if (this.#stopping) throw new EpochFailed(this.#failure ?? "stopped");
      if (failOnFailure && this.#failure !== null && epoch === this.#epoch) {
        throw new EpochFailed(this.#failure);
      }
      if (performance.now() > deadline) {
        const msg = `timed out after ${timeoutMs} ms: ${what()}`;
        if (!failOnFailure) throw new SupervisorError(msg);
        this.#fail(msg);
        throw new EpochFailed(msg);
      }
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 100);
        this.#wake.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  async #reap(graceMs: number): Promise<void> {
    const kids = [...this.#children];
    const all = Promise.allSettled(kids.map((c) => c.status));
    const timer = new Promise((r) => setTimeout(r, graceMs));
    await Promise.race([all, timer]);
    for (const c of this.#children) this.#kill(c);
    await all;
    for (const m of this.#joined) m.ch.close();
  }
}

/** A record of numbers as it crossed JSON: NaN and ±Infinity arrive as null, and are NaN again. */
function numbers(r: Record<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(r ?? {})) out[k] = typeof v === "number" ? v : NaN;
  return out;
}

function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** SIGKILL, ignoring a process that is already gone. */
function killQuietly(child: LocalWorker | null): void {
  try {
    child?.kill();
  } catch {
    // already gone
  }
}
