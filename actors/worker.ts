/**
 * The worker actor: one per device, in its own process (over TCP) or in the
 * supervisor's (over in-memory links). Its mailbox takes the supervisor's
 * control messages one at a time; for every assignment (an epoch of the ring)
 * it builds its replica (problem, optimiser, quantizer), forms the ring with
 * its peers and runs steps in lockstep:
 *
 * 1. oracle V_k at the extrapolated point (compute);
 * 2. the compressed all-reduce (quantize → encode → ring → decode), with one
 *    extra float32 slot per rank that flags a local NaN/Inf: a rank with a
 *    non-finite sample sends zeros and raises its flag, so the collective
 *    itself never sees a bad value and every rank learns who was bad;
 * 3. a `stepReport` to the supervisor (‖V̄_{t+1/2} − V̄_{t−1/2}‖², the flag,
 *    timings, a checksum every k steps) and wait for its `stepCommand`
 *    (η_{t+1}, γ_{t+2}, skip, level-table version, commit);
 * 4. apply: the dual update with the supervisor's η, or an agreed skip.
 *
 * A ring failure (a dead peer, a deadline) ends the epoch: the worker tells
 * the supervisor and waits for the next assignment, which restores the last
 * commit. An `abort` from the supervisor closes the ring at once, even in the
 * middle of a collective. The worker exits when the supervisor says
 * `shutdown` or its connection ends.
 *
 * @module
 */
import {
  allreduce,
  type AllreduceStats,
  type CompressionOptions,
  type LayerSpan,
} from "../runtime/collective/allreduce.ts";
import {
  allreduceAuto,
  type AutoCompression,
  CollectiveTrials,
} from "../runtime/collective/auto.ts";
import { RingContext } from "../runtime/collective/context.ts";
import { memoryRing } from "../runtime/transport/memory.ts";
import { kernelArena } from "../runtime/kernels/kernels.ts";
import { LayerwiseQuantizer } from "../runtime/quant/layerwise.ts";
import type { LevelTable } from "../runtime/quant/layerwise.ts";
import { isAdaptStep } from "../runtime/quant/levels.ts";
import type { Quantizer } from "../runtime/quant/types.ts";
import { layerQuantizer } from "../runtime/quant/pieces.ts";
import { rankSeed, Rng } from "../runtime/rng.ts";
import { connectTcpRing } from "../runtime/collective/tcp_ring.ts";
import { TcpAcceptor } from "../runtime/transport/acceptor.ts";
import {
  firstNonFinite,
  type Optimizer,
  ParamAverage,
  restoreOptimizer,
} from "../runtime/optim/mod.ts";
import type { Qoda } from "../runtime/optim/qoda.ts";
import type { StepCommandMessage } from "../runtime/wire/messages.ts";
import { decodeCommit, encodeCommit } from "./commit.ts";
import { Actor } from "./actor.ts";
import type { Assignment, CommitPart, ParamsBody } from "./messages.ts";
import { type ControlChannel, type ControlEvent, joinControl, secretBytes } from "./control.ts";
import {
  createJobAverage,
  createJobOptimizer,
  createJobQuantizer,
  createProblem,
  fnv1a,
  type JobConfig,
} from "./job.ts";
import type { ProblemWorker, TrainProblem } from "./problem.ts";
import { serializeError } from "./error_codec.ts";

/** Options of {@linkcode runWorker}. */
export interface WorkerOptions {
  /** The supervisor's control address, "host:port". */
  join: string;
  /** Shared secret (or QODA_RING_SECRET); required off loopback. */
  secret?: string | null;
  /** Host this worker's ring listener binds (peers connect to it). @default {"127.0.0.1"} */
  listenHost?: string;
  /** A name for logs. @default {`worker-${pid}`} */
  name?: string;
  /** Heartbeat period, ms. @default {1000} */
  heartbeatMs?: number;
  /** One line per notable event. */
  log?: (line: string) => void;
  /** How long to keep trying to reach the supervisor, ms. @default {30000} */
  joinTimeoutMs?: number;
  /** Receives this rank's final parameters and figures when the last step is done. */
  onFinal?: (final: WorkerFinal) => void;
}

