/**
 * Where an all-reduce spends its time, per phase, in wall-clock and in
 * thread CPU time: pass an {@linkcode AllreduceTrace} as the `trace` option
 * of `allreduce` and read {@linkcode AllreduceTrace.summary} afterwards.
 * Without a trace the collective does no timing beyond its stats (a check
 * of an undefined option per section, nothing allocated).
 *
 * Phases (every segment's work, summed over the operations traced):
 * - `encode`: quantize + encode (every compressed send, and the owner's
 *   quantization of its finished chunk);
 * - `decode`: decoding into place (all-gather segments, the owner's own
 *   copy; float32: the received copy);
 * - `reduce`: the additions of the reduce-scatter (compressed: the fused
 *   decode-and-add), the all-gather collective's sums, and the division
 *   of a mean;
 * - `framing`: all the other CPU time of the thread during the operation:
 *   message framing, socket reads and writes, promise scheduling, GC;
 * - `idle`: blocked, waiting for the peer or the network (neither running
 *   nor runnable).
 *
 * CPU times come from the calling thread's CPU clock
 * (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`, through FFI: needs
 * `--allow-ffi`). `idle` comes from the kernel's per-thread run and
 * run-queue counters (`/proc/thread-self/schedstat`, Linux; needs
 * `--allow-read`); time spent runnable but waiting for a core is reported
 * separately as `queuedMs`, so the phases' wall times add up to at most the
 * operation's. Where a clock is missing (another OS, no permission), CPU
 * times equal wall times (`cpuClock: "wall"`), and `idle` is what remains
 * of the operation's wall time once the other phases are taken out.
 *
 * @module
 */

/** The phases of {@linkcode AllreduceTrace}, in reporting order. */
export const TRACE_PHASES = ["encode", "decode", "reduce", "framing", "idle"] as const;

/** One of {@linkcode TRACE_PHASES}. */
export type TracePhase = typeof TRACE_PHASES[number];

/** Wall-clock and thread CPU milliseconds of one phase. */
export interface PhaseTime {
  /** Wall-clock milliseconds. */
  wallMs: number;
  /** Thread CPU milliseconds. */
  cpuMs: number;
}

/** What {@linkcode AllreduceTrace.summary} returns: means per operation. */
export interface TraceSummary {
  /** Operations traced. */
  ops: number;
  /** `thread` when CPU times are thread CPU time, `wall` when no CPU clock was available. */
  cpuClock: "thread" | "wall";
  /** Whether `idle` and `queuedMs` come from the kernel's counters (else `idle` is the remainder). */
  schedstat: boolean;
  /** Wall-clock milliseconds per operation. */
  wallMs: number;
  /** Thread CPU milliseconds per operation. */
  cpuMs: number;
  /** Milliseconds per operation runnable but waiting for a core (0 without schedstat). */
  queuedMs: number;
  /** Per phase, milliseconds per operation. */
  phases: Record<TracePhase, PhaseTime>;
}

/** Phase indices of the timed sections (the hot path passes numbers, not strings). */
export const PHASE_ENCODE = 0;
/** See {@linkcode PHASE_ENCODE}. */
export const PHASE_DECODE = 1;
/** See {@linkcode PHASE_ENCODE}. */
export const PHASE_REDUCE = 2;

const CLOCK_THREAD_CPUTIME_ID = 3;
let threadClock: (() => number) | null | undefined;

/**
 * The calling thread's CPU time in milliseconds, through
 * `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`; null where that cannot be had
 * (not Linux/glibc, no FFI permission). Loaded once, on first use.
 *
 * @returns The clock, or null.
 */
export function threadCpuClock(): (() => number) | null {
  if (threadClock !== undefined) return threadClock;
  threadClock = null;
  try {
    if (Deno.build.os !== "linux") return null;
    const lib = Deno.dlopen("libc.so.6", {
      clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
    });
    const ts = new BigInt64Array(2); // struct timespec { time_t tv_sec; long tv_nsec } on 64-bit
    const f = lib.symbols.clock_gettime;
    if (f(CLOCK_THREAD_CPUTIME_ID, ts) !== 0) return null;
    threadClock = () => {
      f(CLOCK_THREAD_CPUTIME_ID, ts);
      return Number(ts[0]) * 1e3 + Number(ts[1]) / 1e6;
    };
  } catch {
    threadClock = null;
  }
  return threadClock;
}

/** [run, runnable-waiting] nanoseconds of the calling thread, or null. */
function readSchedstat(): [number, number] | null {
  try {
    const f = Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ");
    const run = Number(f[0]), wait = Number(f[1]);
    return Number.isFinite(run) && Number.isFinite(wait) ? [run, wait] : null;
  } catch {
    return null;
  }
}

