// The native quantize kernel against its definition (quant_native.c): the
// library built by `deno task build:native` when there is one, else built
// here into a temporary folder; ignored, saying why, on machines that cannot
// build or run it (not x86-64, no C compiler, no AVX-512).
import assert from "node:assert/strict";
import { kernels } from "../../../runtime/kernels/kernels.ts";
import {
  nativeKernelStatus,
  NativeQuantKernel,
  nativeQuantKernel,
  setNativeKernel,
} from "../../../runtime/kernels/native.ts";
import { findInterval, signMagnitudeVariance } from "../../../runtime/quant/sign_magnitude.ts";
import { Rng } from "../../../runtime/rng.ts";
import { skewedLevels, withNative } from "../../_support/kernels.ts";

const ROOT = new URL("../../../", import.meta.url);

/** The process's kernel, or one built for this test; else why not. */
async function obtain(): Promise<NativeQuantKernel | string> {
  const k = nativeQuantKernel();
  if (k) return k;
  const dir = await Deno.makeTempDir({ prefix: "qoda-native-" });
  const path = `${dir}/quant_native.so`;
  const build = await new Deno.Command("bash", {
    args: ["scripts/build_native.sh", path],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!build.success) return new TextDecoder().decode(build.stderr).trim();
  try {
    return new NativeQuantKernel(path);
  } catch (e) {
    return (e as Error).message;
  }
}

const got = await obtain();
const K = typeof got === "string" ? null : got;
if (!K) console.log(`native kernel tests ignored: ${got}`);
const ignore = K === null;

/**
 * Heavy-tailed values with zero runs, a bucket of denormals (whose 1/norm
 * overflows) and values that sit exactly on a level.
 */
function data(n: number, bucket: number, levels: Float32Array, rng: Rng): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = i % 300 < 30 ? 0 : rng.normal() ** 3;
  if (n > 2 * bucket) {
    for (let i = bucket; i < 2 * bucket; i++) v[i] = i % 3 === 0 ? 0 : 1e-44 * (i % 7);
  }
  if (n >= 4) v[n - 1] = -levels[levels.length >> 1]; // on a level once normalized by itself
  return v;
}

/** The JavaScript reading of the definition, coordinate by coordinate. */
function check(
  what: string,
  v: Float32Array,
  bucket: number,
  kind: 0 | 2,
  levels: Float32Array,
  norms: Float32Array,
  codes: Uint16Array,
  r: { sqError: number; sqNorm: number; badBucket: number },
  hist: Float64Array,
): void {
  assert.equal(r.badBucket, -1, what);
  const hb = hist.length, want = new Float64Array(hb);
  let sqError = 0, sqNorm = 0;
  for (let b0 = 0, bi = 0; b0 < v.length; b0 += bucket, bi++) {
    const end = Math.min(v.length, b0 + bucket);
    let s = 0, m = 0;
    for (let i = b0; i < end; i++) {
      s += v[i] * v[i];
      m = Math.max(m, Math.abs(v[i]));
    }
    sqNorm += s;
    const norm = kind === 2 ? Math.fround(Math.sqrt(s)) : Math.fround(m);
    // Squares summed in float32 lanes: within 2^-18 of the float64 norm.
    const tol = kind === 2 ? 4e-6 * norm : 0;
    assert.ok(Math.abs(norms[bi] - norm) <= tol, `${what}: norm ${bi}: ${norms[bi]} vs ${norm}`);
    const nb = norms[bi], inv = Math.fround(1 / nb);
    for (let i = b0; i < end; i++) {
      const c = codes[i], k = c >> 1, ax = Math.abs(v[i]);
      if (nb === 0) {
        assert.equal(c, 0, `${what}: zero bucket, coordinate ${i}`);
        continue;
      }
      let u = Math.fround(ax * inv);
      if (u > 1) u = 1;
      if ((i - b0) % 8 === 0) {
        const t = Math.fround(u * hb);
        want[t < hb ? Math.floor(t) : t === t ? hb - 1 : 0]++;
      }
      if (u !== u) {
        assert.equal(c, 0, `${what}: x = 0 with 1/norm overflowed, coordinate ${i}`);
        continue;
      }
      const j = findInterval(levels, u);
      const ok = u === levels[j] ? k === j : k === j || k === j + 1;
      assert.ok(ok, `${what}: coordinate ${i}: u ${u} in [${j}, ${j + 1}], code ${c}`);
      if (k === 0) assert.equal(c, 0, `${what}: index 0 carries no sign, coordinate ${i}`);
      else assert.equal(c & 1, v[i] < 0 ? 1 : 0, `${what}: sign of coordinate ${i}`);
      sqError += (Math.fround(nb * levels[k]) - ax) ** 2;
    }
  }
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-5 * Math.max(b, 1e-30);
  assert.ok(close(r.sqError, sqError), `${what}: sqError ${r.sqError} vs ${sqError}`);
  assert.ok(close(r.sqNorm, sqNorm), `${what}: sqNorm ${r.sqNorm} vs ${sqNorm}`);
  assert.deepEqual(hist, want, `${what}: level statistics`);
}