/** The supervisor ended the epoch (or the run) while this worker was in it. */
class Interrupted extends Error {
  constructor(readonly kind: "abort" | "shutdown" | "gone", message: string) {
    super(message);
  }
}

/** Every rank skips this step (thrown out of the optimiser: its state stays). */
class AgreedSkip extends Error {}

/**
 * How a worker forms the ring of each epoch: over TCP (worker processes and
 * hosts) or in memory (every worker in this process).
 */
export interface RingConnector {
  /** This worker's ring address, announced when it joins. */
  readonly address: string;
  /** Forms the ring of assignment `a` (this rank's part of it); `signal` abandons it. */
  connect(a: Assignment, signal?: AbortSignal): Promise<RingContext>;
  /** Frees what the connector holds (a listener). */
  close(): void;
}

/**
 * Rings of workers that all run in this process: each epoch's ring is one
 * `memoryRing` whose links every rank takes its own pair of.
 */
export class MemoryRingHub {
  readonly #rings = new Map<number, { links: ReturnType<typeof memoryRing>; taken: number }>();
  #ids = 0;

  /** A connector for one more worker of this process. */
  connector(): RingConnector {
    const address = `memory:${++this.#ids}`;
    return {
      address,
      connect: (a) => Promise.resolve(this.#take(a)),
      close: () => {},
    };
  }

  #take(a: Assignment): RingContext {
    let r = this.#rings.get(a.epoch);
    if (!r) {
      for (const e of this.#rings.keys()) if (e < a.epoch) this.#rings.delete(e);
      this.#rings.set(a.epoch, r = { links: memoryRing(a.size), taken: 0 });
    }
    if (++r.taken === a.size) this.#rings.delete(a.epoch);
    return new RingContext({
      rank: a.rank,
      size: a.size,
      ringId: BigInt(a.epoch) + 1n,
      epoch: a.epoch,
      timeoutMs: a.job.timeoutMs,
      ...r.links[a.rank],
    });
  }
}

/** Options of {@linkcode serveWorker}. */
export interface ServeWorkerOptions {
  /** The control channel to the supervisor. */
  channel: ControlChannel;
  /** How this worker forms its rings. */
  ring: RingConnector;
  /** A name for logs. */
  name: string;
  /** The id the supervisor knows a local worker by (its process id). */
  pid: number;
  /** Heartbeat period, ms. @default {1000} */
  heartbeatMs?: number;
  /** One line per notable event. */
  log?: (line: string) => void;
  /**
   * Lends the job's problem instead of building one (in-process workers share
   * the supervisor's: one model in memory, and tfjs variable names stay
   * unique). A lent problem is its owner's to dispose.
   */
  lend?: (job: JobConfig) => Promise<TrainProblem>;
  /** Receives this rank's final parameters and figures when the last step is done. */
  onFinal?: (final: WorkerFinal) => void;
}

/** A rank's final parameters and figures (what it reports after the last step). */
export interface WorkerFinal extends ParamsBody {
  /** Its final parameters (a copy). */
  params: Float32Array;
}

/**
 * Runs a worker until the supervisor shuts it down. Resolves to the exit
 * code: 0 after `shutdown`, 1 when the supervisor went away.
 */
export async function runWorker(options: WorkerOptions): Promise<number> {
  const host = options.listenHost ?? "127.0.0.1";
  const secret = secretBytes(options.secret);
  const channel = await joinControl(options.join, secret, options.joinTimeoutMs);
  const name = options.name ?? `worker-${Deno.pid}`;
  // Heartbeats on a thread of their own: a long synchronous step never silences them.
  const beat = new Worker(new URL("./_heartbeat_worker.ts", import.meta.url), { type: "module" });
  beat.postMessage({
    join: options.join,
    secret,
    pid: Deno.pid,
    name,
    periodMs: options.heartbeatMs ?? 1000,
  });
  try {
    return await serveWorker({
      channel,
      ring: tcpRingConnector(host, secret),
      name,
      pid: Deno.pid,
      heartbeatMs: options.heartbeatMs,
      log: options.log,
      onFinal: options.onFinal,
    });
  } finally {
    beat.terminate();
  }
}

/** Forms rings over TCP from a listener on `host` (any free port). */
export function tcpRingConnector(host: string, secret: Uint8Array | null): RingConnector {
  const acceptor = new TcpAcceptor(Deno.listen({ hostname: host, port: 0, transport: "tcp" }));
  return {
    address: `${host}:${acceptor.addr.port}`,
    connect: (a, signal) =>
      connectTcpRing({
        signal,
        rank: a.rank,
        peers: a.peers,
        secret,
        ringId: BigInt(a.epoch) + 1n,
        epoch: a.epoch,
        acceptor,
        timeoutMs: a.job.timeoutMs,
      }),
    close: () => acceptor.close(),
  };
}

/** What the worker actor's mailbox takes: control-plane messages, and the channel's end. */
type WorkerInbox = ControlEvent | { type: "disconnected"; reason: string };

/**
 * Serves the supervisor at the other end of `channel` as an actor: every
 * control message goes through its mailbox and is handled one at a time
 * (assign, step command, levels, evaluation request, abort, shutdown). An
 * assignment starts the epoch's step loop as the actor's running job, which
 * waits on the step commands the handler delivers; an abort closes the ring
 * at once, even in the middle of a collective. Resolves to the exit code: 0
 * after `shutdown`, 1 when the supervisor went away.
 */
export async function serveWorker(options: ServeWorkerOptions): Promise<number> {
  const { channel: ch, ring: connector, name } = options;
  const log = options.log ?? (() => {});
  let epoch = 0, rank = -1;
  let problem: TrainProblem | null = null, problemKey = "";
  let current: { ep: EpochState; done: Promise<void> } | null = null;
  let exit!: (code: number) => void;
  const exited = new Promise<number>((r) => (exit = r));

  const startEpoch = (a: Assignment, blob: Uint8Array) => {
    const ep = new EpochState(a.epoch, options.onFinal);
    const done = (async () => {
      try {
        const key = JSON.stringify(a.job);
        if (key !== problemKey) {
          if (!options.lend) problem?.dispose?.();
          problem = null;
          problem = await (options.lend ?? createProblem)(a.job);
          problemKey = key;
        }
        await runEpoch(ch, connector, a, problem!, blob, ep, (line) => log(`${name}: ${line}`));
      } catch (e) {
        ep.ring?.close("failed");
        if (e instanceof Interrupted) {
          if (e.kind === "abort") log(`${name}: epoch ${a.epoch} aborted by the supervisor`);
          return;
        }
        log(`${name}: epoch ${a.epoch} failed: ${(e as Error).message}`);
        await ch.send("failed", { epoch: a.epoch, rank: a.rank, error: serializeError(e) })
          .catch(() => {});
      }
    })();
    current = { ep, done };
  };
  /** Ends the running epoch: released when its steps are done, interrupted otherwise. */
  const endEpoch = async (why: Interrupted) => {
    if (!current) return;
    if (current.ep.finished) current.ep.release(why.kind === "shutdown" ? "shutdown" : "finished");
    else current.ep.interrupt(why);
    await current.done;
    current = null;
  };

  const actor = new Actor<WorkerInbox>({
    name,
    handler: async (m) => {
      switch (m.type) {
        case "disconnected":
          log(`${name}: the supervisor closed the connection (${m.reason}); exiting`);
          await endEpoch(new Interrupted("gone", "the supervisor went away"));
          return exit(1);
        case "shutdown":
          await endEpoch(new Interrupted("shutdown", m.reason));
          return exit(0);
        case "stepCommand":
          return current?.ep.deliver(m);
        case "control":
          switch (m.kind) {
            case "assign":
              await endEpoch(new Interrupted("abort", "reassigned"));
              epoch = m.body.epoch;
              rank = m.body.rank;
              return startEpoch(m.body, m.blob);
            case "abort":
              return await endEpoch(new Interrupted("abort", "aborted by the supervisor"));
            case "levels":
              if (current) current.ep.pendingTable = m.body;
              return;
            case "evalRequest":
              if (current) current.ep.evalNow = true;
              return;
          }
      }
    },
  });
  actor.exited.then((x) => {
    if (x.reason !== "failed") return;
    log(`${name}: ${(x.error as Error)?.message ?? x.error}`);
    current?.ep.interrupt(new Interrupted("gone", "the worker actor failed"));
    exit(1);
  });
  await actor.start();
  // The channel's reader feeds the mailbox (waiting for room: backpressure).
  (async () => {
    for (;;) {
      let m: WorkerInbox | null;
      try {
        m = await ch.next();
      } catch (e) {
        m = { type: "disconnected", reason: (e as Error).message };
      }
      m ??= { type: "disconnected", reason: "end of stream" };
      try {
        await actor.tellAsync("supervisor", m);
      } catch {
        return; // the actor is closed
      }
      if (m.type === "disconnected") return;
    }
  })();
  const beat = setInterval(() => {
    ch.sendWire({ type: "heartbeat", epoch, rank: Math.max(rank, 0), timeMs: Date.now() })
      .catch(() => {});
  }, options.heartbeatMs ?? 1000);
  try {
    await ch.send("join", { name, address: connector.address, pid: options.pid, device: "cpu" });
    return await exited;
  } finally {
    clearInterval(beat);
    connector.close();
    ch.close();
    await actor.stop({ mode: "drop" });
    await (current as { done: Promise<void> } | null)?.done;
    if (!options.lend) (problem as TrainProblem | null)?.dispose?.();
  }
}

/** What the worker actor's handler and its running epoch share. */
class EpochState {
  /** The epoch's ring, once formed. */
  ring: RingContext | null = null;
  /** A level table waiting for the step command that names its version. */
  pendingTable: LevelTable | null = null;
  /** Rank 0 sends its parameters after the current step. */
  evalNow = false;
  /** Every step ran; the ring stays up until the supervisor releases it. */
  finished = false;
  /** Receives this rank's final parameters and figures. */
  onFinal: ((f: WorkerFinal) => void) | undefined;
  #interrupted: Interrupted | null = null;
  readonly #abort = new AbortController();
  /** Aborted when the epoch is interrupted (abandons a ring formation). */
  readonly signal: AbortSignal = this.#abort.signal;
  #waiting: {
    step: number;
    resolve: (m: StepCommandMessage) => void;
    reject: (e: Error) => void;
  } | null = null;
  #early = new Map<number, StepCommandMessage>();
  #release!: (how: "finished" | "shutdown") => void;
  #releaseFail!: (e: Error) => void;
  /** Settles when the supervisor releases the finished epoch. */
  readonly released: Promise<"finished" | "shutdown">;

