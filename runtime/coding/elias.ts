/**
 * Elias gamma and omega codes for integers 1 ≤ n < 2^32 on a
 * {@linkcode BitWriter}/{@linkcode BitReader}. Codewords are written in their
 * textbook order (first codeword bit = first stream bit), numbers most
 * significant bit first.
 *
 * @module
 */
import { FrameError } from "../errors.ts";
import { type BitReader, type BitWriter, reverseBits } from "./bit_stream.ts";

const MAX_U32 = 4294967295;

function checkN(n: number): void {
  if (!(n >= 1 && n <= MAX_U32) || Math.floor(n) !== n) {
    throw new RangeError(`Elias codes take an integer in 1..2^32-1, got ${n}`);
  }
}

/** ⌊log₂ n⌋ for 1 ≤ n < 2^32. */
function floorLog2(n: number): number {
  return 31 - Math.clz32(n);
}

/**
 * Length in bits of the Elias gamma code of `n`: 2⌊log₂ n⌋ + 1.
 *
 * @param n An integer in 1..2^32−1.
 * @returns The code length in bits.
 *
 * @example
 * ```ts
 * import { eliasGammaLength } from "@qoda/ring/coding";
 * if (eliasGammaLength(1) !== 1 || eliasGammaLength(5) !== 5) throw new Error("wrong");
 * ```
 */
export function eliasGammaLength(n: number): number {
  checkN(n);
  return 2 * floorLog2(n) + 1;
}

/**
 * Length in bits of the Elias omega code of `n`.
 *
 * @param n An integer in 1..2^32−1.
 * @returns The code length in bits (1 for n = 1).
 *
 * @example
 * ```ts
 * import { eliasOmegaLength } from "@qoda/ring/coding";
 * // 4 = "10 100 0"
 * if (eliasOmegaLength(1) !== 1 || eliasOmegaLength(4) !== 6) throw new Error("wrong");
 * ```
 */
export function eliasOmegaLength(n: number): number {
  checkN(n);
  let len = 1;
  while (n > 1) {
    const l = floorLog2(n);
    len += l + 1;
    n = l;
  }
  return len;
}

/**
 * Writes the Elias gamma code of `n`: ⌊log₂ n⌋ zeros, then n in binary.
 *
 * @param w The destination stream.
 * @param n An integer in 1..2^32−1.
 *
 * @example Gamma round trip
 * ```ts
 * import { BitReader, BitWriter, readEliasGamma, writeEliasGamma } from "@qoda/ring/coding";
 * const w = new BitWriter(new Uint8Array(8));
 * writeEliasGamma(w, 1000);
 * if (readEliasGamma(new BitReader(w.finish())) !== 1000) throw new Error("wrong");
 * ```
 */
export function writeEliasGamma(w: BitWriter, n: number): void {
  checkN(n);
  const l = floorLog2(n);
  if (l > 0) w.write(0, l);
  w.write(reverseBits(n, l + 1), l + 1);
}

/**
 * Reads one Elias gamma code.
 *
 * @param r The source stream.
 * @returns The decoded integer.
 * @throws {FrameError} On a prefix of more than 31 zeros or a truncated code.
 */
export function readEliasGamma(r: BitReader): number {
  let zeros = 0;
  while (r.readBit() === 0) {
    if (++zeros > 31) {
      throw new FrameError("malformed Elias gamma code: prefix of more than 31 zeros");
    }
  }
  if (zeros === 0) return 1;
  return 2 ** zeros + reverseBits(r.read(zeros), zeros);
}

function writeOmegaGroups(w: BitWriter, n: number): void {
  if (n <= 1) return;
  const l = floorLog2(n);
  writeOmegaGroups(w, l);
  w.write(reverseBits(n, l + 1), l + 1);
}

/**
 * Writes the Elias omega code of `n`: recursive length groups, then a 0.
 *
 * @param w The destination stream.
 * @param n An integer in 1..2^32−1.
 *
 * @example Omega round trip
 * ```ts
 * import { BitReader, BitWriter, readEliasOmega, writeEliasOmega } from "@qoda/ring/coding";
 * const w = new BitWriter(new Uint8Array(8));
 * writeEliasOmega(w, 1000);
 * if (readEliasOmega(new BitReader(w.finish())) !== 1000) throw new Error("wrong");
 * ```
 */
export function writeEliasOmega(w: BitWriter, n: number): void {
  checkN(n);
  writeOmegaGroups(w, n);
  w.writeBit(0);
}

/**
 * Reads one Elias omega code.
 *
 * @param r The source stream.
 * @returns The decoded integer.
 * @throws {FrameError} When the value would exceed 32 bits or the code is truncated.
 */
export function readEliasOmega(r: BitReader): number {
  let n = 1;
  while (r.readBit() === 1) {
    // The group is a 1 followed by n more bits: n + 1 bits in all.
    if (n >= 32) throw new FrameError("malformed Elias omega code: value exceeds 32 bits");
    n = 2 ** n + reverseBits(r.read(n), n);
  }
  return n;
}
