// Helpers shared by the kernel tests: the quantize kernel to run, and level
// tables shaped like adapted ones.
import { setNativeKernel } from "../../runtime/kernels/native.ts";
import type { Rng } from "../../runtime/rng.ts";

/** Runs `f` with the native quantize kernel turned on or off, then restores the setting. */
export function withNative<T>(on: boolean, f: () => T): T {
  const was = setNativeKernel(on);
  try {
    return f();
  } finally {
    setNativeKernel(was);
  }
}

/** `nlev` levels 0 < … < 1, crowded near 0 as adapted levels are (nlev ≥ 2). */
export function skewedLevels(nlev: number, rng: Rng): Float32Array {
  const inner = new Set<number>();
  while (inner.size < nlev - 2) {
    const x = Math.fround(rng.nextFloat() ** 3);
    if (x > 0 && x < 1) inner.add(x);
  }
  return Float32Array.from([0, ...[...inner].sort((a, b) => a - b), 1]);
}
