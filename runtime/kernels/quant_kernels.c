// Hot loops of qoda-ring, compiled to WebAssembly with SIMD128 by
// scripts/build_wasm.sh (`deno task gen:wasm`); the binary is embedded in
// quant_kernels_wasm.ts, which is generated and committed, so no C compiler
// is needed to run or test. The TypeScript wrapper is kernels.ts.
//
// Conventions: every pointer is an offset into this module's own memory,
// managed by the wrapper; nothing here allocates.
#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))

// ---------------------------------------------------------------- RNG
// Four independent xorshift128 streams, one per SIMD lane, plus a scalar
// stream for tails. Uniforms have 24 bits of resolution: the rounding
// probability of each coordinate is exact to 2^-24 of its level gap.
static v128_t rx, ry, rz, rw;
static uint32_t sx, sy, sz, sw;

static uint32_t splitmix(uint32_t* z) {
  uint32_t t = (*z += 0x9e3779b9u);
  t = (t ^ (t >> 16)) * 0x85ebca6bu;
  t = (t ^ (t >> 13)) * 0xc2b2ae35u;
  return t ^ (t >> 16);
}

EXPORT(rng_seed) void rng_seed(uint32_t a, uint32_t b) {
  uint32_t z = a ^ (b * 0x632be5abu);
  uint32_t w[20];
  for (int i = 0; i < 20; i++) w[i] = splitmix(&z) | (i % 4 == 3 ? 1u : 0u);
  rx = wasm_u32x4_make(w[0], w[1], w[2], w[3]);
  ry = wasm_u32x4_make(w[4], w[5], w[6], w[7]);
  rz = wasm_u32x4_make(w[8], w[9], w[10], w[11]);
  rw = wasm_u32x4_make(w[12] | 1u, w[13] | 1u, w[14] | 1u, w[15] | 1u);
  sx = w[16]; sy = w[17]; sz = w[18]; sw = w[19] | 1u;
}

// One step of the four lanes' streams, state held in locals by the caller
// (so it lives in registers, not memory); a 24-bit uniform in [0, 1) per lane.
#define RAND4(out, x, y, z, w)                                                   \
  do {                                                                           \
    v128_t t_ = wasm_v128_xor(x, wasm_i32x4_shl(x, 11));                         \
    x = y; y = z; z = w;                                                         \
    w = wasm_v128_xor(wasm_v128_xor(w, wasm_u32x4_shr(w, 19)),                   \
                      wasm_v128_xor(t_, wasm_u32x4_shr(t_, 8)));                 \
    out = wasm_f32x4_mul(wasm_f32x4_convert_i32x4(wasm_u32x4_shr(w, 8)),         \
                         wasm_f32x4_splat(5.9604644775390625e-8f));              \
  } while (0)

static inline float rand1(void) {
  uint32_t t = sx ^ (sx << 11);
  sx = sy; sy = sz; sz = sw;
  sw = sw ^ (sw >> 19) ^ (t ^ (t >> 8));
  return (float)(sw >> 8) * 5.9604644775390625e-8f;
}

// ---------------------------------------------------------------- norms
// L2 (kind 2) or L-infinity (kind 0) norm of x[0, n), in double; NaN or
// Infinity when a value is not finite.
static double bucket_norm(const float* x, int n, int kind) {
  if (kind == 2) {
    v128_t a0 = wasm_f64x2_splat(0), a1 = wasm_f64x2_splat(0);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
      v128_t v = wasm_v128_load(x + i);
      v128_t lo = wasm_f64x2_promote_low_f32x4(v);
      v128_t hi = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
      a0 = wasm_f64x2_add(a0, wasm_f64x2_mul(lo, lo));
      a1 = wasm_f64x2_add(a1, wasm_f64x2_mul(hi, hi));
    }
    v128_t a = wasm_f64x2_add(a0, a1);
    double s = wasm_f64x2_extract_lane(a, 0) + wasm_f64x2_extract_lane(a, 1);
    for (; i < n; i++) s += (double)x[i] * x[i];
    return __builtin_sqrt(s);
  }
  float m = 0, bad = 0;
  for (int i = 0; i < n; i++) {
    float a = __builtin_fabsf(x[i]);
    bad += x[i] * 0.0f;
    m = a > m ? a : m;
  }
  return bad == 0 ? (double)m : __builtin_nan("");
}