/**
 * Per-phase timings of the all-reduces it is passed to (see the module
 * doc). Accumulates over operations until {@linkcode AllreduceTrace.reset};
 * one trace serves one rank (one thread) at a time.
 *
 * @example Trace a float32 all-reduce on two in-process ranks
 * ```ts
 * import { allreduce, AllreduceTrace, memoryRing, RingContext } from "@qoda/ring";
 * const ctxs = memoryRing(2).map((l, rank) => new RingContext({ rank, size: 2, ...l }));
 * const traces = ctxs.map(() => new AllreduceTrace({ cpuClock: null, schedstat: false }));
 * const bufs = ctxs.map(() => new Float32Array(1000).fill(1));
 * await Promise.all(ctxs.map((c, r) => allreduce(c, bufs[r], { trace: traces[r] })));
 * const s = traces[0].summary();
 * const sum = Object.values(s.phases).reduce((a, p) => a + p.wallMs, 0);
 * if (s.ops !== 1 || sum > s.wallMs + 1e-9) throw new Error("phases exceed the operation");
 * ctxs.forEach((c) => c.close());
 * ```
 */
export class AllreduceTrace {
  readonly #cpu: () => number;
  readonly #threadCpu: boolean;
  readonly #useSchedstat: boolean;
  #schedstat: boolean;
  // Accumulated totals: [encode, decode, reduce] wall and CPU.
  readonly #wall = new Float64Array(3);
  readonly #cpuAcc = new Float64Array(3);
  #ops = 0;
  #opWall = 0;
  #opCpu = 0;
  #opIdle = 0;
  #opQueued = 0;
  // The open section and operation.
  #w0 = 0;
  #c0 = 0;
  #opW0 = 0;
  #opC0 = 0;
  #run0 = 0;
  #wait0 = 0;
  #opSched = false;

  /**
   * Creates an empty trace.
   *
   * @param options `cpuClock`: a thread CPU clock in ms (default
   *   {@linkcode threadCpuClock}; null: none, CPU times are wall times);
   *   `schedstat`: read the kernel's run/run-queue counters (default true
   *   on Linux).
   */
  constructor(options: { cpuClock?: (() => number) | null; schedstat?: boolean } = {}) {
    const clock = options.cpuClock === undefined ? threadCpuClock() : options.cpuClock;
    this.#cpu = clock ?? (() => performance.now());
    this.#threadCpu = clock !== null;
    this.#useSchedstat = options.schedstat ?? Deno.build.os === "linux";
    this.#schedstat = this.#useSchedstat;
  }

  /** Starts a timed section (sections do not nest). */
  start(): void {
    this.#w0 = performance.now();
    this.#c0 = this.#cpu();
  }

  /** Ends the section started last, adding it to `phase` (a `PHASE_*` index). */
  stop(phase: number): void {
    this.#wall[phase] += performance.now() - this.#w0;
    this.#cpuAcc[phase] += this.#cpu() - this.#c0;
  }

  /** Marks the start of an operation (called by the collective). */
  opStart(): void {
    const s = this.#schedstat ? readSchedstat() : null;
    this.#opSched = s !== null;
    if (s) [this.#run0, this.#wait0] = s;
    else this.#schedstat = false;
    this.#opC0 = this.#cpu();
    this.#opW0 = performance.now();
  }

  /** Marks the end of the operation started last. */
  opEnd(): void {
    const wall = performance.now() - this.#opW0;
    const cpu = this.#cpu() - this.#opC0;
    const s = this.#opSched ? readSchedstat() : null;
    this.#ops++;
    this.#opWall += wall;
    this.#opCpu += cpu;
    if (s) {
      const run = (s[0] - this.#run0) / 1e6, queued = (s[1] - this.#wait0) / 1e6;
      this.#opIdle += Math.max(0, wall - run - queued);
      this.#opQueued += queued;
    } else {
      this.#schedstat = false;
    }
  }

  /** Forgets everything recorded (e.g. after warm-up operations). */
  reset(): void {
    this.#wall.fill(0);
    this.#cpuAcc.fill(0);
    this.#ops =
      this.#opWall =
      this.#opCpu =
      this.#opIdle =
      this.#opQueued =
        0;
    this.#schedstat = this.#useSchedstat;
  }

  /**
   * Means per operation of everything recorded since the last reset.
   *
   * @returns The summary (all zero before the first operation).
   */
  summary(): TraceSummary {
    const k = this.#ops || 1;
    const p = (i: number): PhaseTime => ({ wallMs: this.#wall[i] / k, cpuMs: this.#cpuAcc[i] / k });
    const encode = p(0), decode = p(1), reduce = p(2);
    const wallMs = this.#opWall / k, cpuMs = this.#opCpu / k;
    const computeCpu = encode.cpuMs + decode.cpuMs + reduce.cpuMs;
    const computeWall = encode.wallMs + decode.wallMs + reduce.wallMs;
    // Without a CPU clock the remainder of the wall time is split between framing and idle
    // only as far as that can be known: framing is not measurable, so it is 0.
    const framingMs = this.#threadCpu ? Math.max(0, cpuMs - computeCpu) : 0;
    const sched = this.#schedstat && this.#ops > 0;
    const idleMs = sched ? this.#opIdle / k : Math.max(0, wallMs - computeWall - framingMs);
    return {
      ops: this.#ops,
      cpuClock: this.#threadCpu ? "thread" : "wall",
      schedstat: sched,
      wallMs,
      cpuMs,
      queuedMs: sched ? this.#opQueued / k : 0,
      phases: {
        encode,
        decode,
        reduce,
        framing: { wallMs: framingMs, cpuMs: framingMs },
        idle: { wallMs: idleMs, cpuMs: 0 },
      },
    };
  }
}
