/**
 * Bit-level writer and reader over a `Uint8Array`, LSB-first: bit `k` of the
 * stream is bit `k & 7` of byte `k >> 3`. Up to 32 bits per call, no
 * allocation per call.
 *
 * @module
 */
import { FrameError } from "../errors.ts";

/**
 * Reverses the low `len` bits of `x` (1 ≤ len ≤ 32), e.g. to store a number
 * most-significant bit first in an LSB-first stream.
 *
 * @param x The value (its low `len` bits are used).
 * @param len Number of bits, 1..32.
 * @returns The low `len` bits of `x` in reverse order, as an unsigned integer.
 *
 * @example Reverse three bits
 * ```ts
 * import { reverseBits } from "@qoda/ring/coding";
 * if (reverseBits(0b110, 3) !== 0b011) throw new Error("wrong");
 * ```
 */
export function reverseBits(x: number, len: number): number {
  x = ((x >>> 1) & 0x55555555) | ((x & 0x55555555) << 1);
  x = ((x >>> 2) & 0x33333333) | ((x & 0x33333333) << 2);
  x = ((x >>> 4) & 0x0f0f0f0f) | ((x & 0x0f0f0f0f) << 4);
  x = ((x >>> 8) & 0x00ff00ff) | ((x & 0x00ff00ff) << 8);
  x = (x >>> 16) | (x << 16);
  return x >>> (32 - len);
}

function checkWidth(n: number): void {
  if (!(n >= 0 && n <= 32) || (n | 0) !== n) {
    throw new RangeError(`bit width must be an integer in 0..32, got ${n}`);
  }
}

/**
 * Writes bits LSB-first into a caller-owned buffer. Bytes are overwritten as
 * the stream reaches them (the buffer need not be zeroed); the unused high
 * bits of the last partial byte are left 0.
 *
 * @example Write two fields
 * ```ts
 * import { BitWriter } from "@qoda/ring/coding";
 * const w = new BitWriter(new Uint8Array(2));
 * w.write(0b101, 3);
 * w.write(0xff, 8);
 * const bytes = w.finish();
 * if (bytes.length !== 2 || bytes[0] !== 0b11111101 || bytes[1] !== 0b111) {
 *   throw new Error("wrong bits");
 * }
 * ```
 */
export class BitWriter {
  #bytes: Uint8Array;
  #pos = 0;
  #capacity: number;

  /**
   * Creates a writer at bit 0 of `bytes`.
   *
   * @param bytes The destination; writing past its end throws `RangeError`.
   */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#capacity = bytes.length * 8;
  }

  /** Bits written so far. */
  get position(): number {
    return this.#pos;
  }

  /** Bytes touched so far: `ceil(position / 8)`. */
  get byteLength(): number {
    return Math.ceil(this.#pos / 8);
  }

  /**
   * Appends the low `n` bits of `value`, least significant first.
   *
   * @param value The bits (higher bits are ignored).
   * @param n How many bits, 0..32.
   */
  write(value: number, n: number): void {
    checkWidth(n);
    let pos = this.#pos;
    if (pos + n > this.#capacity) {
      throw new RangeError(
        `BitWriter overflow: ${n} bits at bit ${pos} exceed capacity ${this.#capacity}`,
      );
    }
    const buf = this.#bytes;
    let v = value;
    let rem = n;
    while (rem > 0) {
      const p = pos >>> 3;
      const s = pos & 7;
      const take = 8 - s < rem ? 8 - s : rem;
      const chunk = v & ((1 << take) - 1);
      if (s === 0) buf[p] = chunk;
      else buf[p] |= chunk << s;
      v >>>= take;
      rem -= take;
      pos += take;
    }
    this.#pos = pos;
  }

  /**
   * Appends one bit.
   *
   * @param bit 0 or 1 (only the low bit is used).
   */
  writeBit(bit: number): void {
    const pos = this.#pos;
    if (pos >= this.#capacity) {
      throw new RangeError(`BitWriter overflow: 1 bit at bit ${pos} exceeds capacity`);
    }
    const p = pos >>> 3;
    const s = pos & 7;
    if (s === 0) this.#bytes[p] = bit & 1;
    else this.#bytes[p] |= (bit & 1) << s;
    this.#pos = pos + 1;
  }

  /**
   * The written bytes.
   *
   * @returns A view of the first {@linkcode BitWriter.byteLength} bytes of the buffer.
   */
  finish(): Uint8Array {
    return this.#bytes.subarray(0, this.byteLength);
  }
}

/**
 * Reads bits LSB-first. Never reads past its end: a read that would do so
 * throws {@linkcode FrameError} ("truncated …") and consumes nothing.
 *
 * @example Read back two fields
 * ```ts
 * import { BitReader } from "@qoda/ring/coding";
 * const r = new BitReader(new Uint8Array([0b11111101, 0b111]));
 * if (r.read(3) !== 0b101 || r.read(8) !== 0xff) throw new Error("wrong bits");
 * ```
 */
export class BitReader {
  #bytes: Uint8Array;
  #pos = 0;
  #end: number;

  /**
   * Creates a reader at bit 0 of `bytes`.
   *
   * @param bytes The source.
   * @param bitLength How many bits of `bytes` are readable (all of them by default).
   */
  constructor(bytes: Uint8Array, bitLength: number = bytes.length * 8) {
    if (!Number.isInteger(bitLength) || bitLength < 0 || bitLength > bytes.length * 8) {
      throw new RangeError(
        `bitLength must be an integer in 0..${bytes.length * 8}, got ${bitLength}`,
      );
    }
    this.#bytes = bytes;
    this.#end = bitLength;
  }

  /** Bits consumed so far. */
  get position(): number {
    return this.#pos;
  }

  /** Bits left to read. */
  get remaining(): number {
    return this.#end - this.#pos;
  }

  /**
   * Reads `n` bits; the first bit read is bit 0 of the result.
   *
   * @param n How many bits, 0..32.
   * @returns The bits as an unsigned integer.
   */
  read(n: number): number {
    checkWidth(n);
    let pos = this.#pos;
    if (pos + n > this.#end) {
      throw new FrameError(
        `truncated bit stream: need ${n} bits at bit ${pos}, only ${this.#end - pos} left`,
      );
    }
    const buf = this.#bytes;
    let out = 0;
    let got = 0;
    while (got < n) {
      const s = pos & 7;
      const take = 8 - s < n - got ? 8 - s : n - got;
      out |= ((buf[pos >>> 3] >>> s) & ((1 << take) - 1)) << got;
      got += take;
      pos += take;
    }
    this.#pos = pos;
    return out >>> 0;
  }

  /**
   * Reads one bit.
   *
   * @returns 0 or 1.
   */
  readBit(): number {
    const pos = this.#pos;
    if (pos >= this.#end) {
      throw new FrameError(`truncated bit stream: need 1 bit at bit ${pos}, none left`);
    }
    this.#pos = pos + 1;
    return (this.#bytes[pos >>> 3] >>> (pos & 7)) & 1;
  }
}