// ---------------------------------------------------------------- quantize
// The SIMD body for a level table of NLEV entries known at compile time: the
// interval search is NLEV-2 comparisons against levels held in registers.
// Processes 8 coordinates a step; returns how many it did (a multiple of 8).
// Non-negative floats order like their bit patterns as unsigned integers, so
// lo/hi are selected with integer max/min: lo = max over levels ≤ u, hi = min
// over levels > u (an excluded level becomes 0 for lo, all-ones for hi).
// The squared error is summed in float32 within the bucket (at most 1024
// terms per lane) and promoted once by the caller.
#define SM_SIMD(NLEV)                                                              \
  static int sm_simd_##NLEV(const float* xb, int len, const float* levels,         \
                            v128_t vinv, v128_t vnorm, uint16_t* cb, v128_t* eacc) {\
    v128_t L[NLEV];                                                                \
    for (int k = 0; k < NLEV; k++) L[k] = wasm_f32x4_splat(levels[k]);             \
    v128_t x = rx, y = ry, z = rz, w = rw;                                         \
    v128_t ea = wasm_f32x4_splat(0.0f), eb = wasm_f32x4_splat(0.0f);               \
    const v128_t one = wasm_f32x4_splat(1.0f), ones = wasm_i32x4_splat(-1);        \
    const v128_t i1 = wasm_i32x4_splat(1);                                         \
    int i = 0;                                                                     \
    for (; i + 8 <= len; i += 8) {                                                 \
      v128_t c2[2];                                                                \
      for (int h = 0; h < 2; h++) {                                                \
        v128_t xv = wasm_v128_load(xb + i + 4 * h);                                \
        v128_t ax = wasm_f32x4_abs(xv);                                            \
        v128_t u = wasm_f32x4_min(wasm_f32x4_mul(ax, vinv), one);                  \
        v128_t lo = wasm_i32x4_splat(0), hi = ones, j = wasm_i32x4_splat(0);       \
        for (int k = 1; k < NLEV - 1; k++) {                                       \
          v128_t m = wasm_f32x4_ge(u, L[k]);                                       \
          lo = wasm_u32x4_max(lo, wasm_v128_and(L[k], m));                         \
          hi = wasm_u32x4_min(hi, wasm_v128_or(L[k], m));                          \
          j = wasm_i32x4_sub(j, m);                                                \
        }                                                                          \
        hi = wasm_u32x4_min(hi, L[NLEV - 1]);                                      \
        v128_t r;                                                                  \
        RAND4(r, x, y, z, w);                                                      \
        v128_t up = wasm_f32x4_lt(wasm_f32x4_mul(r, wasm_f32x4_sub(hi, lo)),       \
                                  wasm_f32x4_sub(u, lo));                          \
        v128_t k = wasm_i32x4_sub(j, up);                                          \
        v128_t q = wasm_v128_bitselect(hi, lo, up);                                \
        v128_t e = wasm_f32x4_sub(wasm_f32x4_mul(vnorm, q), ax);                   \
        if (h) eb = wasm_f32x4_add(eb, wasm_f32x4_mul(e, e));                      \
        else ea = wasm_f32x4_add(ea, wasm_f32x4_mul(e, e));                        \
        v128_t sgn = wasm_v128_and(wasm_u32x4_shr(xv, 31), wasm_u32x4_min(k, i1)); \
        c2[h] = wasm_v128_or(wasm_i32x4_shl(k, 1), sgn);                           \
      }                                                                            \
      wasm_v128_store(cb + i, wasm_u16x8_narrow_i32x4(c2[0], c2[1]));              \
    }                                                                              \
    rx = x; ry = y; rz = z; rw = w;                                                \
    *eacc = wasm_f32x4_add(ea, eb);                                                \
    return i;                                                                      \
  }
SM_SIMD(2)
SM_SIMD(4)
SM_SIMD(8)
SM_SIMD(16)

