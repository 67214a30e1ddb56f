/**
 * Typed errors for qoda-ring. Every error names what was wrong and, where a
 * layer is involved, which layer, so that a failing step can be traced.
 *
 * @module
 */

/** Base class of every error raised by qoda-ring. */
export class QodaError extends Error {
  /**
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

/** Encoded bytes that cannot be decoded: truncated, corrupt or inconsistent. */
export class FrameError extends QodaError {
  /**
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
   * @param message What failed.
   * @param options Standard `ErrorOptions`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BackendError";
  }
}
