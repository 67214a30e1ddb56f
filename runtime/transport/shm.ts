/**
 * Shared memory between two ring neighbours on one host: the sender's
 * {@linkcode ShmRegion}, a file in `/dev/shm` mapped by both processes, holds
 * a few slots; a chunk's payload is copied into a free slot and the TCP frame
 * carries only its head and the slot's number (`ChunkMessage.shm`), so the
 * bytes cross no socket: one copy in the sender instead of a copy into the
 * kernel and one out of it, and the receiver reads them in place.
 *
 * Each slot has a flag in the region's header: the sender sets it before the
 * frame that names the slot goes out, the receiver clears it once it has
 * released the payload, and the sender reuses a slot only after that. The TCP
 * frame (a system call on both sides) orders the payload's bytes before the
 * receiver reads them.
 *
 * The mapping is made with `mmap` through Deno's FFI (`Deno.dlopen` of libc,
 * Linux only) and only where this process already has the FFI permission;
 * elsewhere {@linkcode ShmRegion.create} returns null and the ring stays on
 * TCP alone. A region is offered and accepted while the ring forms
 * (`negotiateSharedMemory` in `tcp.ts`); the receiver proves it maps the same
 * memory by reading the random token the sender wrote, so two hosts never
 * take each other's file for shared memory.
 *
 * The region's pages are reserved when it is made (`posix_fallocate`), so a
 * full `/dev/shm` (Docker's is 64 MiB) means TCP for that link, never a
 * SIGBUS later.
 *
 * A retired region is not unmapped but replaced by private zero pages
 * (`MAP_FIXED`): a payload view that outlives its ring then reads zeros
 * instead of crashing the process, and the shared pages are freed.
 *
 * @module
 */

/** The region's header: magic, version, slots, slot size, token; then one flag per slot. */
const HEADER_BYTES = 4096;
/** "QDSH", little-endian. */
const MAGIC = 0x48534451;
const VERSION = 1;
const TOKEN_BYTES = 16;
/** Most slots a region may have (their flags fit the header). */
export const MAX_SHM_SLOTS = (HEADER_BYTES - 64) / 4;

/** What a sender tells its right neighbour about its region (JSON in a control frame). */
export interface ShmOffer {
  /** The file's path. */
  path: string;
  /** Number of slots. */
  slots: number;
  /** Bytes per slot. */
  slotBytes: number;
  /** The random token at the region's start, hex. */
  token: string;
}

const O_RDWR = 0o2, O_CREAT = 0o100, O_EXCL = 0o200, O_CLOEXEC = 0o2000000;
const PROT_RW = 3, MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20;
const SEEK_END = 2;

