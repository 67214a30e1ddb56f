/**
 * Typed errors of the actor layer. They extend {@linkcode QodaError} from
 * `runtime/errors.ts` so that callers can catch every qoda-ring error at once.
 *
 * @module
 */
import { QodaError } from "../runtime/errors.ts";

/**
 * A mailbox is at capacity and a synchronous `post` was refused.
 *
 * @example Catch a full mailbox
 * ```ts
 * import { Mailbox, MailboxFullError } from "./mod.ts";
 *
 * const box = new Mailbox<number>({ name: "worker-0", capacity: 1 });
 * box.post("sup", 1);
 * try {
 *   box.post("sup", 2);
 *   throw new Error("unreachable");
 * } catch (e) {
 *   if (!(e instanceof MailboxFullError) || e.sender !== "sup") throw e;
 * }
 * ```
 */
export class MailboxFullError extends QodaError {
  /** The actor (mailbox owner) that refused the message. */
  readonly actor: string;
  /** The sender whose message was refused. */
  readonly sender: string;
  /** The mailbox capacity that was reached. */
  readonly capacity: number;
  /**
   * Creates it.
   * @param actor The mailbox owner.
   * @param sender The sender whose message was refused.
   * @param capacity The capacity that was reached.
   */
  constructor(actor: string, sender: string, capacity: number) {
    super(`mailbox of '${actor}' is full (capacity ${capacity}); message from '${sender}' refused`);
    this.name = "MailboxFullError";
    this.actor = actor;
    this.sender = sender;
    this.capacity = capacity;
  }
}

/**
 * A mailbox (or the actor owning it) is closed: a post or a pending take was
 * refused. `cause` holds the reason given to `close()`.
 *
 * @example Posting to a closed mailbox
 * ```ts
 * import { Mailbox, MailboxClosedError } from "./mod.ts";
 *
 * const box = new Mailbox<string>({ name: "worker-1", capacity: 4 });
 * box.close("shutdown");
 * try {
 *   box.post("sup", "hello");
 *   throw new Error("unreachable");
 * } catch (e) {
 *   if (!(e instanceof MailboxClosedError) || e.cause !== "shutdown") throw e;
 * }
 * ```
 */
export class MailboxClosedError extends QodaError {
  /** The actor (mailbox owner) that is closed. */
  readonly actor: string;
  /**
   * Creates it.
   * @param actor The mailbox owner.
   * @param message What was refused.
   * @param options Standard `ErrorOptions`; `cause` is the close reason.
   */
  constructor(actor: string, message: string, options?: ErrorOptions) {
    super(`actor '${actor}' is closed: ${message}`, options);
    this.name = "MailboxClosedError";
    this.actor = actor;
  }
}

/**
 * An error that crossed an actor boundary and whose class is not known on
 * this side. `remoteName` keeps the original `name`; `data` keeps the
 * original's own enumerable fields.
 *
 * @example Inspect an unknown remote error
 * ```ts
 * import { deserializeError, RemoteError } from "./mod.ts";
 *
 * const e = deserializeError({ name: "CudaError", message: "out of memory" });
 * if (!(e instanceof RemoteError) || e.remoteName !== "CudaError") throw new Error("not revived");
 * ```
 */
export class RemoteError extends QodaError {
  /** The error's `name` on the side that threw it. */
  readonly remoteName: string;
  /** The original error's own enumerable fields (structured-clone safe). */
  readonly data: Readonly<Record<string, unknown>>;
  /**
   * Creates it.
   * @param remoteName The original `name`.
   * @param message The original message.
   * @param data The original's own fields.
   * @param options Standard `ErrorOptions`.
   */
  constructor(
    remoteName: string,
    message: string,
    data: Readonly<Record<string, unknown>> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "RemoteError";
    this.remoteName = remoteName;
    this.data = data;
  }
}

/** The supervisor gave up: restart budget spent, nobody left, or a fatal error. */
export class SupervisorError extends QodaError {
  /**
   * Creates the error.
   * @param message What happened.
   * @param options Standard `ErrorOptions`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SupervisorError";
  }
}
