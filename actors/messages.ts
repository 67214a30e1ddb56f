/**
 * The control messages between the supervisor actor and its worker actors,
 * as one types-only discriminated union on `kind`: what each message means,
 * who sends it and what its body holds. The control plane (`control.ts`)
 * carries them as Cap'n Proto `control` frames (a JSON body plus bulk
 * bytes) next to the step report, step command, heartbeat and shutdown
 * frames of `runtime/wire`.
 *
 * One epoch, as the two sides see it: a worker sends `join`; the supervisor
 * sends `assign` (rank, peers, job, where to start); the worker forms the
 * ring and sends `ready`; every step it sends a step report (and `stats` at
 * level re-solve steps) and waits for the step command; the supervisor may
 * send `levels`, `evalRequest` and ask for a commit, to which each rank
 * answers `commitPart`; ranks send `params` for evaluations and at the end.
 * A failure is `failed` from a worker, `abort` from the supervisor.
 *
 * @module
 */
import type { LayerwiseSnapshot, LevelTable } from "../runtime/quant/layerwise.ts";
import type { OptimizerState } from "../runtime/optim/types.ts";
import type { ParamAverageState } from "../runtime/optim/average.ts";
import type { CollectiveTrialsState } from "../runtime/collective/auto.ts";
import type { RngState } from "../runtime/rng.ts";
import type { JobConfig } from "./job.ts";
import type { SerializedError } from "./error_codec.ts";

/** What a rank contributes to a commit. */
export interface CommitPart {
  /** Its rank. */
  rank: number;
  /** The step after which it was taken. */
  step: number;
  /** The problem worker's random state (batches, noise). */
  worker: unknown;
  /** Its stochastic-rounding stream. */
  rng: RngState;
  /** Its layer-wise quantizer (levels and pending statistics), if any. */
  quant: LayerwiseSnapshot | null;
  /** Payload bytes it sent so far. */
  bytesSent: number;
  /** The optimiser replica (rank 0 only: every replica is identical). */
  opt?: OptimizerState;
  /** The parameters' moving average, when the job keeps one (rank 0 only, like `opt`). */
  average?: ParamAverageState;
  /**
   * `collective: "auto"`: the collectives this rank has issued and its trials
   * (its own times, the agreed choice), so that a resumed run keeps the choice.
   */
  auto?: { calls: number; trials: CollectiveTrialsState };
}

/** The assignment for one epoch (the body of control `assign`). */
export interface Assignment {
  /** The ring epoch (a new one after every failure). */
  epoch: number;
  /** This worker's rank in it. */
  rank: number;
  /** The ring size. */
  size: number;
  /** Ring listener address of every rank, by rank. */
  peers: string[];
  /** The job every rank runs. */
  job: JobConfig;
  /** The step the epoch starts after (0: from scratch). */
  startStep: number;
  /** γ of the first step of the epoch. */
  gamma: number;
  /** The level table in force (null: the quantizer's initial levels). */
  levels: LevelTable | null;
  /** Send parameters for evaluation every this many steps (0: never). */
  evalEvery: number;
  /** Write commit parts every this many steps (0: never). */
  commitEvery: number;
  /**
   * What the assignment's bytes hold: this rank's commit part (resuming), or
   * X_1 as float32 (a fresh start: every replica starts from the
   * supervisor's point, whatever its own problem instance would draw).
   */
  blob: "commit" | "initial";
}

/** Worker → supervisor, once, first: who it is and where its ring listener is. */
export interface JoinBody {
  /** A name for logs. */
  name: string;
  /** Its ring address ("host:port", or a memory ring's name). */
  address: string;
  /** Its process id (in-process workers: a negative id). */
  pid: number;
  /** The device it drives ("cpu", …). */
  device: string;
}

/**
 * A worker's heartbeat thread → supervisor, once, first on a connection of its
 * own: which worker its heartbeats stand for.
 */
export interface BeatBody {
  /** The worker's process id (as in its `join`). */
  pid: number;
  /** The worker's name. */
  name: string;
}

/** Worker → supervisor: the ring of this epoch is formed on this rank. */
export interface ReadyBody {
  /** The epoch. */
  epoch: number;
  /** The sender's rank. */
  rank: number;
  /**
   * How its chunk payloads reach its right neighbour: `shm`, `tcp` or `memory`
   * (`RingContext.transport`).
   */
  transport?: string;
}