Deno.test({
  name: "the native kernel follows the definition: interval, sign, zero buckets, sums, statistics",
  ignore,
  fn: () => {
    const rng = new Rng(11);
    let cases = 0;
    for (const nlev of [2, 3, 4, 5, 8, 12, 16]) {
      const levels = nlev === 2 ? Float32Array.from([0, 1]) : skewedLevels(nlev, rng);
      for (const bucket of [16, 48, 1024]) {
        for (const n of [1, 15, 16, 17, 63, 64, 65, 1000, 5003]) {
          const v = data(n, bucket, levels, rng);
          for (const kind of [2, 0] as const) {
            const what = `nlev ${nlev}, bucket ${bucket}, n ${n}, kind ${kind}`;
            const nb = Math.ceil(n / bucket);
            const norms = new Float32Array(nb), codes = new Uint16Array(n).fill(0xffff);
            const hist = new Float64Array(64);
            const r = K!.quantize(v, bucket, kind, levels, n, 7, norms, codes, null, 16, hist);
            check(what, v, bucket, kind, levels, norms, codes, r, hist);
            cases++;
          }
        }
      }
    }
    assert.equal(cases, 7 * 3 * 9 * 2);
  },
});

Deno.test({
  name: "the native kernel packs 4- and 8-bit codes as packFixed() does, with the same draws",
  ignore,
  fn: () => {
    const rng = new Rng(12);
    for (const [nlev, bits] of [[8, 4], [5, 4], [16, 8], [3, 8]]) {
      const levels = skewedLevels(nlev, rng);
      for (const n of [1, 17, 64, 1000, 4097]) {
        const v = data(n, 1024, levels, rng);
        const nb = Math.ceil(n / 1024), what = `nlev ${nlev}, bits ${bits}, n ${n}`;
        const norms = new Float32Array(nb), codes = new Uint16Array(n);
        const a = K!.quantize(v, 1024, 2, levels, 3, 4, norms, codes, null, 16, null);
        const want = new Uint8Array(Math.ceil((n * bits) / 8));
        kernels().packFixed(codes, bits, want);
        const packed = new Uint8Array(want.length + 2).fill(0xee);
        const b = K!.quantize(
          v,
          1024,
          2,
          levels,
          3,
          4,
          new Float32Array(nb),
          null,
          packed.subarray(1),
          bits,
          null,
        );
        assert.deepEqual(packed.subarray(1, 1 + want.length), want, what);
        assert.equal(packed[0], 0xee, what);
        assert.equal(packed[want.length + 1], 0xee, `${what}: wrote past the end`);
        assert.deepEqual(b, a, what);
      }
    }
  },
});

