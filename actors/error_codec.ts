/**
 * The error codec used when errors cross an actor boundary (a control frame,
 * a `postMessage`): errors travel as {@linkcode SerializedError}
 * (`{ name, message, cause? }` plus the error's own fields in `data`) and
 * become typed errors again with {@linkcode deserializeError}.
 *
 * @module
 */
import {
  BackendError,
  CollectiveError,
  CollectiveTimeoutError,
  ConfigurationError,
  FrameError,
  HandshakeError,
  LinkError,
  MismatchError,
  NonFiniteError,
  QodaError,
  QuantizationError,
  RemoteFailureError,
  ReplicaDivergenceError,
  UnknownNameError,
} from "../runtime/errors.ts";
import { MailboxClosedError, MailboxFullError, RemoteError, SupervisorError } from "./errors.ts";

/** An error as it crosses an actor boundary (structured-clone safe). */
export interface SerializedError {
  /** The error's `name`, used to pick the class on arrival. */
  readonly name: string;
  /** The error's message, exactly. */
  readonly message: string;
  /** The serialized `cause`, if any. */
  readonly cause?: SerializedError;
  /** The error's own enumerable fields (e.g. `code`, `culprit`, `layer`). */
  readonly data?: Readonly<Record<string, unknown>>;
  /** The stack on the side that threw, if known. */
  readonly stack?: string;
}

/** Builds an error of a known class from its serialized form. */
export type ErrorReviver = (o: SerializedError, options: ErrorOptions | undefined) => Error;

const MAX_CAUSE_DEPTH = 8;

function cloneSafe(v: unknown, depth = 0): unknown {
  if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
    return v;
  }
  if (Array.isArray(v) && depth < 2) return v.map((x) => cloneSafe(x, depth + 1));
  return undefined;
}

/**
 * Turns anything thrown into a {@linkcode SerializedError}. Own enumerable
 * fields that are primitives or arrays of primitives go into `data`;
 * non-`Error` values become `{ name: "Error", message: String(value) }`. A
 * {@linkcode RemoteError} serializes as the original it stands for (its
 * `remoteName` and `data`), so errors can be forwarded across several hops.
 *
 * @param e What was thrown.
 * @returns The serializable form.
 *
 * @example
 * ```ts
 * import { serializeError } from "@qoda/ring/actors";
 * import { LinkError } from "@qoda/ring";
 *
 * const o = serializeError(new LinkError("io", 3, "connection reset"));
 * if (o.name !== "LinkError" || o.data?.culprit !== 3) throw new Error("lost fields");
 * ```
 */
export function serializeError(e: unknown): SerializedError {
  return serialize(e, 0);
}

function serialize(e: unknown, depth: number): SerializedError {
  if (!(e instanceof Error)) {
    let message: string;
    try {
      message = typeof e === "object" && e !== null ? JSON.stringify(e) : String(e);
    } catch {
      message = String(e);
    }
    return { name: "Error", message };
  }
  const data: Record<string, unknown> = {};
  let any = false;
  // A RemoteError forwards as the original it stands for.
  const remote = e instanceof RemoteError;
  for (const [k, v] of Object.entries(remote ? e.data : e)) {
    if (k === "name" || k === "message" || k === "stack" || k === "cause") continue;
    const c = cloneSafe(v);
    if (c !== undefined) {
      data[k] = c;
      any = true;
    }
  }
  const out: {
    name: string;
    message: string;
    cause?: SerializedError;
    data?: Record<string, unknown>;
    stack?: string;
  } = { name: remote ? e.remoteName : String(e.name), message: String(e.message) };
  if (any) out.data = data;
  if (e.stack !== undefined) out.stack = String(e.stack);
  if (e.cause !== undefined && depth < MAX_CAUSE_DEPTH) out.cause = serialize(e.cause, depth + 1);
  return out;
}

const num = (o: SerializedError, k: string, d = -1): number =>
  typeof o.data?.[k] === "number" ? o.data[k] as number : d;
const str = (o: SerializedError, k: string, d = ""): string =>
  typeof o.data?.[k] === "string" ? o.data[k] as string : d;

