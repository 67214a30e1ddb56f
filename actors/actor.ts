/**
 * An actor: a named mailbox and an async handler that runs one message at a
 * time (turn-based, like Orleans grains).
 *
 * Lifecycle: `starting` (optional `onStart` runs; messages may already be
 * posted and wait) → `running` → `stopping` → `closed`. Nothing leaves
 * `closed`: a restart builds a new actor.
 *
 * Failure: if the handler (or `onStart`) throws, the actor closes its mailbox
 * (queued messages are dropped, waiting senders get a
 * {@linkcode MailboxClosedError} whose `cause` is the error), enters `closed`
 * and then calls the injected `onFailure` callback with `{ actor, error }`,
 * the supervisor's entry point. The actor never restarts itself.
 *
 * @module
 */
import { type Envelope, Mailbox } from "./mailbox.ts";

/** The lifecycle states of an {@linkcode Actor}; `closed` is final. */
export type ActorState = "starting" | "running" | "stopping" | "closed";

/** What a handler is told besides the message. */
export interface ActorContext {
  /** The actor's own name. */
  readonly self: string;
  /** Who sent the message being handled. */
  readonly sender: string;
  /** Aborted when the actor is stopped with `mode: "drop"` or fails. */
  readonly signal: AbortSignal;
}

/** What an actor reports to its supervisor when it fails. */
export interface FailureReport {
  /** The failed actor's name. */
  readonly actor: string;
  /** What the handler (or `onStart`) threw. */
  readonly error: unknown;
}

/** How an actor ended; the value of {@linkcode Actor.exited}. */
export type ActorExit =
  | { readonly actor: string; readonly reason: "stopped" }
  | { readonly actor: string; readonly reason: "failed"; readonly error: unknown };

/** Options of {@linkcode Actor}. */
export interface ActorOptions<M> {
  /** The actor's name (unique among its supervisor's children). */
  name: string;
  /** Handles one message; the next message waits until it settles. */
  handler: (msg: M, ctx: ActorContext) => void | Promise<void>;
  /**
   * Runs once in `starting`, before the first message.
   * @default undefined
   */
  onStart?: () => void | Promise<void>;
  /**
   * The supervisor callback, called once after a failure, when the actor is
   * already `closed`. Errors it throws go to `globalThis.reportError`.
   * @default undefined (the failure is only visible via `exited`)
   */
  onFailure?: (report: FailureReport) => void;
  /**
   * Mailbox capacity (messages queued over all senders).
   * @default 1024
   */
  capacity?: number;
}

/** Options of {@linkcode Actor.stop}. */
export interface StopOptions {
  /**
   * `"drain"`: refuse new messages, handle the queued ones, then close.
   * `"drop"`: refuse new messages, drop the queued ones, abort `ctx.signal`,
   * wait only for the message being handled.
   * @default "drain"
   */
  mode?: "drain" | "drop";
  /**
   * The reason, given as `cause` to senders that are refused.
   * @default "stopped"
   */
  reason?: unknown;
}

/**
 * An actor processing messages of type `M` one at a time.
 *
 * @typeParam M The message type (usually a discriminated union on `type`).
 *
 * @example Count messages, then stop
 * ```ts
 * import { Actor } from "./mod.ts";
 *
 * let total = 0;
 * const counter = new Actor<{ type: "add"; n: number }>({
 *   name: "counter",
 *   handler: (msg) => {
 *     total += msg.n;
 *   },
 * });
 * await counter.start();
 * counter.tell("test", { type: "add", n: 2 });
 * counter.tell("test", { type: "add", n: 3 });
 * await counter.stop(); // drains by default
 * if (total !== 5 || counter.state !== "closed") throw new Error("not drained");
 * ```
 */
export class Actor<M> {
  /** The actor's name. */
  readonly name: string;
  #mailbox: Mailbox<M>;
  #handler: ActorOptions<M>["handler"];
  #onStart: ActorOptions<M>["onStart"];
  #onFailure: ActorOptions<M>["onFailure"];
  #state: ActorState = "starting";
  #abort = new AbortController();
  #started: Promise<void> | undefined;
  #exit!: (e: ActorExit) => void;
  /** Resolves (never rejects) once the actor is `closed`, saying why. */
  readonly exited: Promise<ActorExit>;