Deno.test({
  name: "the native kernel is unbiased, with the variance of sign-magnitude rounding",
  ignore,
  fn: () => {
    const rng = new Rng(13);
    const n = 4096, bucket = 1024, draws = 400;
    const levels = skewedLevels(8, rng);
    const v = data(n, bucket, levels, rng).subarray(0, n);
    const norms = new Float32Array(n / bucket), codes = new Uint16Array(n);
    const sum = new Float64Array(n);
    let sq = 0;
    for (let d = 0; d < draws; d++) {
      K!.quantize(v, bucket, 2, levels, d, 99, norms, codes, null, 16, null);
      for (let i = 0; i < n; i++) {
        const q = (codes[i] & 1 ? -1 : 1) *
          Math.fround(norms[(i / bucket) | 0] * levels[codes[i] >> 1]);
        sum[i] += q - v[i];
        sq += (q - v[i]) ** 2;
      }
    }
    const { expected } = signMagnitudeVariance(v, levels, bucket, 2, "x");
    // The mean error of a coordinate over the draws has variance σ_i²/draws:
    // summed over coordinates, ‖mean − v‖²·draws/E‖Q(v) − v‖² is about 1.
    let bias = 0;
    for (let i = 0; i < n; i++) bias += (sum[i] / draws) ** 2;
    const ratio = bias * draws / expected;
    assert.ok(ratio > 0.7 && ratio < 1.3, `bias ratio ${ratio}`);
    assert.ok(Math.abs(sq / draws / expected - 1) < 0.05, `variance ${sq / draws} vs ${expected}`);
  },
});

Deno.test({
  name: "the native kernel is deterministic for a seed, and its streams differ between seeds",
  ignore,
  fn: () => {
    const rng = new Rng(14);
    const levels = skewedLevels(8, rng);
    const v = data(8192, 1024, levels, rng);
    const run = (a: number, b: number) => {
      const codes = new Uint16Array(v.length);
      K!.quantize(v, 1024, 2, levels, a, b, new Float32Array(8), codes, null, 16, null);
      return codes;
    };
    assert.deepEqual(run(1, 2), run(1, 2));
    for (const [a, b] of [[1, 3], [2, 2]]) {
      const x = run(1, 2), y = run(a, b);
      let same = 0;
      for (let i = 0; i < x.length; i++) same += x[i] === y[i] ? 1 : 0;
      assert.ok(same < 0.95 * x.length, `seeds (1, 2) and (${a}, ${b}) give ${same} equal codes`);
    }
  },
});

Deno.test({
  name: "the native kernel names a non-finite bucket, and refuses arguments it does not take",
  ignore,
  fn: () => {
    const levels = Float32Array.from([0, 0.25, 0.5, 1]);
    for (const bad of [NaN, Infinity, -Infinity]) {
      const v = new Float32Array(4096).fill(0.5);
      v[2100] = bad;
      const hist = new Float64Array(8);
      const r = K!.quantize(
        v,
        1024,
        2,
        levels,
        1,
        1,
        new Float32Array(4),
        new Uint16Array(4096),
        null,
        16,
        hist,
      );
      assert.equal(r.badBucket, 2, String(bad));
      assert.ok(Number.isNaN(r.sqError), String(bad));
      assert.deepEqual(hist, new Float64Array(8), `${bad}: statistics untouched`);
    }
    const v = new Float32Array(100);
    const args = [new Float32Array(13), new Uint16Array(100), null, 16, null] as const;
    assert.throws(() => K!.quantize(v, 10, 2, levels, 1, 1, ...args), /bucket 10/);
    assert.throws(
      () => K!.quantize(v, 16, 2, new Float32Array(17), 1, 1, ...args),
      /17 levels/,
    );
  },
});