// Sign-magnitude stochastic rounding of x[0, n) in buckets of `bucket`
// coordinates onto `nlev` levels (levels[0] = 0 < ... < levels[nlev-1] = 1).
// Writes one float32 norm per bucket to `norms` and one code per coordinate,
// (index << 1) | sign with sign 0 for index 0, to `codes`. Returns
// sum (Q(x)_i - x_i)^2; writes sum x_i^2 to stats[0]. `lut` maps
// floor(u * lutn) to the largest index j with levels[j] <= u (for nlev > 16).
// If a bucket norm is not finite, stops and returns NaN with stats[1] = the
// bucket index.
EXPORT(sm_quantize)
double sm_quantize(const float* x, int n, int bucket, int kind, const float* levels, int nlev,
                   const uint16_t* lut, int lutn, float* norms, uint16_t* codes, double* stats) {
  double sqerr = 0, sqnorm = 0;
  const int top = nlev - 2;
  for (int b0 = 0, bi = 0; b0 < n; b0 += bucket, bi++) {
    int len = n - b0 < bucket ? n - b0 : bucket;
    const float* xb = x + b0;
    uint16_t* cb = codes + b0;
    double nd = bucket_norm(xb, len, kind);
    if (!(nd < __builtin_inf())) {
      stats[1] = bi;
      return __builtin_nan("");
    }
    float norm = (float)nd;
    norms[bi] = norm;
    if (kind == 2) sqnorm += nd * nd;
    else for (int i = 0; i < len; i++) sqnorm += (double)xb[i] * xb[i];
    if (norm == 0) {
      for (int i = 0; i < len; i++) cb[i] = 0;
      continue;
    }
    float inv = 1.0f / norm;
    v128_t vinv = wasm_f32x4_splat(inv), vnorm = wasm_f32x4_splat(norm);
    int i = 0;
    v128_t eacc = wasm_f32x4_splat(0.0f);
    switch (nlev) {
      case 2: i = sm_simd_2(xb, len, levels, vinv, vnorm, cb, &eacc); break;
      case 4: i = sm_simd_4(xb, len, levels, vinv, vnorm, cb, &eacc); break;
      case 8: i = sm_simd_8(xb, len, levels, vinv, vnorm, cb, &eacc); break;
      case 16: i = sm_simd_16(xb, len, levels, vinv, vnorm, cb, &eacc); break;
      default: break;
    }
    v128_t e0 = wasm_f64x2_promote_low_f32x4(eacc);
    v128_t e1 = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(eacc, eacc, 2, 3, 0, 1));
    for (; i < len; i++) {
      float xv = xb[i];
      float ax = __builtin_fabsf(xv);
      float u = ax * inv;
      if (u > 1) u = 1;
      int j;
      if (nlev <= 16) {
        j = 0;
        for (int k = 1; k <= top; k++) j += u >= levels[k];
      } else {
        int t = (int)(u * lutn);
        j = lut[t];
        while (j < top && levels[j + 1] <= u) j++;
      }
      float lo = levels[j], hi = levels[j + 1];
      int k = rand1() * (hi - lo) < u - lo ? j + 1 : j;
      float e = norm * levels[k] - ax;
      sqerr += (double)e * e;
      cb[i] = k == 0 ? 0 : (uint16_t)((k << 1) | (xv < 0));
    }
    v128_t ea = wasm_f64x2_add(e0, e1);
    sqerr += wasm_f64x2_extract_lane(ea, 0) + wasm_f64x2_extract_lane(ea, 1);
  }
  stats[0] = sqnorm;
  return sqerr;
}

// Adds every `stride`-th normalized coordinate u = |x|/norm of each bucket to
// a histogram of `hb` bins over [0, 1] (statistics for level adaptation).
EXPORT(sm_histogram)
void sm_histogram(const float* x, int n, int bucket, const float* norms, int stride,
                  double* hist, int hb) {
  for (int b0 = 0, bi = 0; b0 < n; b0 += bucket, bi++) {
    int len = n - b0 < bucket ? n - b0 : bucket;
    float norm = norms[bi];
    if (norm == 0) continue;
    float inv = 1.0f / norm;
    for (int i = 0; i < len; i += stride) {
      float u = __builtin_fabsf(x[b0 + i]) * inv;
      int t = (int)(u * hb);
      hist[t < hb ? t : hb - 1] += 1;
    }
  }
}

// ---------------------------------------------------------------- dequantize
// out[i] = ±norms[bucket]·levels[code >> 1]; `table` is scratch for 2·nlev floats.
// Returns the index of the first code beyond the table, or -1.
EXPORT(sm_dequantize)
int sm_dequantize(const uint16_t* codes, int n, int bucket, const float* norms,
                  const float* levels, int nlev, float* table, float* out) {
  const int ncodes = 2 * nlev;
  for (int b0 = 0, bi = 0; b0 < n; b0 += bucket, bi++) {
    int len = n - b0 < bucket ? n - b0 : bucket;
    float norm = norms[bi];
    for (int c = 0; c < ncodes; c++) {
      float m = norm * levels[c >> 1];
      table[c] = (c & 1) ? -m : m;
    }
    for (int i = 0; i < len; i++) {
      unsigned c = codes[b0 + i];
      if (c >= (unsigned)ncodes) return b0 + i;
      out[b0 + i] = table[c];
    }
  }
  return -1;
}

