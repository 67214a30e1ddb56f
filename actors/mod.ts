/**
 * The actor layer of qoda-ring: bounded fair mailboxes, turn-based actors,
 * supervision policies (one-for-one / all-for-one with exponential backoff),
 * the worker ⇄ supervisor protocol with an error codec, and the two actors of
 * the process runtime: the worker (`runWorker`, one process per device) and
 * the {@linkcode TrainingSupervisor} (rendezvous, QODA's step sizes, level
 * tables, commits, restarts).
 *
 * Every GPU is a worker actor; a supervisor restarts what fails. A ring
 * member's failure breaks every peer's collective, so the ring is supervised
 * `all-for-one`: every worker stops and starts again in a new epoch.
 *
 * @example Supervise two actors all-for-one and restart after a failure
 * ```ts
 * import { Actor, type Child, Supervisor } from "./mod.ts";
 * import { LinkError } from "../runtime/errors.ts";
 *
 * let now = 0;
 * const sup = new Supervisor({
 *   policy: {
 *     strategy: "all-for-one",
 *     maxRestarts: 3,
 *     withinMs: 60_000,
 *     backoff: { initialMs: 10, factor: 2, maxMs: 1_000 },
 *   },
 *   clock: () => now,
 *   sleep: (ms) => Promise.resolve(void (now += ms)),
 * });
 * const actors = new Map<string, Actor<string>>();
 * const outcomes: Promise<unknown>[] = [];
 * const worker = (name: string): Child => ({
 *   name,
 *   start: async () => {
 *     const a = new Actor<string>({
 *       name,
 *       handler: (msg) => {
 *         if (msg === "boom") throw new LinkError("peer-closed", 1, "rank 1 hung up");
 *       },
 *       onFailure: (report) => void outcomes.push(sup.onFailure(report)),
 *     });
 *     actors.set(name, a);
 *     await a.start();
 *   },
 *   stop: () => actors.get(name)?.stop({ mode: "drop" }),
 * });
 * for (const name of ["w0", "w1"]) {
 *   const child = worker(name);
 *   sup.add(child);
 *   await child.start();
 * }
 * const first = actors.get("w1")!;
 * first.tell("test", "boom");
 * await first.exited;
 * const [outcome] = await Promise.all(outcomes);
 * if ((outcome as { action: string }).action !== "restart") throw new Error("no restart");
 * if (first.state !== "closed" || actors.get("w1") === first) throw new Error("not replaced");
 * if (actors.get("w0")!.state !== "running" || now !== 10) throw new Error("not all-for-one");
 * for (const a of actors.values()) await a.stop();
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./mailbox.ts";
export * from "./actor.ts";
export * from "./supervision.ts";
export * from "./protocol.ts";
export * from "./problem.ts";
export * from "./job.ts";
export * from "./schedule.ts";
export * from "./control.ts";
export * from "./commit.ts";
export * from "./worker.ts";
export * from "./supervisor.ts";
export * from "./launch.ts";
export * from "./train.ts";