Deno.test({
  name: "the native grid hop gives the WebAssembly kernel's lanes, sums, draws and first fault",
  ignore,
  fn: () => {
    const rng = new Rng(15);
    const top = 7;
    const bitsFor = (max: number) => Math.max(1, Math.ceil(Math.log2(max + 1)));
    let cases = 0;
    for (const n of [1, 3, 4, 15, 16, 17, 63, 64, 100, 1000, 4099]) {
      for (const bucket of [4, 20, 64, 1024]) {
        for (const [biasIn, extra] of [[0, 0], [7, 0], [21, 0], [21, 4]]) {
          for (const fault of ["none", "x", "lane"]) {
            if (fault === "lane" && biasIn === 0) continue;
            const wIn = biasIn ? bitsFor(2 * biasIn) + extra : 0;
            const wOut = bitsFor(2 * (biasIn + top)) + extra;
            const nb = Math.ceil(n / bucket);
            const scales = new Float32Array(nb).map(() => 0.5 + rng.nextFloat());
            const x = new Float32Array(n).map((_, i) =>
              (2 * rng.nextFloat() - 1) * scales[Math.floor(i / bucket)]
            );
            const lanesIn = biasIn ? new Uint8Array(Math.ceil((n * wIn) / 8)) : null;
            if (lanesIn) {
              const sums = new Uint16Array(n).map(() => Math.floor(rng.nextFloat() * 2 * biasIn));
              kernels().packFixed(sums, wIn, lanesIn);
            }
            const at = Math.floor(rng.nextFloat() * n);
            if (fault === "x") x[at] = 3 * scales[Math.floor(at / bucket)];
            if (fault === "lane") {
              const sums = new Uint16Array(n);
              kernels().unpackFixed(lanesIn!, n, wIn, sums);
              sums[at] = 2 * biasIn + 1;
              kernels().packFixed(sums, wIn, lanesIn!);
            }
            const inPlace = rng.nextFloat() < 0.5;
            const run = (native: boolean) => {
              const streams = Int32Array.from([11, 22, 33, 44].map((v) => v * (n + bucket)));
              const xs = x.slice();
              const h = {
                x: xs,
                scales,
                bucket,
                top,
                streams,
                lanesIn,
                wIn,
                biasIn,
                lanesOut: new Uint8Array(Math.ceil((n * wOut) / 8)),
                wOut,
                decoded: inPlace ? xs : new Float32Array(n),
                divisor: 3,
                floor: Math.fround(-1e-6 * top),
                limit: Math.fround(2 * top * (1 + 1e-6)),
              };
              const result = native ? K!.gridHop(h) : withNative(false, () => kernels().gridHop(h));
              return { result, streams, lanesOut: h.lanesOut, decoded: h.decoded };
            };
            const what = `n ${n}, bucket ${bucket}, biasIn ${biasIn}, widths ${wIn}/${wOut}, ` +
              `fault ${fault}, in place ${inPlace}`;
            const a = run(true), b = run(false);
            assert.deepEqual(a.result, b.result, what);
            if (fault === "none") {
              assert.equal(a.result, null, what);
              assert.deepEqual(a.streams, b.streams, `${what}: streams`);
              assert.deepEqual(a.lanesOut, b.lanesOut, `${what}: lanes`);
              assert.deepEqual(a.decoded, b.decoded, `${what}: decoded`);
            } else {
              assert.equal(a.result?.index, at, what);
            }
            cases++;
          }
        }
      }
    }
    assert.ok(cases > 400, `${cases} cases`);
  },
});

Deno.test({
  name: "the native all-gather receive and bucket maxima give the WebAssembly kernel's values",
  ignore,
  fn: () => {
    const rng = new Rng(16);
    const wasm = <T>(f: () => T): T => withNative(false, f);
    let cases = 0;
    for (const n of [1, 3, 4, 15, 16, 17, 63, 100, 1000, 4099]) {
      for (const bucket of [4, 20, 64, 1024]) {
        const nb = Math.ceil(n / bucket);
        const scales = new Float32Array(nb).map(() => 0.5 + rng.nextFloat());
        for (const [w, bias] of [[4, 7], [6, 28], [8, 100], [9, 200], [12, 2000]]) {
          for (const bad of [false, true]) {
            const sums = new Uint16Array(n).map(() => Math.floor(rng.nextFloat() * 2 * bias));
            const at = Math.floor(rng.nextFloat() * n);
            if (bad) sums[at] = 2 * bias + 1;
            const lanes = new Uint8Array(Math.ceil((n * w) / 8));
            kernels().packFixed(sums, w, lanes);
            const a = new Float32Array(n), b = new Float32Array(n);
            const got = K!.gridUnpackDequantize(lanes, w, bias, scales, bucket, 7, 3, a);
            const want = wasm(() =>
              kernels().gridUnpackDequantize(lanes, w, bias, scales, bucket, 7, 3, b)
            );
            const what = `n ${n}, bucket ${bucket}, w ${w}, bad ${bad}`;
            assert.deepEqual(got, want, what);
            if (bad) assert.equal(got?.index, at, what);
            else assert.deepEqual(a, b, what);
            cases++;
          }
        }
        // Maxima, with a NaN and an infinity in some buckets.
        const x = new Float32Array(n).map(() => rng.normal() * 3);
        if (n > 5) x[Math.floor(rng.nextFloat() * n)] = Infinity;
        if (n > 50) x[Math.floor(rng.nextFloat() * n)] = NaN;
        const ma = new Float32Array(nb), mb = new Float32Array(nb);
        K!.bucketMaxAbs(x, bucket, ma);
        wasm(() => kernels().bucketMaxAbs(x, bucket, mb));
        assert.deepEqual(ma, mb, `maxima: n ${n}, bucket ${bucket}`);
      }
    }
    assert.equal(cases, 10 * 4 * 5 * 2);
  },
});

