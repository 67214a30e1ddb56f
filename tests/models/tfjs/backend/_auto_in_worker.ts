// A Web Worker for backend_test.ts: runs initBackend("auto") in a Worker's thread and posts
// { name, auto } back.
/// <reference lib="deno.worker" />
import { initBackend } from "../../../../models/tfjs/backend/mod.ts";

self.onmessage = async () => {
  const info = await initBackend("auto");
  self.postMessage({ name: info.name, auto: info.auto });
};