// Fused unpack + dequantize of fixed-width sign-magnitude codes (bits 2, 4
// or 8, LSB-first). Returns the index of the first invalid code, or -1.
EXPORT(sm_unpack_dequantize)
int sm_unpack_dequantize(const uint8_t* bytes, int n, int bits, int bucket, const float* norms,
                         const float* levels, int nlev, float* table, float* out) {
  const int ncodes = 2 * nlev;
  const unsigned mask = (1u << bits) - 1;
  for (int b0 = 0, bi = 0; b0 < n; b0 += bucket, bi++) {
    int len = n - b0 < bucket ? n - b0 : bucket;
    float norm = norms[bi];
    for (int c = 0; c < ncodes; c++) {
      float m = norm * levels[c >> 1];
      table[c] = (c & 1) ? -m : m;
    }
    for (int c = ncodes; c <= (int)mask; c++) table[c] = __builtin_nanf("");
    int i = b0, end = b0 + len;
    if (bits == 4) {
      for (; (i & 1) && i < end; i++) out[i] = table[(bytes[i >> 1] >> 4) & 15];
      for (; i + 2 <= end; i += 2) {
        unsigned byte = bytes[i >> 1];
        out[i] = table[byte & 15];
        out[i + 1] = table[byte >> 4];
      }
    }
    for (; i < end; i++) {
      unsigned c = (bytes[(i * bits) >> 3] >> ((i * bits) & 7)) & mask;
      out[i] = table[c];
    }
    if (ncodes <= (int)mask) {
      for (int t = b0; t < end; t++) {
        if (out[t] != out[t]) return t;
      }
    }
  }
  return -1;
}

// ---------------------------------------------------------------- packing
// Fixed-width LSB-first packing of n codes of `bits` bits (1..16) into `out`
// (ceil(n·bits/8) bytes). Returns the OR of all codes, so the caller can check
// that every code fits in `bits` bits.
EXPORT(pack_fixed)
uint32_t pack_fixed(const uint16_t* codes, int n, int bits, uint8_t* out) {
  uint32_t all = 0;
  int i = 0;
  if (bits == 4) {
    for (; i + 2 <= n; i += 2) {
      uint32_t a = codes[i], b = codes[i + 1];
      all |= a | b;
      out[i >> 1] = (uint8_t)(a | (b << 4));
    }
    if (i < n) {
      all |= codes[i];
      out[i >> 1] = (uint8_t)(codes[i] & 15);
    }
    return all;
  }
  if (bits == 8) {
    for (; i < n; i++) {
      all |= codes[i];
      out[i] = (uint8_t)codes[i];
    }
    return all;
  }
  if (bits == 16) {
    for (; i < n; i++) {
      out[2 * i] = (uint8_t)codes[i];
      out[2 * i + 1] = (uint8_t)(codes[i] >> 8);
    }
    return 0;
  }
  const uint32_t mask = (1u << bits) - 1;
  uint64_t acc = 0;
  int have = 0, o = 0;
  for (; i < n; i++) {
    all |= codes[i];
    acc |= (uint64_t)(codes[i] & mask) << have;
    have += bits;
    while (have >= 8) {
      out[o++] = (uint8_t)acc;
      acc >>= 8;
      have -= 8;
    }
  }
  if (have > 0) out[o] = (uint8_t)acc;
  return all;
}

// The inverse of pack_fixed.
EXPORT(unpack_fixed)
void unpack_fixed(const uint8_t* bytes, int n, int bits, uint16_t* codes) {
  int i = 0;
  if (bits == 4) {
    for (; i + 2 <= n; i += 2) {
      uint8_t b = bytes[i >> 1];
      codes[i] = b & 15;
      codes[i + 1] = b >> 4;
    }
    if (i < n) codes[i] = bytes[i >> 1] & 15;
    return;
  }
  if (bits == 8) {
    for (; i < n; i++) codes[i] = bytes[i];
    return;
  }
  if (bits == 16) {
    for (; i < n; i++) codes[i] = (uint16_t)(bytes[2 * i] | (bytes[2 * i + 1] << 8));
    return;
  }
  uint64_t acc = 0;
  int have = 0, p = 0;
  const uint32_t mask = (1u << bits) - 1;
  for (; i < n; i++) {
    while (have < bits) {
      acc |= (uint64_t)bytes[p++] << have;
      have += 8;
    }
    codes[i] = (uint16_t)(acc & mask);
    acc >>= bits;
    have -= bits;
  }
}
