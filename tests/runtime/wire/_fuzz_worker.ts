/**
 * Worker entry: runs {@linkcode runDecodeFuzz} on the seed it is sent and
 * posts the result back.
 *
 * @module
 */

import { runDecodeFuzz } from "./_fuzz.ts";

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<number>) => void) | null;
  postMessage(data: unknown): void;
};
scope.onmessage = (e) => scope.postMessage(runDecodeFuzz(e.data));