/** The classes {@linkcode deserializeError} revives by name. */
const REVIVERS: Readonly<Record<string, ErrorReviver>> = {
  Error: (o, opt) => new Error(o.message, opt),
  TypeError: (o, opt) => new TypeError(o.message, opt),
  RangeError: (o, opt) => new RangeError(o.message, opt),
  SyntaxError: (o, opt) => new SyntaxError(o.message, opt),
  ReferenceError: (o, opt) => new ReferenceError(o.message, opt),
  QodaError: (o, opt) => new QodaError(o.message, opt),
  QuantizationError: (o, opt) => new QuantizationError(str(o, "layer"), o.message, opt),
  NonFiniteError: (o) => new NonFiniteError(str(o, "layer"), num(o, "index"), num(o, "value", NaN)),
  UnknownNameError: (o) =>
    new UnknownNameError(
      "name",
      str(o, "requested"),
      Array.isArray(o.data?.valid) ? (o.data.valid as unknown[]).map(String) : [],
    ),
  ConfigurationError: (o, opt) => new ConfigurationError(o.message, opt),
  FrameError: (o, opt) => new FrameError(o.message, opt),
  BackendError: (o, opt) => new BackendError(o.message, opt),
  HandshakeError: (o, opt) => new HandshakeError(o.message, opt),
  CollectiveError: (o, opt) =>
    new CollectiveError(str(o, "code", "unknown"), num(o, "culprit"), o.message, opt),
  LinkError: (o, opt) => new LinkError(str(o, "code", "io"), num(o, "culprit"), o.message, opt),
  CollectiveTimeoutError: (o) =>
    new CollectiveTimeoutError(num(o, "culprit"), num(o, "timeoutMs", 0), o.message),
  MismatchError: (o) => new MismatchError(num(o, "culprit"), o.message),
  ReplicaDivergenceError: (o, opt) => new ReplicaDivergenceError(o.message, opt),
  SupervisorError: (o, opt) => new SupervisorError(o.message, opt),
  RemoteFailureError: (o) =>
    new RemoteFailureError(
      str(o, "code", "unknown"),
      num(o, "culprit"),
      num(o, "reporter"),
      o.message,
    ),
  MailboxFullError: (o) =>
    new MailboxFullError(str(o, "actor"), str(o, "sender"), num(o, "capacity", 0)),
  MailboxClosedError: (o, opt) => new MailboxClosedError(str(o, "actor"), o.message, opt),
};

/**
 * Revives a {@linkcode SerializedError}: the project's typed errors (every
 * class of `runtime/errors.ts`, the actor errors) and the standard `Error`,
 * `TypeError`, `RangeError`, `SyntaxError`, `ReferenceError` come back as
 * instances of their class with the same `message` and fields; anything else
 * becomes a {@linkcode RemoteError} whose `remoteName` is the original name.
 * The `cause` chain is revived too.
 *
 * @param o The serialized error (untrusted input is tolerated).
 * @param revivers Extra classes by name; they take precedence.
 * @returns The revived error.
 *
 * @example Round-trip a LinkError
 * ```ts
 * import { deserializeError, serializeError } from "@qoda/ring/actors";
 * import { LinkError } from "@qoda/ring";
 *
 * const e = deserializeError(serializeError(new LinkError("peer-closed", 2, "rank 2 hung up")));
 * if (!(e instanceof LinkError) || e.culprit !== 2 || e.code !== "peer-closed") throw new Error("not revived");
 * ```
 */
export function deserializeError(
  o: unknown,
  revivers?: Readonly<Record<string, ErrorReviver>>,
): Error {
  return revive(o, revivers, 0);
}

function revive(
  raw: unknown,
  revivers: Readonly<Record<string, ErrorReviver>> | undefined,
  depth: number,
): Error {
  if (typeof raw !== "object" || raw === null) {
    return new RemoteError("Unknown", `malformed serialized error: ${String(raw)}`);
  }
  const r = raw as Record<string, unknown>;
  const o: SerializedError = {
    name: typeof r.name === "string" ? r.name : "Unknown",
    message: typeof r.message === "string" ? r.message : "",
    ...(r.cause !== undefined ? { cause: r.cause as SerializedError } : {}),
    ...(typeof r.data === "object" && r.data !== null
      ? { data: r.data as Record<string, unknown> }
      : {}),
    ...(typeof r.stack === "string" ? { stack: r.stack } : {}),
  };
  const options = o.cause !== undefined && depth < MAX_CAUSE_DEPTH
    ? { cause: revive(o.cause, revivers, depth + 1) }
    : undefined;
  const make = (revivers && Object.hasOwn(revivers, o.name) ? revivers[o.name] : undefined) ??
    (Object.hasOwn(REVIVERS, o.name) ? REVIVERS[o.name] : undefined);
  let err: Error;
  if (make) {
    err = make(o, options);
    // Constructors may decorate messages; keep the original text exactly.
    Object.defineProperty(err, "message", {
      value: o.message,
      writable: true,
      configurable: true,
      enumerable: false,
    });
    if (options && err.cause === undefined) {
      Object.defineProperty(err, "cause", {
        value: options.cause,
        writable: true,
        configurable: true,
        enumerable: false,
      });
    }
  } else {
    err = new RemoteError(o.name, o.message, o.data ?? {}, options);
  }
  if (o.stack !== undefined) {
    Object.defineProperty(err, "stack", {
      value: o.stack,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
  return err;
}
