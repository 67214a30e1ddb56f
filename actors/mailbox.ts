/**
 * A typed, bounded mailbox: FIFO per sender, round-robin across senders.
 *
 * Two ways in:
 * - {@linkcode Mailbox.post} never waits: at capacity it throws a
 *   {@linkcode MailboxFullError} naming the actor and the sender. Use it where
 *   a caller must not block (timers, transport callbacks).
 * - {@linkcode Mailbox.postAsync} is the backpressure path for async senders:
 *   at capacity it waits (FIFO among waiting senders) until a `take` frees a
 *   slot, or rejects when the mailbox closes or the given signal aborts.
 *
 * Fairness: each sender has its own FIFO queue; `take` serves the senders
 * that have messages in turn, one message each, so a sender that posted 100
 * messages delays another sender's single message by at most one take.
 * Capacity bounds the total number of queued messages over all senders.
 *
 * @module
 */
import { MailboxClosedError, MailboxFullError } from "./errors.ts";

/** A message together with the name of its sender. */
export interface Envelope<M> {
  /** Who posted the message. */
  readonly sender: string;
  /** The message. */
  readonly msg: M;
}

/** Options of {@linkcode Mailbox}. */
export interface MailboxOptions {
  /**
   * Most messages queued at once, over all senders (an integer ≥ 1).
   * @default 1024
   */
  capacity?: number;
  /**
   * The owning actor's name, used in error messages.
   * @default "anonymous"
   */
  name?: string;
}

/** Options of {@linkcode Mailbox.close}. */
export interface CloseOptions {
  /**
   * `false`: queued messages are dropped (and returned by `close`).
   * `true`: new posts are refused but `take` still returns the queued
   * messages; once the queue is empty `take` rejects.
   * @default false
   */
  drain?: boolean;
}

/** A small FIFO with O(1) amortised push and shift. */
class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(x: T): void {
    this.#items.push(x);
  }
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const x = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 32 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return x;
  }
  remove(x: T): boolean {
    const i = this.#items.indexOf(x, this.#head);
    if (i < 0) return false;
    this.#items.splice(i, 1);
    return true;
  }
  drain(): T[] {
    const out = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return out;
  }
}

interface Taker<M> {
  resolve(e: Envelope<M>): void;
  reject(e: unknown): void;
}

interface SpaceWaiter<M> {
  env: Envelope<M>;
  resolve(): void;
  reject(e: unknown): void;
  cleanup(): void;
}

/**
 * A bounded mailbox delivering messages of type `M`.
 *
 * @typeParam M The message type (usually a discriminated union on `type`).
 *
 * @example Fair delivery across senders
 * ```ts
 * import { Mailbox } from "./mod.ts";
 *
 * const box = new Mailbox<number>({ name: "worker-0", capacity: 16 });
 * for (let i = 0; i < 10; i++) box.post("chatty", i);
 * box.post("quiet", 99);
 * const first = await box.take();
 * const second = await box.take();
 * if (first.sender !== "chatty" || first.msg !== 0) throw new Error("not FIFO");
 * if (second.sender !== "quiet") throw new Error("not fair");
 * ```
 */
export class Mailbox<M> {
  /** The owning actor's name. */
  readonly name: string;
  /** Most messages queued at once. */
  readonly capacity: number;
  #queues = new Map<string, Fifo<M>>();
  #ready = new Fifo<string>();
  #size = 0;
  #takers = new Fifo<Taker<M>>();
  #space = new Fifo<SpaceWaiter<M>>();
  #closed = false;
  #draining = false;
  #reason: unknown = undefined;

