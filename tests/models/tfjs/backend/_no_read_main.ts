// Run by backend_test.ts in a subprocess WITHOUT --allow-read, where the wasm backend cannot
// read its .wasm file. Prints one JSON line with what initBackend did.
import { initBackend } from "../../../../models/tfjs/backend/mod.ts";
import * as tf from "@tensorflow/tfjs";

await initBackend("cpu");
let explicitError = "";
try {
  await initBackend("wasm");
} catch (err) {
  explicitError = `${(err as Error).name}: ${(err as Error).message}`;
}
const afterExplicit = tf.getBackend();
const auto = await initBackend("auto");
console.log(JSON.stringify({ explicitError, afterExplicit, auto: auto.name, tried: auto.tried }));
