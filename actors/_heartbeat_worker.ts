/**
 * A worker process's heartbeat, on a thread of its own: a Web Worker that
 * opens its own authenticated control connection to the supervisor, says
 * which worker it beats for (`beat`), then sends a heartbeat every period,
 * whatever the worker's main thread is busy with (a long synchronous step,
 * building its problem). Messages in: `{ join, secret, pid, name, periodMs }`
 * once; the worker ends it with `terminate()`.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { joinControl } from "./control.ts";

self.onmessage = async (e: MessageEvent) => {
  const { join, secret, pid, name, periodMs } = e.data as {
    join: string;
    secret: Uint8Array | null;
    pid: number;
    name: string;
    periodMs: number;
  };
  try {
    const ch = await joinControl(join, secret);
    await ch.send("beat", { pid, name });
    setInterval(() => {
      ch.sendWire({ type: "heartbeat", epoch: 0, rank: 0, timeMs: Date.now() }).catch(() => {});
    }, periodMs);
  } catch {
    // The main thread's own heartbeats remain; the supervisor judges by both.
  }
};