  /**
   * Creates it.
   * @param options Capacity and owner name.
   * @throws {RangeError} If `capacity` is not an integer ≥ 1.
   */
  constructor(options?: MailboxOptions) {
    const { capacity = 1024, name = "anonymous" } = options ?? {};
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Mailbox capacity must be an integer >= 1, got '${capacity}'`);
    }
    this.capacity = capacity;
    this.name = name;
  }

  /** Number of queued messages (over all senders). */
  get size(): number {
    return this.#size;
  }

  /** Whether `close` was called (posts are refused from then on). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Enqueues `msg` from `sender` without waiting.
   *
   * @param sender The sender's name (fairness and FIFO order are per sender).
   * @param msg The message.
   * @throws {MailboxFullError} If `capacity` messages are queued.
   * @throws {MailboxClosedError} If the mailbox is closed.
   */
  post(sender: string, msg: M): void {
    this.#checkOpen(sender);
    if (this.#size >= this.capacity || this.#space.length > 0) {
      throw new MailboxFullError(this.name, sender, this.capacity);
    }
    this.#admit({ sender, msg });
  }

  /**
   * Enqueues `msg` from `sender`, waiting for space when the mailbox is full
   * (backpressure). Waiting senders are admitted in the order they called.
   *
   * @param sender The sender's name.
   * @param msg The message.
   * @param signal Aborting it withdraws a message still waiting for space.
   * @returns Resolves once the message is queued (not when it is handled).
   * @throws {MailboxClosedError} If the mailbox is or becomes closed first.
   */
  postAsync(sender: string, msg: M, signal?: AbortSignal): Promise<void> {
    try {
      this.#checkOpen(sender);
      signal?.throwIfAborted();
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.#size < this.capacity && this.#space.length === 0) {
      this.#admit({ sender, msg });
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        if (this.#space.remove(waiter)) reject(signal!.reason);
      };
      const waiter: SpaceWaiter<M> = {
        env: { sender, msg },
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener("abort", onAbort),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#space.push(waiter);
    });
  }

  /**
   * Takes the next message: the oldest message of the next sender in turn.
   * Waits when the mailbox is empty.
   *
   * @returns The message and its sender.
   * @throws {MailboxClosedError} If the mailbox is closed (and, when draining,
   * empty).
   */
  take(): Promise<Envelope<M>> {
    const env = this.tryTake();
    if (env) return Promise.resolve(env);
    if (this.#closed) {
      return Promise.reject(this.#closedError("take refused"));
    }
    return new Promise((resolve, reject) => this.#takers.push({ resolve, reject }));
  }

  /**
   * Takes the next message if one is queued.
   *
   * @returns The message and its sender, or `undefined` when empty.
   */
  tryTake(): Envelope<M> | undefined {
    const sender = this.#ready.shift();
    if (sender === undefined) return undefined;
    const q = this.#queues.get(sender)!;
    const msg = q.shift() as M;
    if (q.length > 0) this.#ready.push(sender);
    else this.#queues.delete(sender);
    this.#size--;
    this.#admitWaiting();
    if (this.#draining && this.#size === 0) this.#rejectTakers();
    return { sender, msg };
  }

  /**
   * Closes the mailbox: later posts throw, senders waiting for space and
   * pending takes reject, all with a {@linkcode MailboxClosedError} whose
   * `cause` is `reason`. Idempotent; the first reason wins.
   *
   * @param reason Why it closes (becomes the errors' `cause`).
   * @param options `drain: true` keeps queued messages takeable.
   * @returns The dropped messages (empty when draining).
   */
  close(reason?: unknown, options?: CloseOptions): Envelope<M>[] {
    const { drain = false } = options ?? {};
    if (!this.#closed) {
      this.#closed = true;
      this.#reason = reason;
      for (let w = this.#space.shift(); w; w = this.#space.shift()) {
        w.cleanup();
        w.reject(this.#closedError(`message from '${w.env.sender}' refused`));
      }
    }
    if (drain && this.#size > 0) {
      this.#draining = true;
      return [];
    }
    this.#draining = false;
    const dropped: Envelope<M>[] = [];
    for (let s = this.#ready.shift(); s !== undefined; s = this.#ready.shift()) {
      for (const msg of this.#queues.get(s)!.drain()) dropped.push({ sender: s, msg });
    }
    this.#queues.clear();
    this.#size = 0;
    this.#rejectTakers();
    return dropped;
  }

  #checkOpen(sender: string): void {
    if (this.#closed) throw this.#closedError(`message from '${sender}' refused`);
  }

  #closedError(what: string): MailboxClosedError {
    return new MailboxClosedError(this.name, what, { cause: this.#reason });
  }

  #rejectTakers(): void {
    for (let t = this.#takers.shift(); t; t = this.#takers.shift()) {
      t.reject(this.#closedError("take refused"));
    }
  }

  #admit(env: Envelope<M>): void {
    const taker = this.#takers.shift();
    if (taker) {
      // A waiting taker implies an empty queue, so direct delivery keeps FIFO.
      taker.resolve(env);
      return;
    }
    let q = this.#queues.get(env.sender);
    if (!q) {
      q = new Fifo<M>();
      this.#queues.set(env.sender, q);
      this.#ready.push(env.sender);
    }
    q.push(env.msg);
    this.#size++;
  }

  #admitWaiting(): void {
    while (this.#size < this.capacity && this.#space.length > 0) {
      const w = this.#space.shift()!;
      w.cleanup();
      this.#admit(w.env);
      w.resolve();
    }
  }
}
