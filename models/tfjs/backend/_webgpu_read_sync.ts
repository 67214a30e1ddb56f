/**
 * Synchronous reads (`dataSync()`, `arraySync()`) on the tfjs webgpu backend under Deno.
 *
 * tfjs-backend-webgpu implements `readSync` by drawing the GPU buffer onto an `OffscreenCanvas`
 * and reading its pixels back; Deno has no `OffscreenCanvas`, so every `dataSync()` on webgpu
 * throws there. The WGAN operator, `evaluate` and the MNIST scorer read synchronously (a
 * problem worker's `operator` is synchronous), so without this nothing but the benchmarks'
 * `await data()` would run on webgpu.
 *
 * The replacement copies the tensor's buffer into a staging buffer and maps it. Deno's
 * `GPUBuffer.mapAsync` starts the mapping and, in the same call, blocks in
 * `device.poll(wait)` until the copy is done; so the mapped range can be read before the
 * promise settles, without returning to the event loop. Deno 2.9's `getMappedRange` needs the
 * buffer to have completed one `mapAsync` in READ mode before (it remembers the mode from the
 * first completed mapping), so each device gets one staging buffer, primed once asynchronously
 * by {@linkcode installSyncRead}, and larger tensors are read through it in chunks. Should the
 * range not be mapped at once, `queue.submit([])` (which lets wgpu retire finished work and run
 * map callbacks) is repeated, with short sleeps, up to a deadline.
 *
 * @module
 */

/** `GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST`. */
const STAGING_USAGE = 0x0001 | 0x0008;
/** `GPUMapMode.READ`. */
const MAP_READ = 0x0001;

/** Bytes read per chunk: the staging buffer's size (smaller when the device's limit is lower). */
export const SYNC_READ_CHUNK_BYTES = 16 << 20;

/** How long one chunk may take to map before the read fails. */
const MAP_DEADLINE_MS = 120_000;

/** The parts of a GPUBuffer this module uses. */
interface GpuBufferLike {
  readonly size: number;
  mapAsync(mode: number, offset?: number, size?: number): Promise<void>;
  getMappedRange(offset?: number, size?: number): ArrayBuffer;
  unmap(): void;
}

/** The parts of a GPUDevice this module uses. */
interface GpuDeviceLike {
  readonly limits?: { readonly maxBufferSize?: number };
  readonly queue: { submit(buffers: unknown[]): void };
  createBuffer(descriptor: { size: number; usage: number; label?: string }): GpuBufferLike;
}

/** One entry of the webgpu backend's tensor map. */
interface TensorDataLike {
  values: unknown;
  dtype: string;
  resource?: unknown;
  complexTensorInfos?: unknown;
}

/** The parts of tfjs-backend-webgpu's `WebGPUBackend` this module uses (4.22). */
interface WebGpuBackendLike {
  device: GpuDeviceLike;
  commandEncoder: {
    copyBufferToBuffer(
      src: unknown,
      srcOffset: number,
      dst: unknown,
      dstOffset: number,
      n: number,
    ): void;
  } | null;
  tensorMap: { get(dataId: object): TensorDataLike | undefined };
  readSync(dataId: object): unknown;
  convertAndCacheOnCPU(dataId: object, values: unknown): unknown;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/** The conversion tfjs's own readSync ends with (`tf.util.convertBackendValuesAndArrayBuffer`). */
type Convert = (data: ArrayBuffer, dtype: string) => unknown;

const installed = new WeakSet<object>();

function isWebGpuBackend(b: unknown): b is WebGpuBackendLike {
  const x = b as Partial<WebGpuBackendLike> | null;
  return typeof x === "object" && x !== null && typeof x.device?.createBuffer === "function" &&
    typeof x.tensorMap?.get === "function" && typeof x.submitQueue === "function" &&
    typeof x.ensureCommandEncoderReady === "function" &&
    typeof x.endComputePassEncoder === "function" &&
    typeof x.convertAndCacheOnCPU === "function";
}

/** Sleeps synchronously (the main thread may block in `Atomics.wait` under Deno). */
function sleepSync(ms: number, cell: Int32Array): void {
  Atomics.wait(cell, 0, 0, ms);
}

/**
 * Replaces `backend.readSync` with a staging-buffer read (see the module doc). Idempotent.
 *
 * @param backend The webgpu backend instance (`tf.backend()` once webgpu is active).
 * @param convert `tf.util.convertBackendValuesAndArrayBuffer`.
 * @returns false when `backend` does not look like tfjs-backend-webgpu 4.x's backend (then
 *   nothing was changed), true once synchronous reads are installed.
 */
export async function installSyncRead(backend: unknown, convert: Convert): Promise<boolean> {
  if (!isWebGpuBackend(backend)) return false;
  if (installed.has(backend)) return true;
  const device = backend.device;
  const limit = device.limits?.maxBufferSize ?? SYNC_READ_CHUNK_BYTES;
  const chunk = Math.max(4, Math.min(SYNC_READ_CHUNK_BYTES, limit) & ~3);
  const staging = device.createBuffer({
    size: chunk,
    usage: STAGING_USAGE,
    label: "qoda sync-read staging",
  });
  // Prime: one completed mapping in READ mode (see the module doc).
  await staging.mapAsync(MAP_READ, 0, chunk);
  staging.unmap();
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const original = backend.readSync.bind(backend);

  const readChunk = (src: unknown, offset: number, n: number, into: Uint8Array) => {
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    backend.commandEncoder!.copyBufferToBuffer(src, offset, staging, 0, n);
    backend.submitQueue();
    // Settles later, on the event loop; its outcome is what getMappedRange finds below.
    staging.mapAsync(MAP_READ, 0, n).catch(() => {});
    const deadline = performance.now() + MAP_DEADLINE_MS;
    let pause = 0.01, lastError: unknown;
    for (;;) {
      try {
        into.set(new Uint8Array(staging.getMappedRange(0, n)), offset);
        break;
      } catch (err) {
        lastError = err;
      }
      if (performance.now() > deadline) {
        throw new Error(
          `webgpu synchronous read: the staging buffer was not mapped within ` +
            `${MAP_DEADLINE_MS / 1000} s (${
              lastError instanceof Error ? lastError.message : String(lastError)
            }); use await tensor.data() instead`,
        );
      }
      device.queue.submit([]);
      sleepSync(pause, cell);
      pause = Math.min(1, pause * 2);
    }
    staging.unmap();
  };

  backend.readSync = (dataId: object) => {
    const data = backend.tensorMap.get(dataId);
    const buffer = data?.resource as GpuBufferLike | undefined;
    if (
      data === undefined || data.values != null || data.dtype === "string" ||
      data.dtype === "complex64" || typeof buffer?.size !== "number"
    ) {
      return original(dataId); // cached on the CPU, a string, or complex (reads its parts)
    }
    const bytes = new Uint8Array(buffer.size);
    for (let offset = 0; offset < buffer.size; offset += chunk) {
      readChunk(buffer, offset, Math.min(chunk, buffer.size - offset), bytes);
    }
    return backend.convertAndCacheOnCPU(dataId, convert(bytes.buffer, data.dtype));
  };
  installed.add(backend);
  return true;
}
