/**
 * Typed errors for qoda-ring. Every error names what was wrong and, where a
 * layer is involved, which layer, so that a failing step can be traced.
 *
 * @module
 */

/** Base class of every error raised by qoda-ring. */
export class QodaError extends Error {
  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options Standard `ErrorOptions` (a `cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "QodaError";
  }
}

/**
 * A quantizer or coder was given input it cannot handle: wrong length, bits
 * out of range, a non-finite value. `layer` names the layer ("" if none).
 */
export class QuantizationError extends QodaError {
  /** The layer whose tensor was rejected ("" when not known). */
  readonly layer: string;
  /**
   * Creates the error; the message is prefixed with the layer name when there is one.
   *
   * @param layer The layer name ("" when not known).
   * @param message What was wrong.
   * @param options Standard `ErrorOptions`.
   */
  constructor(layer: string, message: string, options?: ErrorOptions) {
    super(layer ? `layer '${layer}': ${message}` : message, options);
    this.name = "QuantizationError";
    this.layer = layer;
  }
}

/** A gradient holds NaN or ±Infinity; `index` is the first bad coordinate. */
export class NonFiniteError extends QuantizationError {
  /** Index of the first non-finite coordinate. */
  readonly index: number;
  /** The offending value (NaN, Infinity or -Infinity). */
  readonly value: number;
  /**
   * Creates the error; the message names the value and its index.
   *
   * @param layer The layer name ("" when not known).
   * @param index Index of the first non-finite coordinate.
   * @param value The offending value.
   */
  constructor(layer: string, index: number, value: number) {
    super(layer, `non-finite value ${value} at index ${index}`);
    this.name = "NonFiniteError";
    this.index = index;
    this.value = value;
  }
}

/** A scheme, coder or backend name that does not exist; lists the valid ones. */
export class UnknownNameError extends QodaError {
  /** The name that was asked for. */
  readonly requested: string;
  /** The names that would have been accepted. */
  readonly valid: readonly string[];
  /**
   * Creates the error; the message lists the valid names.
   *
   * @param what What kind of name ("scheme", "coder", "backend", …).
   * @param requested The name that was asked for.
   * @param valid The accepted names.
   */
  constructor(what: string, requested: string, valid: readonly string[]) {
    super(`unknown ${what} '${requested}'; valid: ${valid.join(", ")}`);
    this.name = "UnknownNameError";
    this.requested = requested;
    this.valid = valid;
  }
}

/**
 * A job's configuration cannot work: a problem's options, a layer's shape, a
 * quantizer that does not fit the problem. The same error would come back
 * on every attempt, so the supervisor stops at once instead of restarting
 * (as it does for any deterministic error, see `isDeterministicFailure`).
 *
 * @example A problem module refusing an option
 * ```ts
 * import { ConfigurationError } from "@qoda/ring";
 * const e = new ConfigurationError("option 'dim' must be a positive integer, got 0");
 * if (e.name !== "ConfigurationError") throw new Error("wrong name");
 * ```
 */
export class ConfigurationError extends QodaError {
  /**
   * Creates the error.
   *
   * @param message What is wrong with the configuration.
   * @param options Standard `ErrorOptions`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigurationError";
  }
}

/** Encoded bytes that cannot be decoded: truncated, corrupt or inconsistent. */
export class FrameError extends QodaError {
  /**
   * Creates the error.
   *
   * @param message What was wrong with the bytes.
   * @param options Standard `ErrorOptions`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FrameError";
  }
}

/** A tensor backend could not be initialised as asked. */
export class BackendError extends QodaError {
  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param options Standard `ErrorOptions`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BackendError";
  }
}

/**
 * A collective operation failed. Every rank of the ring gets one for the
 * same operation; `culprit` names the rank held responsible (−1 if unknown).
 */
export class CollectiveError extends QodaError {
  /** Machine-readable kind: "peer-closed", "io", "timeout", "mismatch", "protocol", … */
  readonly code: string;
  /** The rank held responsible, or −1. */
  readonly culprit: number;
  /**
   * Creates the error.
   *
   * @param code Machine-readable kind.
   * @param culprit The rank held responsible, or −1.
   * @param message What happened.
   * @param options Standard `ErrorOptions`.
   */
  constructor(code: string, culprit: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CollectiveError";
    this.code = code;
    this.culprit = culprit;
  }
}

/** The connection to a peer closed or failed (`culprit` is that peer). */
export class LinkError extends CollectiveError {
  /**
   * Creates the error.
   *
   * @param code "peer-closed" or "io".
   * @param peer The peer's rank.
   * @param message What happened.
   * @param options Standard `ErrorOptions`.
   */
  constructor(code: string, peer: number, message: string, options?: ErrorOptions) {
    super(code, peer, message, options);
    this.name = "LinkError";
  }
}

/** An operation passed its deadline (`culprit`: the rank it was waiting for). */
export class CollectiveTimeoutError extends CollectiveError {
  /** The deadline that passed, in ms. */
  readonly timeoutMs: number;
  /**
   * Creates the error, with code `"timeout"`.
   *
   * @param waitingFor The rank whose data did not arrive.
   * @param timeoutMs The deadline in ms.
   * @param message What was being waited for.
   */
  constructor(waitingFor: number, timeoutMs: number, message: string) {
    super("timeout", waitingFor, message);
    this.name = "CollectiveTimeoutError";
    this.timeoutMs = timeoutMs;
  }
}

/** Ranks disagree on an operation (lengths, quantizer headers, op ids). */
export class MismatchError extends CollectiveError {
  /**
   * Creates the error, with code `"mismatch"`.
   *
   * @param peer The rank whose frame disagreed.
   * @param message Both sides' values.
   */
  constructor(peer: number, message: string) {
    super("mismatch", peer, message);
    this.name = "MismatchError";
  }
}

/** Another rank failed the operation and told us (`reporter` saw it first). */
export class RemoteFailureError extends CollectiveError {
  /** The rank that reported the failure. */
  readonly reporter: number;
  /**
   * Creates the error; the message names the reporting rank.
   *
   * @param code The reporter's error code.
   * @param culprit The rank held responsible, or −1.
   * @param reporter The rank that reported it.
   * @param message The reporter's message.
   */
  constructor(code: string, culprit: number, reporter: number, message: string) {
    super(code, culprit, `rank ${reporter} reported: ${message}`);
    this.name = "RemoteFailureError";
    this.reporter = reporter;
  }
}

/** A connection failed the handshake (bad version, ring, rank or secret). */
export class HandshakeError extends QodaError {
  /**
   * Creates the error.
   *
   * @param message Why the peer was refused.
   * @param options Standard `ErrorOptions`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HandshakeError";
  }
}

/** Two replicas computed different averages from the same messages (a determinism bug). */
export class ReplicaDivergenceError extends QodaError {
  /**
   * Creates the error.
   *
   * @param message Which receivers, layer and coordinate differ.
   * @param options Standard `ErrorOptions`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ReplicaDivergenceError";
  }
}