  /**
   * Creates it.
   * @param options Name, handler, supervisor callback, capacity.
   * @throws {RangeError} If `capacity` is not an integer ≥ 1.
   */
  constructor(options: ActorOptions<M>) {
    const { name, handler, onStart, onFailure, capacity = 1024 } = options;
    this.name = name;
    this.#handler = handler;
    this.#onStart = onStart;
    this.#onFailure = onFailure;
    this.#mailbox = new Mailbox<M>({ name, capacity });
    this.exited = new Promise((resolve) => this.#exit = resolve);
  }

  /** The current lifecycle state. */
  get state(): ActorState {
    return this.#state;
  }

  /** Number of messages waiting in the mailbox. */
  get queued(): number {
    return this.#mailbox.size;
  }

  /**
   * Runs `onStart`, then starts handling messages. Idempotent.
   *
   * @returns Resolves when the actor is `running` (or already ended, if
   * `onStart` failed or `stop` came first; see `exited`).
   */
  start(): Promise<void> {
    this.#started ??= this.#run();
    return this.#started;
  }

  /**
   * Posts a message without waiting.
   *
   * @param sender The sender's name.
   * @param msg The message.
   * @throws {MailboxFullError} If the mailbox is full.
   * @throws {MailboxClosedError} If the actor is stopping or closed.
   */
  tell(sender: string, msg: M): void {
    this.#mailbox.post(sender, msg);
  }

  /**
   * Posts a message, waiting for mailbox space (backpressure).
   *
   * @param sender The sender's name.
   * @param msg The message.
   * @param signal Aborting it withdraws a message still waiting for space.
   * @returns Resolves when queued.
   * @throws {MailboxClosedError} If the actor is or becomes stopping/closed.
   */
  tellAsync(sender: string, msg: M, signal?: AbortSignal): Promise<void> {
    return this.#mailbox.postAsync(sender, msg, signal);
  }

  /**
   * Stops the actor (see {@linkcode StopOptions} for drain vs drop).
   * Idempotent; safe in any state.
   *
   * @param options Mode and reason.
   * @returns Resolves when the actor is `closed`.
   */
  async stop(options?: StopOptions): Promise<void> {
    const { mode = "drain", reason = "stopped" } = options ?? {};
    if (this.#state === "closed") return;
    if (!this.#started) {
      // Never started: nothing runs, so queued messages are dropped.
      this.#abort.abort(reason);
      this.#mailbox.close(reason);
      this.#finish({ actor: this.name, reason: "stopped" });
      return;
    }
    this.#state = "stopping";
    if (mode === "drop") this.#abort.abort(reason);
    this.#mailbox.close(reason, { drain: mode === "drain" });
    await this.exited;
  }

  async #run(): Promise<void> {
    try {
      await this.#onStart?.();
    } catch (error) {
      this.#fail(error);
      return;
    }
    if (this.#state === "starting") this.#state = "running";
    // The loop runs detached; `exited` tells when it ends.
    void this.#loop();
  }

  async #loop(): Promise<void> {
    for (;;) {
      if (this.#state === "closed") return;
      let env: Envelope<M>;
      try {
        env = await this.#mailbox.take();
      } catch {
        // Only a closed mailbox rejects a take: a stop has completed.
        this.#finish({ actor: this.name, reason: "stopped" });
        return;
      }
      try {
        await this.#handler(env.msg, {
          self: this.name,
          sender: env.sender,
          signal: this.#abort.signal,
        });
      } catch (error) {
        this.#fail(error);
        return;
      }
    }
  }

  #fail(error: unknown): void {
    if (this.#state === "closed") return;
    this.#abort.abort(error);
    this.#mailbox.close(error);
    this.#finish({ actor: this.name, reason: "failed", error });
    if (this.#onFailure) {
      try {
        this.#onFailure({ actor: this.name, error });
      } catch (e) {
        globalThis.reportError(e);
      }
    }
  }

  #finish(exit: ActorExit): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#exit(exit);
  }
}

/**
 * Creates and starts an actor.
 *
 * @typeParam M The message type.
 * @param options As for {@linkcode Actor}.
 * @returns The actor, once `running` (or already ended if `onStart` failed).
 *
 * @example Spawn an echo actor
 * ```ts
 * import { spawn } from "./mod.ts";
 *
 * const seen: string[] = [];
 * const echo = await spawn<string>({ name: "echo", handler: (m, ctx) => void seen.push(`${ctx.sender}:${m}`) });
 * echo.tell("a", "hi");
 * await echo.stop();
 * if (seen[0] !== "a:hi") throw new Error("not handled");
 * ```
 */
export async function spawn<M>(options: ActorOptions<M>): Promise<Actor<M>> {
  const actor = new Actor(options);
  await actor.start();
  return actor;
}
