/**
 * Commits: everything needed to resume a run bit-exactly, written atomically
 * (a temporary file, then a rename, so a crash leaves the previous commit or
 * the new one, never half of either).
 *
 * Typed arrays are stored as base64 of their bytes (JSON numbers would lose
 * −0 and NaN payloads), tagged with their type.
 *
 * @module
 */

const TYPED = {
  Float32Array,
  Float64Array,
  Uint8Array,
  Uint16Array,
  Uint32Array,
  Int32Array,
} as const;
type TypedName = keyof typeof TYPED;

/**
 * Serializes a value that may hold typed arrays and bigints, losslessly.
 *
 * @example
 * ```ts
 * import { decodeCommit, encodeCommit } from "./commit.ts";
 * const back = decodeCommit(encodeCommit({ x: new Float32Array([-0, 1.5]), id: 7n })) as {
 *   x: Float32Array;
 *   id: bigint;
 * };
 * if (!Object.is(back.x[0], -0) || back.id !== 7n) throw new Error();
 * ```
 */
export function encodeCommit(value: unknown): string {
  return JSON.stringify(value, function (key, v) {
    const raw = (this as Record<string, unknown>)[key];
    if (ArrayBuffer.isView(raw) && !(raw instanceof DataView)) {
      const name = raw.constructor.name as TypedName;
      if (!(name in TYPED)) throw new TypeError(`cannot commit a ${name}`);
      return {
        $typed: name,
        b64: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength).toBase64(),
      };
    }
    if (typeof v === "bigint") return { $bigint: v.toString() };
    return v;
  });
}

/** The inverse of {@linkcode encodeCommit}. */
export function decodeCommit(text: string): unknown {
  return JSON.parse(text, (_key, v) => {
    if (v && typeof v === "object" && typeof v.$typed === "string") {
      const Ctor = TYPED[v.$typed as TypedName];
      if (!Ctor) throw new TypeError(`unknown typed array '${v.$typed}' in commit`);
      const bytes = Uint8Array.fromBase64(v.b64);
      return new Ctor(bytes.buffer, 0, bytes.byteLength / Ctor.BYTES_PER_ELEMENT);
    }
    if (v && typeof v === "object" && typeof v.$bigint === "string") return BigInt(v.$bigint);
    return v;
  });
}

/** Writes `dir/commit.json` atomically (temporary file + rename). Returns the path. */
export async function writeCommit(dir: string, value: unknown): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/commit.json`, tmp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(tmp, encodeCommit(value));
  await Deno.rename(tmp, path);
  return path;
}

/** Reads `dir/commit.json`. */
export async function readCommit(dir: string): Promise<unknown> {
  return decodeCommit(await Deno.readTextFile(`${dir}/commit.json`));
}