const LIBC_SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  posix_fallocate: { parameters: ["i32", "i64", "i64"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  close: { parameters: ["i32"], result: "i32" },
  unlink: { parameters: ["buffer"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let libc: Libc | null | undefined;

/**
 * libc's functions, or null where shared memory cannot be used: not Linux,
 * no `Deno.dlopen`, or no FFI permission (asked without a prompt).
 */
function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  try {
    if (Deno.build.os !== "linux" || typeof Deno.dlopen !== "function") return null;
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
  } catch {
    libc = null;
  }
  return libc;
}

/** True where this process can map shared memory (Linux, FFI permission granted). */
export function sharedMemoryAvailable(): boolean {
  return loadLibc() !== null;
}

const cString = (s: string) => new TextEncoder().encode(s + "\0");

function isMapFailed(p: Deno.PointerValue): boolean {
  return p === null || BigInt(Deno.UnsafePointer.value(p)) === 0xffff_ffff_ffff_ffffn;
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * What is wrong with a region's shape, or null: it needs 1..{@linkcode MAX_SHM_SLOTS} slots
 * of a positive multiple of 64 bytes.
 */
function shapeError(slots: number, slotBytes: number): string | null {
  if (!Number.isInteger(slots) || slots < 1 || slots > MAX_SHM_SLOTS) {
    return `slots must be an integer in 1..${MAX_SHM_SLOTS}, got ${slots}`;
  }
  if (!Number.isInteger(slotBytes) || slotBytes < 64 || slotBytes % 64 !== 0) {
    return `slotBytes must be a positive multiple of 64, got ${slotBytes}`;
  }
  return null;
}

/** Maps `size` bytes of the open file `fd`; the caller closes `fd`. */
function mapShared(c: Libc, fd: number, size: number, what: string): Deno.PointerObject {
  const p = c.mmap(null, BigInt(size), PROT_RW, MAP_SHARED, fd, 0n);
  if (isMapFailed(p)) throw new Error(`${what}: mmap of ${size} bytes failed`);
  return p!;
}

/**
 * A region of shared memory with `slots` payload slots (see the module doc).
 *
 * @example The sender's region, mapped a second time as its neighbour maps it
 * ```ts
 * import { ShmRegion } from "@qoda/ring/transport";
 * const tx = ShmRegion.create(2, 4096); // null without Linux and the FFI permission
 * if (tx) {
 *   const rx = ShmRegion.open(tx.offer()); // checks the file and its token
 *   tx.unlink(); // the mappings stay
 *   tx.slot(1).set([1, 2, 3]);
 *   Atomics.store(tx.flags, 1, 1);
 *   if (rx.slot(1)[2] !== 3 || Atomics.load(rx.flags, 1) !== 1) throw new Error("not shared");
 *   rx.retire();
 *   tx.retire();
 * }
 * ```
 */
export class ShmRegion {
  /** The file in /dev/shm (removed once the peer has mapped it or declined). */
  readonly path: string;
  /** Number of slots. */
  readonly slots: number;
  /** Bytes per slot (a multiple of 64). */
  readonly slotBytes: number;
  /** One flag per slot: 1 while a frame names it and the receiver holds it. */
  readonly flags: Int32Array;
  readonly #ptr: Deno.PointerObject;
  readonly #size: number;
  readonly #bytes: Uint8Array;
  #retired = false;

  private constructor(path: string, slots: number, slotBytes: number, ptr: Deno.PointerObject) {
    this.path = path;
    this.slots = slots;
    this.slotBytes = slotBytes;
    this.#ptr = ptr;
    this.#size = HEADER_BYTES + slots * slotBytes;
    const buf = Deno.UnsafePointerView.getArrayBuffer(ptr, this.#size);
    this.#bytes = new Uint8Array(buf);
    this.flags = new Int32Array(buf, 64, slots);
  }

  /**
   * Creates and maps a new region (the sender's), or returns null where
   * shared memory is not available ({@linkcode sharedMemoryAvailable}) or
   * the file cannot be made.
   *
   * @param slots Number of slots, 1..{@linkcode MAX_SHM_SLOTS}.
   * @param slotBytes Bytes per slot, a positive multiple of 64.
   * @param dir Folder of the file. @default {"/dev/shm"}
   */
  static create(slots: number, slotBytes: number, dir = "/dev/shm"): ShmRegion | null {
    const wrong = shapeError(slots, slotBytes);
    if (wrong) throw new RangeError(wrong);
    const c = loadLibc();
    if (!c) return null;
    const token = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES));
    const path = `${dir}/qoda-ring-${Deno.pid}-${toHex(token.subarray(0, 6))}`;
    const size = HEADER_BYTES + slots * slotBytes;
    const fd = c.open(cString(path), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600);
    if (fd < 0) return null;
    let ptr: Deno.PointerObject;
    try {
      // Reserved now: a tmpfs that fills up later (Docker's /dev/shm is 64 MiB) would
      // otherwise kill the process with SIGBUS at the first write to a page it lacks.
      if (c.posix_fallocate(fd, 0n, BigInt(size)) !== 0) {
        throw new Error(`no room for ${size} bytes in ${dir}`);
      }
      ptr = mapShared(c, fd, size, path);
    } catch {
      c.close(fd);
      c.unlink(cString(path));
      return null;
    }
    c.close(fd);
    const r = new ShmRegion(path, slots, slotBytes, ptr);
    const v = new DataView(r.#bytes.buffer, 0, 64);
    v.setUint32(0, MAGIC, true);
    v.setUint32(4, VERSION, true);
    v.setUint32(8, slots, true);
    v.setUint32(12, slotBytes, true);
    r.#bytes.set(token, 16);
    return r;
  }

  /**
   * Maps the region a neighbour offered (the receiver's side) and checks it:
   * the file's size, the header, and the token, which only the same memory
   * holds.
   *
   * @throws {Error} Naming what did not match (the caller declines the offer).
   */
  static open(offer: ShmOffer): ShmRegion {
    const c = loadLibc();
    if (!c) throw new Error("shared memory is not available in this process");
    const { path, slots, slotBytes, token } = offer;
    if (
      typeof path !== "string" || !/^\/dev\/shm\/qoda-ring-[0-9]+-[0-9a-f]{12}$/.test(path) ||
      shapeError(slots, slotBytes) !== null ||
      typeof token !== "string" || !/^[0-9a-f]{32}$/.test(token)
    ) {
      throw new Error(`malformed shared-memory offer ${JSON.stringify(offer).slice(0, 200)}`);
    }
    const size = HEADER_BYTES + slots * slotBytes;
    const fd = c.open(cString(path), O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) throw new Error(`cannot open ${path} (another host?)`);
    let ptr: Deno.PointerObject;
    try {
      const have = Number(c.lseek(fd, 0n, SEEK_END));
      if (have !== size) throw new Error(`${path} has ${have} bytes, the offer says ${size}`);
      ptr = mapShared(c, fd, size, path);
    } finally {
      c.close(fd);
    }
    const r = new ShmRegion(path, slots, slotBytes, ptr);
    const v = new DataView(r.#bytes.buffer, 0, 64);
    const ok = v.getUint32(0, true) === MAGIC && v.getUint32(4, true) === VERSION &&
      v.getUint32(8, true) === slots && v.getUint32(12, true) === slotBytes &&
      toHex(r.#bytes.subarray(16, 16 + TOKEN_BYTES)) === token;
    if (!ok) {
      r.retire();
      throw new Error(`${path} does not hold the offered region (another host's file?)`);
    }
    return r;
  }

  /** What the sender tells its neighbour. */
  offer(): ShmOffer {
    return {
      path: this.path,
      slots: this.slots,
      slotBytes: this.slotBytes,
      token: toHex(this.#bytes.subarray(16, 16 + TOKEN_BYTES)),
    };
  }

  /** Slot `k`'s bytes (all `slotBytes` of them). */
  slot(k: number): Uint8Array {
    if (this.#retired) throw new Error(`shared-memory region ${this.path} is retired`);
    return this.#bytes.subarray(
      HEADER_BYTES + k * this.slotBytes,
      HEADER_BYTES + (k + 1) * this.slotBytes,
    );
  }

  /** True once {@linkcode ShmRegion.retire} ran. */
  get retired(): boolean {
    return this.#retired;
  }

  /** Removes the file; the mappings stay (the sender calls it once the peer answered). */
  unlink(): void {
    loadLibc()?.unlink(cString(this.path));
  }

  /**
   * Gives the shared pages back: the range is remapped to private zero pages,
   * so views that still exist read zeros. Idempotent.
   */
  retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    const c = loadLibc()!;
    c.mmap(this.#ptr, BigInt(this.#size), PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0n);
  }
}
