// Run by backend_test.ts as a subprocess: a Web Worker initialises the `auto` backend, is
// terminated, and the process exits at once, as a supervisor does with its evaluator. Where
// that Worker had started WebGPU, Deno 2.9.6 crashed at exit in about one run in ten (wgpu's
// EGL teardown, exit 134 or 139). Prints the Worker's { name, auto } as one JSON line.
const worker = new Worker(new URL("./_auto_in_worker.ts", import.meta.url), { type: "module" });
const got = await new Promise((resolve, reject) => {
  worker.onmessage = (e) => resolve(e.data);
  worker.onerror = (e) => reject(new Error(e.message));
  worker.postMessage({});
});
console.log(JSON.stringify(got));
worker.terminate();
Deno.exit(0);
