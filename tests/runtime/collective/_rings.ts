// What the collective tests share: an in-memory ring and normal inputs per rank.
import { RingContext } from "../../../runtime/collective/context.ts";
import { Rng } from "../../../runtime/rng.ts";
import type { Link } from "../../../runtime/transport/link.ts";
import { memoryRing } from "../../../runtime/transport/memory.ts";

/** A ring of `size` contexts over in-memory links. */
export function ring(size: number, timeoutMs = 30_000): RingContext[] {
  return memoryRing(size).map((l, rank) => new RingContext({ rank, size, timeoutMs, ...l }));
}

/** One vector of `n` normal values (σ 3) per rank, from `seed`. */
export function inputs(size: number, n: number, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: size }, () => new Float32Array(n).map(() => rng.normal() * 3));
}

/** A link whose sends pass through `tamper` (a hostile or broken peer). */
export function tampered(link: Link, tamper: (m: Parameters<Link["send"]>[0]) => void): Link {
  return {
    peer: link.peer,
    send: (m) => {
      tamper(m);
      return link.send(m);
    },
    receive: () => link.receive(),
    closeWrite: () => link.closeWrite(),
    close: () => link.close(),
  };
}