  constructor(readonly epoch: number, onFinal?: (f: WorkerFinal) => void) {
    this.onFinal = onFinal;
    this.released = new Promise((resolve, reject) => {
      this.#release = resolve;
      this.#releaseFail = reject;
    });
    this.released.catch(() => {});
  }

  /** The supervisor's command for `step` of this epoch. */
  command(step: number): Promise<StepCommandMessage> {
    if (this.#interrupted) return Promise.reject(this.#interrupted);
    const early = this.#early.get(step);
    if (early) {
      this.#early.delete(step);
      return Promise.resolve(early);
    }
    return new Promise((resolve, reject) => (this.#waiting = { step, resolve, reject }));
  }

  /** Hands a step command to the step loop (a stale one is dropped). */
  deliver(m: StepCommandMessage): void {
    if (m.epoch !== this.epoch) return;
    const w = this.#waiting;
    if (w && w.step === m.step) {
      this.#waiting = null;
      w.resolve(m);
    } else this.#early.set(m.step, m);
  }

  /** Ends the epoch now: closes its ring and fails whatever the step loop waits for. */
  interrupt(e: Interrupted): void {
    if (this.#interrupted) return;
    this.#interrupted = e;
    this.#abort.abort(e.message);
    this.ring?.close(e.message);
    this.#waiting?.reject(e);
    this.#waiting = null;
    this.#releaseFail(e);
  }

  /** Throws if the epoch was interrupted. */
  check(): void {
    if (this.#interrupted) throw this.#interrupted;
  }

  /** Releases a finished epoch. */
  release(how: "finished" | "shutdown"): void {
    this.#release(how);
  }
}

/** One epoch: build the replica, form the ring, run steps to the end. */
async function runEpoch(
  ch: ControlChannel,
  connector: RingConnector,
  a: Assignment,
  problem: TrainProblem,
  blob: Uint8Array,
  ep: EpochState,
  log: (line: string) => void,
): Promise<void> {
  const { job, rank, size } = a;
  const part = a.blob === "commit"
    ? decodeCommit(new TextDecoder().decode(blob)) as CommitPart
    : null;
  const x1 = a.blob === "initial" ? new Float32Array(blob.slice().buffer) : null;
  if (x1 && x1.length !== problem.dim) {
    throw new RangeError(
      `the supervisor's starting point has ${x1.length} parameters, this worker's problem ${problem.dim}`,
    );
  }
  const opt: Optimizer = part?.opt
    ? restoreOptimizer(part.opt)
    : createJobOptimizer(job, x1 ?? problem.initial());
  if (opt.t !== a.startStep) {
    throw new RangeError(`assignment starts after step ${a.startStep}, the state is at ${opt.t}`);
  }
  const average = part?.average
    ? ParamAverage.restore(part.average)
    : createJobAverage(job, opt.params.length);
  let rng = new Rng(rankSeed(job.seed, rank));
  const pw: ProblemWorker = problem.worker(rank, size, rng.fork());
  const q: Quantizer | null = createJobQuantizer(job);
  const layerwise = q instanceof LayerwiseQuantizer ? q : null;
  if (a.levels && layerwise) layerwise.loadTable(a.levels);
  let bytesSent = 0;
  if (part) {
    if (part.rank !== rank) {
      throw new RangeError(`commit part of rank ${part.rank} sent to ${rank}`);
    }
    pw.restore(part.worker);
    rng = Rng.fromState(part.rng);
    if (part.quant && layerwise) layerwise.restore(part.quant);
    bytesSent = part.bytesSent;
  }

  ep.check();
  const ctx = await connector.connect(a, ep.signal).catch((e) => {
    ep.check(); // abandoned because the supervisor ended the epoch: not a failure
    throw e;
  });
  ep.ring = ctx;
  ep.check();
  await ch.send("ready", { epoch: a.epoch, rank, transport: ctx.transport });

  const dim = problem.dim;
  const layout: LayerSpan[] = [
    ...problem.layers,
    { name: "nonfinite-flags", type: "flags", offset: dim, length: size },
  ];
  // The collective's buffer lives in the quantizing kernels' own memory, so that they quantize
  // it and decode frames into it in place instead of copying it through their scratch.
  const buf = kernelArena(dim + size);
  // Each layer's quantizer knows the layer's shape: the collective hands it
  // pieces of the layer, which the row-wise schemes cut into the layer's rows.
  const quantizers = new Map(
    layout.map((l) => [l, q && l.offset < dim ? layerQuantizer(q, l) : null]),
  );
  const quantized: AutoCompression | undefined = q
    ? { coder: job.coder, rng, quantizerFor: (l: LayerSpan) => quantizers.get(l) ?? null }
    : undefined;
  // `auto`: the first collectives try each candidate and set each call's mode; the ranks agree
  // on the fastest.
  const compression: CompressionOptions | undefined = quantized && job.collective !== "auto"
    ? { ...quantized, mode: job.collective }
    : undefined;
  const trials = !quantized || job.collective !== "auto"
    ? null
    : part?.auto
    ? CollectiveTrials.restore(part.auto.trials)
    : new CollectiveTrials();
  let calls = part?.auto?.calls ?? 0;
  const isQoda = opt.name === "qoda";
  let gamma = a.gamma;
  let lastControlMs = 0;

  try {
    for (let t = a.startStep + 1; t <= job.steps; t++) {
      const tm = { compute: 0, encode: 0, comm: 0, bytes: 0, collectives: 0 };
      let reported = false;
      // The supervisor's command of this step, however the step reported.
      let cmd: StepCommandMessage | null = null;
      const stepStart = performance.now();

      const report = async (sqDiff: number, nonFinite: boolean): Promise<StepCommandMessage> => {
        reported = true;
        if (layerwise && job.adapt && isAdaptStep(job.adapt, t)) {
          const stats = layerwise.statistics();
          const types = Object.keys(stats);
          const bins = types.length ? stats[types[0]].length : 0;
          const flat = new Float64Array(types.length * bins);
          types.forEach((ty, i) => flat.set(stats[ty], i * bins));
          await ch.send("stats", { epoch: a.epoch, step: t, rank, types, bins }, bytesOf(flat));
        }
        const checksum = job.checksumEvery > 0 && t % job.checksumEvery === 0
          ? BigInt("0x" + fnv1a(opt.params)) + 1n
          : 0n;
        const sent = performance.now();
        await ch.sendWire({
          type: "stepReport",
          epoch: a.epoch,
          step: t,
          rank,
          sqDiff,
          nonFinite,
          computeMs: tm.compute,
          quantizeMs: tm.encode,
          communicateMs: tm.comm,
          checksum,
          optimizerMs: Math.max(0, sent - stepStart - tm.compute - tm.encode - tm.comm),
          controlMs: lastControlMs,
          collectives: tm.collectives,
          bytesSent: tm.bytes,
        });
        const m = await ep.command(t);
        lastControlMs = performance.now() - sent;
        return m;
      };

      const oracle = (x: Float32Array, out: Float32Array) => {
        const c0 = performance.now();
        pw.operator(x, out);
        tm.compute += performance.now() - c0;
      };
      const collective = async (v: Float32Array) => {
        tm.collectives++;
        buf.set(v);
        buf.fill(0, dim);
        const at = firstNonFinite(v);
        const bad = at >= 0;
        if (bad) {
          const l = problem.layers.find((s) => at >= s.offset && at < s.offset + s.length);
          await ch.send("nonFinite", {
            epoch: a.epoch,
            step: t,
            rank,
            layer: l?.name ?? "?",
            index: at - (l?.offset ?? 0),
            value: String(v[at]),
          });
          buf.fill(0, 0, dim);
          buf[dim + rank] = 1;
        }
        let st: AllreduceStats;
        if (trials && quantized) {
          const c = await allreduceAuto(
            ctx,
            buf,
            {
              op: "mean",
              layout,
              compression: quantized,
            },
            trials,
            calls,
          );
          st = c.stats;
          if (c.decided && rank === 0) {
            log(
              `collective auto chose ${c.decided.choice} (fastest ms per call, mean of the ranks: ${
                Object.entries(c.decided.perCall).map(([m, ms]) => `${m} ${ms.toFixed(2)}`)
                  .join(", ")
              })`,
            );
          }
        } else {
          st = await allreduce(ctx, buf, {
            op: "mean",
            layout,
            compression,
          });
        }
        calls++;
        tm.encode += st.encodeMs;
        tm.comm += st.totalMs - st.encodeMs;
        tm.bytes += st.bytesSent;
        bytesSent += st.bytesSent;
        v.set(buf.subarray(0, dim));
        let anyBad = false;
        for (let r = 0; r < size; r++) if (buf[dim + r] !== 0) anyBad = true;
        if (anyBad) {
          // Each rank reports its own finding; the supervisor's skip is the agreement.
          cmd = await report(NaN, bad);
          if (!cmd.skip) throw new RangeError(`step ${t}: the supervisor did not skip a NaN step`);
          throw new AgreedSkip();
        }
        if (!isQoda && tm.collectives === opt.collectivesPerStep) {
          cmd = await report(0, false);
          if (cmd.skip) throw new AgreedSkip();
        }
      };

      try {
        if (isQoda) {
          await (opt as Qoda).step(oracle, collective, {
            gamma,
            eta: async (sqDiff: number) => {
              cmd = await report(sqDiff, false);
              if (cmd.skip) throw new AgreedSkip();
              return cmd.eta;
            },
          });
        } else await opt.step(oracle, collective);
        // X_{t+1/2} overflowed before any collective: report so the supervisor skips too.
        // (An update that overflows after the report is skipped by every replica alike,
        // since their state is identical; the optimiser counts it in `skipped`.)
        if (!reported) cmd = await report(NaN, true);
      } catch (e) {
        if (!(e instanceof AgreedSkip)) throw e;
        opt.skipStep();
      }
      const c = cmd as StepCommandMessage | null;
      if (c) {
        if (isQoda) gamma = c.gamma;
        const table = ep.pendingTable;
        if (table && layerwise && c.levelTableVersion === table.version) {
          layerwise.adopt(table);
          ep.pendingTable = null;
        }
      }
      problem.project?.(opt.params);
      average?.update(opt.params);
      if (c?.commit) {
        const p: CommitPart = {
          rank,
          step: t,
          worker: pw.state(),
          rng: rng.state(),
          quant: layerwise ? layerwise.snapshot() : null,
          bytesSent,
          ...(rank === 0 ? { opt: opt.state() } : {}),
          ...(rank === 0 && average ? { average: average.state() } : {}),
          ...(trials ? { auto: { calls, trials: trials.state() } } : {}),
        };
        await ch.send("commitPart", { epoch: a.epoch, step: t, rank }, utf8(encodeCommit(p)));
      }
      if (ep.evalNow || t === job.steps) {
        ep.evalNow = false;
        if (rank === 0 || t === job.steps) {
          const body: ParamsBody = {
            epoch: a.epoch,
            step: t,
            rank,
            checksum: fnv1a(opt.params),
            bytesSent,
            collectiveCalls: opt.collectiveCalls,
            skipped: opt.skipped,
            scalars: pw.scalars(),
            eps: windowEps(layerwise),
            collective: !quantized ? "fp32" : trials ? trials.decided ?? "auto" : job.collective,
            transport: ctx.transport,
          };
          // Evaluated, checkpointed and returned: the average when the job keeps one.
          const x = average ? average.float32() : opt.params;
          if (t === job.steps) ep.onFinal?.({ ...body, params: x.slice() });
          await ch.send("params", body, rank === 0 ? bytesOf(x) : undefined);
        }
      }
    }
  } finally {
    pw.dispose?.();
  }
  // Stay in the ring until the supervisor releases everyone (a peer may still drain).
  ep.finished = true;
  if ((await ep.released) === "shutdown") await ctx.closeGracefully("finished", 500);
  else ctx.close("finished");
}

/** ε_Q per layer type since the last call (the tracker restarts). */
function windowEps(q: LayerwiseQuantizer | null): Record<string, number> {
  if (!q) return {};
  const out: Record<string, number> = {};
  for (const [t, e] of Object.entries(q.eps.snapshot())) out[t] = e.eps;
  q.eps.reset();
  return out;
}

function bytesOf(a: Float32Array | Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