/** Worker → supervisor, at level re-solve steps: its quantizer's histograms (blob: float64). */
export interface StatsBody {
  /** The epoch. */
  epoch: number;
  /** The step. */
  step: number;
  /** The sender's rank. */
  rank: number;
  /** Layer types, in the blob's order. */
  types: string[];
  /** Histogram bins per type. */
  bins: number;
}

/** Worker → supervisor: its part of the commit after `step` (blob: a JSON {@linkcode CommitPart}). */
export interface CommitPartBody {
  /** The epoch. */
  epoch: number;
  /** The step the commit is taken after. */
  step: number;
  /** The sender's rank. */
  rank: number;
}

/** Worker → supervisor: its parameters' figures (blob on rank 0: the float32 parameters). */
export interface ParamsBody {
  /** The epoch. */
  epoch: number;
  /** The step they are taken after. */
  step: number;
  /** The sender's rank. */
  rank: number;
  /** FNV-1a of its parameters. */
  checksum: string;
  /** Payload bytes it sent so far. */
  bytesSent: number;
  /** Collectives it issued so far. */
  collectiveCalls: number;
  /** Steps it skipped (agreed non-finite). */
  skipped: number;
  /** Its problem worker's last scalars (losses). */
  scalars: Record<string, number>;
  /** Its measured ε_Q per layer type since the last `params`. */
  eps: Record<string, number>;
  /** The collective it runs now (`fp32` without compression; for `auto`, the choice). */
  collective: string;
  /** How its chunk payloads reach its right neighbour (`RingContext.transport`). */
  transport?: string;
}

/** Worker → supervisor: its epoch failed. */
export interface FailedBody {
  /** The epoch. */
  epoch: number;
  /** The sender's rank. */
  rank: number;
  /** What went wrong, as it crossed the wire. */
  error: SerializedError;
}

/** Worker → supervisor: its operator sample of `step` had a non-finite value (the step is skipped). */
export interface NonFiniteBody {
  /** The epoch. */
  epoch: number;
  /** The step. */
  step: number;
  /** The sender's rank. */
  rank: number;
  /** The layer of the first non-finite coordinate. */
  layer: string;
  /** Its index within that layer. */
  index: number;
  /** Its value (NaN, Infinity or −Infinity), as text. */
  value: string;
}

/** Supervisor → worker: leave the epoch now (the ring is being re-formed). */
export interface AbortBody {
  /** The epoch to leave. */
  epoch: number;
}

/** Supervisor → rank 0: send parameters for an evaluation after `step`. */
export interface EvalRequestBody {
  /** The epoch. */
  epoch: number;
  /** The step. */
  step: number;
}

/** Every control message's body, by kind. */
export interface ControlBodies {
  /** Worker → supervisor, first. */
  join: JoinBody;
  /** A worker's heartbeat thread → supervisor, first on its own connection. */
  beat: BeatBody;
  /** Supervisor → worker: an epoch (blob: a commit part or X_1). */
  assign: Assignment;
  /** Worker → supervisor: ring formed. */
  ready: ReadyBody;
  /** Worker → supervisor: quantizer statistics. */
  stats: StatsBody;
  /** Worker → supervisor: its commit part. */
  commitPart: CommitPartBody;
  /** Worker → supervisor: parameters' figures. */
  params: ParamsBody;
  /** Worker → supervisor: its epoch failed. */
  failed: FailedBody;
  /** Worker → supervisor: where its operator sample went non-finite. */
  nonFinite: NonFiniteBody;
  /** Supervisor → worker: leave the epoch. */
  abort: AbortBody;
  /** Supervisor → worker: the merged layer-wise level table, adopted at the next step command naming its version. */
  levels: LevelTable;
  /** Supervisor → rank 0: send parameters for an evaluation. */
  evalRequest: EvalRequestBody;
}

/** A control message's kind. */
export type ControlKind = keyof ControlBodies;

/** One control message: its kind and the body of that kind. */
export type ControlMessage = {
  [K in ControlKind]: { kind: K; body: ControlBodies[K] };
}[ControlKind];