Deno.test({
  name: "the native kernels refuse arrays too short for the call, before touching memory",
  ignore,
  fn: () => {
    const levels = Float32Array.from([0, 0.25, 0.5, 1]);
    const v = new Float32Array(100).fill(0.5);
    const args = (norms: number, codes: number) =>
      [v, 16, 2, levels, 1, 1, new Float32Array(norms), new Uint16Array(codes)] as const;
    assert.throws(
      () => K!.quantize(...args(6, 100), null, 16, null),
      /norms holds 6 elements, the call needs 7/,
    );
    assert.throws(() => K!.quantize(...args(7, 99), null, 16, null), /codes holds 99 elements/);
    assert.throws(
      () =>
        K!.quantize(v, 16, 2, levels, 1, 1, new Float32Array(7), null, new Uint8Array(49), 4, null),
      /packed holds 49 elements, the call needs 50/,
    );
    const hop = {
      x: new Float32Array(64),
      scales: new Float32Array(1).fill(1),
      bucket: 64,
      top: 7,
      streams: Int32Array.from([1, 2, 3, 4]),
      lanesIn: null,
      wIn: 0,
      biasIn: 0,
      lanesOut: new Uint8Array(31),
      wOut: 4,
      decoded: null,
      divisor: 1,
      floor: 0,
      limit: 14,
    };
    assert.throws(() => K!.gridHop(hop), /lanesOut holds 31 elements, the call needs 32/);
    assert.throws(
      () =>
        K!.gridUnpackDequantize(
          new Uint8Array(31),
          4,
          7,
          hop.scales,
          64,
          7,
          1,
          new Float32Array(64),
        ),
      /lanes holds 31 elements/,
    );
    assert.throws(
      () => K!.bucketMaxAbs(new Float32Array(65), 64, new Float32Array(1)),
      /out holds 1/,
    );
  },
});

Deno.test("a native kernel that cannot load says where and why", () => {
  assert.throws(() => new NativeQuantKernel("/nonexistent/quant_native.so"), /\/nonexistent/);
});

Deno.test({
  name: "a library built from another version of quant_native.c is refused, naming both versions",
  ignore,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "qoda-native-" });
    try {
      const path = `${dir}/stale.so`;
      const cc = await new Deno.Command("bash", {
        args: [
          "-c",
          `\${CC:-cc} -O1 -fPIC -shared -DQODA_SOURCE_SHA='"0123456789abcdef"' ` +
          `-o ${path} runtime/kernels/quant_native.c`,
        ],
        cwd: ROOT,
        stderr: "piped",
      }).output();
      assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
      assert.throws(
        () => new NativeQuantKernel(path),
        /built from another version of quant_native\.c \(0123456789abcdef; the source is [0-9a-f]{16}\); rebuild it with deno task build:native/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("setNativeKernel(false) makes quantization run in WebAssembly, and says so", () => {
  const was = setNativeKernel(false);
  try {
    assert.match(nativeKernelStatus(), /^wasm SIMD128/);
  } finally {
    setNativeKernel(was);
  }
});

Deno.test("QODA_NATIVE_KERNEL=0 turns the native kernel off; a path that does not load is an error", async () => {
  const code = 'import { nativeKernelStatus } from "./runtime/kernels/native.ts";' +
    "console.log(nativeKernelStatus());";
  const run = (value: string) =>
    new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      cwd: ROOT,
      env: { QODA_NATIVE_KERNEL: value },
      stdout: "piped",
      stderr: "piped",
    }).output();
  const off = await run("0");
  assert.ok(off.success);
  assert.equal(new TextDecoder().decode(off.stdout).trim(), "wasm SIMD128 (QODA_NATIVE_KERNEL=0)");
  const missing = await run("/nonexistent/q.so");
  assert.ok(!missing.success);
  assert.match(new TextDecoder().decode(missing.stderr), /native kernel \/nonexistent\/q\.so/);
});
