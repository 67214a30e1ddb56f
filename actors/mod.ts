/**
 * The actor layer of qoda-ring: the actor core (bounded fair mailboxes,
 * actors that handle one message at a time, the restart policy) and the
 * training runtime built on it.
 *
 * Every worker is an actor: its mailbox takes the supervisor's control
 * messages (one types-only union, {@linkcode ControlMessage}) and it runs the
 * step loop of each assigned epoch: oracle, compressed all-reduce, step
 * report, the supervisor's step command, update. The supervisor is an actor
 * too: its mailbox takes every worker's messages, process exits and watchdog
 * ticks; it owns QODA's step counter, step-size accumulator and step sizes,
 * the layer-wise level tables and the commits, and when the ring fails it
 * applies the restart policy ({@linkcode decide}) all-for-one: a new epoch
 * with the dead worker restarted, from the last commit. Workers in other
 * processes or on other hosts are reached over the same Cap'n Proto/TCP
 * control plane; in-process workers over in-memory links.
 *
 * {@linkcode train} is the entry point; {@linkcode TrainingSupervisor} and
 * {@linkcode runWorker} are the lower-level API.
 *
 * @example An actor handles a typed message union one message at a time
 * ```ts
 * import { Actor } from "@qoda/ring/actors";
 *
 * type Msg = { type: "add"; n: number } | { type: "reset" };
 * let total = 0;
 * const counter = new Actor<Msg>({
 *   name: "counter",
 *   handler: async (m) => {
 *     if (m.type === "reset") total = 0;
 *     else {
 *       const before = total;
 *       await new Promise((r) => setTimeout(r, 1)); // no other message runs meanwhile
 *       total = before + m.n;
 *     }
 *   },
 * });
 * await counter.start();
 * counter.tell("test", { type: "add", n: 2 });
 * counter.tell("test", { type: "add", n: 3 });
 * await counter.stop(); // drains the mailbox
 * if (total !== 5) throw new Error(`total ${total}`);
 * ```
 *
 * @example The restart policy: restart with backoff, then escalate
 * ```ts
 * import { decide, type SupervisionPolicy } from "@qoda/ring/actors";
 *
 * const policy: SupervisionPolicy = {
 *   strategy: "all-for-one",
 *   maxRestarts: 2,
 *   withinMs: 60_000,
 *   backoff: { initialMs: 100, factor: 2, maxMs: 1_000 },
 * };
 * const first = decide(policy, [], 0);
 * const third = decide(policy, [0, 10], 20);
 * if (first.action !== "restart" || first.delayMs !== 100) throw new Error();
 * if (third.action !== "escalate") throw new Error("a third failure within a minute escalates");
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./mailbox.ts";
export * from "./actor.ts";
export * from "./supervision.ts";
export * from "./error_codec.ts";
export type * from "./messages.ts";
export * from "./problem.ts";
export * from "./job.ts";
export * from "./schedule.ts";
export * from "./control.ts";
export * from "./commit.ts";
export * from "./worker.ts";
export * from "./supervisor.ts";
export * from "./launch.ts";
export * from "./train.ts";
export * from "./rendezvous.ts";
// Types of the lower layers that this package's API names.
export type * from "../runtime/errors.ts";
export type { Link, Received } from "../runtime/transport/link.ts";
export type { TcpAcceptor, TcpAcceptorOptions } from "../runtime/transport/acceptor.ts";
export type {
  AuthMessage,
  BarrierMessage,
  ChunkMessage,
  ControlMessage as ControlFrameMessage,
  ErrorMessage,
  HeartbeatMessage,
  HelloMessage,
  Phase,
  ShutdownMessage,
  StepCommandMessage,
  StepReportMessage,
  WireMessage,
} from "../runtime/wire/messages.ts";
export type { ReceivedChunk, RingContext } from "../runtime/collective/context.ts";
export type { LayerSpan } from "../runtime/collective/allreduce.ts";
export type { Rng, RngState } from "../runtime/rng.ts";
export type * from "../runtime/quant/types.ts";
export type { LayerwiseSnapshot, LevelTable } from "../runtime/quant/layerwise.ts";
export type { LevelSchedule } from "../runtime/quant/levels.ts";
export type * from "../runtime/optim/types.ts";
export type { CoderName, CODERS } from "../runtime/coding/codec.ts";
