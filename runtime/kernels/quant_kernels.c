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
      v128_t lo = wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(x + i));
      v128_t hi = wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(x + i + 2));
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
// Every SIMD body below takes 8 coordinates a step and gives, coordinate for
// coordinate and bit for bit, what the scalar tail of sm_quantize_pack gives
// (the same random draws in the same order, the same float32 operations):
//   u = min(|x|·inv, 1); j = #{k in 1..nlev-2 : u >= levels[k]};
//   lo = levels[j], hi = levels[j+1]; up = r·(hi - lo) < u - lo;
//   k = j + up; code = k == 0 ? 0 : (k << 1) | sign(x).
// min is computed as pmin (b < a ? b : a), which equals min here (a NaN
// product stays NaN) and is one instruction instead of a NaN-propagating
// sequence. q = levels[k] is max(lo, hi & up) on the bit patterns: non-negative
// floats order like their bit patterns as unsigned integers. The squared
// error is summed in float32 within the bucket (at most 1024 terms per lane)
// and promoted once by the caller. The first coordinate of every step (every
// 8th of the bucket) goes to hsamp for the level statistics (hist_flush).

// Normalized coordinates sampled by the SIMD bodies, one per step: a region of
// CHUNK / 8 floats that the wrapper lays out and hands over once (set_hsamp).
// A static array would be a 512 KB zero-filled data segment in the module,
// whose memory is imported.
static float* hsamp;

EXPORT(set_hsamp) void set_hsamp(float* p) { hsamp = p; }

// Adds u (a normalized coordinate) to a histogram of hb bins over [0, 1]:
// bin floor(u·hb), u ≥ 1 in the last bin. u is NaN only for x = 0 in a
// bucket whose norm is so small that 1/norm overflowed: bin 0.
static inline void hist_add(double* hist, int hb, float u) {
  float t = u * (float)hb;
  hist[t < (float)hb ? (int)t : t == t ? hb - 1 : 0] += 1;
}

// hist_add of hsamp[0, cnt), four at a time: floor by roundps, then the
// float-to-integer conversion by adding 2^23 (exact below 2^23), the last bin
// for u ≥ 1 by an unsigned min, and bin 0 for NaN by a mask.
static void hist_flush(double* hist, int hb, int cnt) {
  const v128_t vh = wasm_f32x4_splat((float)hb), magic = wasm_f32x4_splat(8388608.0f);
  const v128_t top = wasm_i32x4_splat(hb - 1);
  int s = 0;
  for (; s + 4 <= cnt; s += 4) {
    v128_t t = wasm_f32x4_floor(wasm_f32x4_mul(wasm_v128_load(hsamp + s), vh));
    v128_t b = wasm_u32x4_min(wasm_i32x4_sub(wasm_f32x4_add(t, magic), magic), top);
    b = wasm_v128_and(b, wasm_f32x4_eq(t, t));
    hist[wasm_i32x4_extract_lane(b, 0)] += 1;
    hist[wasm_i32x4_extract_lane(b, 1)] += 1;
    hist[wasm_i32x4_extract_lane(b, 2)] += 1;
    hist[wasm_i32x4_extract_lane(b, 3)] += 1;
  }
  for (; s < cnt; s++) hist_add(hist, hb, hsamp[s]);
}

// Up to 8 levels: j is counted with NLEV-2 comparisons, then lo and hi are
// gathered for 8 coordinates at once by byte swizzles from 16-byte tables of
// the levels' low and high 16-bit halves, and the codes are formed in 16-bit
// lanes. Returns how many coordinates it did (a multiple of 8).
#define SM_SIMD_GATHER(NLEV)                                                        \
  static int sm_simd_##NLEV(const float* xb, int len, const float* levels,          \
                            v128_t vinv, v128_t vnorm, uint16_t* cb, v128_t* eacc) { \
    v128_t L[NLEV];                                                                 \
    uint16_t tl[8] = {0}, th[8] = {0};                                              \
    for (int k = 0; k < NLEV; k++) {                                                \
      L[k] = wasm_f32x4_splat(levels[k]);                                           \
      uint32_t b = __builtin_bit_cast(uint32_t, levels[k]);                         \
      tl[k] = (uint16_t)b;                                                          \
      th[k] = (uint16_t)(b >> 16);                                                  \
    }                                                                               \
    const v128_t TL = wasm_v128_load(tl), TH = wasm_v128_load(th);                  \
    v128_t x = rx, y = ry, z = rz, w = rw;                                          \
    v128_t ea = wasm_f32x4_splat(0.0f), eb = wasm_f32x4_splat(0.0f);                \
    const v128_t one = wasm_f32x4_splat(1.0f);                                      \
    const v128_t b2 = wasm_i16x8_splat(0x0202), b01 = wasm_i16x8_splat(0x0100);     \
    int i = 0;                                                                      \
    for (; i + 8 <= len; i += 8) {                                                  \
      v128_t xa = wasm_v128_load(xb + i), xc = wasm_v128_load(xb + i + 4);          \
      v128_t aa = wasm_f32x4_abs(xa), ac = wasm_f32x4_abs(xc);                      \
      v128_t ua = wasm_f32x4_pmin(wasm_f32x4_mul(aa, vinv), one);                   \
      v128_t uc = wasm_f32x4_pmin(wasm_f32x4_mul(ac, vinv), one);                   \
      wasm_v128_store32_lane(hsamp + (i >> 3), ua, 0);                              \
      v128_t j16 = wasm_i16x8_splat(0);                                             \
      for (int k = 1; k < NLEV - 1; k++) {                                          \
        j16 = wasm_i16x8_sub(j16, wasm_i16x8_narrow_i32x4(wasm_f32x4_ge(ua, L[k]),   \
                                                          wasm_f32x4_ge(uc, L[k]))); \
      }                                                                             \
      /* byte indices 2j, 2j+1 of each 16-bit lane */                               \
      v128_t ix = wasm_i16x8_add(wasm_i16x8_mul(j16, b2), b01);                     \
      v128_t gl = wasm_i8x16_swizzle(TL, ix), gh = wasm_i8x16_swizzle(TH, ix);      \
      v128_t loa = wasm_i16x8_shuffle(gl, gh, 0, 8, 1, 9, 2, 10, 3, 11);            \
      v128_t loc = wasm_i16x8_shuffle(gl, gh, 4, 12, 5, 13, 6, 14, 7, 15);          \
      ix = wasm_i16x8_add(ix, b2);                                                  \
      gl = wasm_i8x16_swizzle(TL, ix);                                              \
      gh = wasm_i8x16_swizzle(TH, ix);                                              \
      v128_t hia = wasm_i16x8_shuffle(gl, gh, 0, 8, 1, 9, 2, 10, 3, 11);            \
      v128_t hic = wasm_i16x8_shuffle(gl, gh, 4, 12, 5, 13, 6, 14, 7, 15);          \
      v128_t ra, rc;                                                                \
      RAND4(ra, x, y, z, w);                                                        \
      RAND4(rc, x, y, z, w);                                                        \
      v128_t upa = wasm_f32x4_lt(wasm_f32x4_mul(ra, wasm_f32x4_sub(hia, loa)),      \
                                 wasm_f32x4_sub(ua, loa));                          \
      v128_t upc = wasm_f32x4_lt(wasm_f32x4_mul(rc, wasm_f32x4_sub(hic, loc)),      \
                                 wasm_f32x4_sub(uc, loc));                          \
      v128_t qa = wasm_u32x4_max(loa, wasm_v128_and(hia, upa));                     \
      v128_t qc = wasm_u32x4_max(loc, wasm_v128_and(hic, upc));                     \
      v128_t e = wasm_f32x4_sub(wasm_f32x4_mul(vnorm, qa), aa);                     \
      ea = wasm_f32x4_add(ea, wasm_f32x4_mul(e, e));                                \
      e = wasm_f32x4_sub(wasm_f32x4_mul(vnorm, qc), ac);                            \
      eb = wasm_f32x4_add(eb, wasm_f32x4_mul(e, e));                                \
      v128_t k16 = wasm_i16x8_sub(j16, wasm_i16x8_narrow_i32x4(upa, upc));          \
      /* code = 2k + min(sign, k): the sign bit (a saturating narrow keeps */      \
      /* bit 31 as bit 15) only when k > 0 */                                       \
      v128_t s16 = wasm_u16x8_shr(wasm_i16x8_narrow_i32x4(xa, xc), 15);             \
      wasm_v128_store(cb + i, wasm_i16x8_add(wasm_i16x8_add(k16, k16),              \
                                             wasm_u16x8_min(s16, k16)));            \
    }                                                                               \
    rx = x; ry = y; rz = z; rw = w;                                                 \
    *eacc = wasm_f32x4_add(ea, eb);                                                 \
    return i;                                                                       \
  }

// More levels (9..16): lo/hi are selected with integer max/min while
// counting (lo = max over levels ≤ u, hi = min over levels > u; an excluded
// level becomes 0 for lo, all-ones for hi).
#define SM_SIMD_MAXMIN(NLEV)                                                        \
  static int sm_simd_##NLEV(const float* xb, int len, const float* levels,          \
                            v128_t vinv, v128_t vnorm, uint16_t* cb, v128_t* eacc) { \
    v128_t L[NLEV];                                                                 \
    for (int k = 0; k < NLEV; k++) L[k] = wasm_f32x4_splat(levels[k]);              \
    v128_t x = rx, y = ry, z = rz, w = rw;                                          \
    v128_t ea = wasm_f32x4_splat(0.0f), eb = wasm_f32x4_splat(0.0f);                \
    const v128_t one = wasm_f32x4_splat(1.0f), ones = wasm_i32x4_splat(-1);         \
    const v128_t i1 = wasm_i32x4_splat(1);                                          \
    int i = 0;                                                                      \
    for (; i + 8 <= len; i += 8) {                                                  \
      v128_t c2[2];                                                                 \
      for (int h = 0; h < 2; h++) {                                                 \
        v128_t xv = wasm_v128_load(xb + i + 4 * h);                                 \
        v128_t ax = wasm_f32x4_abs(xv);                                             \
        v128_t u = wasm_f32x4_pmin(wasm_f32x4_mul(ax, vinv), one);                  \
        if (h == 0) wasm_v128_store32_lane(hsamp + (i >> 3), u, 0);                 \
        v128_t lo = wasm_i32x4_splat(0), hi = ones, j = wasm_i32x4_splat(0);        \
        for (int k = 1; k < NLEV - 1; k++) {                                        \
          v128_t m = wasm_f32x4_ge(u, L[k]);                                        \
          lo = wasm_u32x4_max(lo, wasm_v128_and(L[k], m));                          \
          hi = wasm_u32x4_min(hi, wasm_v128_or(L[k], m));                           \
          j = wasm_i32x4_sub(j, m);                                                 \
        }                                                                           \
        hi = wasm_u32x4_min(hi, L[NLEV - 1]);                                       \
        v128_t r;                                                                   \
        RAND4(r, x, y, z, w);                                                       \
        v128_t up = wasm_f32x4_lt(wasm_f32x4_mul(r, wasm_f32x4_sub(hi, lo)),        \
                                  wasm_f32x4_sub(u, lo));                           \
        v128_t k = wasm_i32x4_sub(j, up);                                           \
        v128_t q = wasm_u32x4_max(lo, wasm_v128_and(hi, up));                       \
        v128_t e = wasm_f32x4_sub(wasm_f32x4_mul(vnorm, q), ax);                    \
        if (h) eb = wasm_f32x4_add(eb, wasm_f32x4_mul(e, e));                       \
        else ea = wasm_f32x4_add(ea, wasm_f32x4_mul(e, e));                         \
        v128_t sgn = wasm_v128_and(wasm_u32x4_shr(xv, 31), wasm_u32x4_min(k, i1));  \
        c2[h] = wasm_v128_or(wasm_i32x4_shl(k, 1), sgn);                            \
      }                                                                             \
      wasm_v128_store(cb + i, wasm_u16x8_narrow_i32x4(c2[0], c2[1]));               \
    }                                                                               \
    rx = x; ry = y; rz = z; rw = w;                                                 \
    *eacc = wasm_f32x4_add(ea, eb);                                                 \
    return i;                                                                       \
  }
SM_SIMD_GATHER(2)
SM_SIMD_GATHER(4)
SM_SIMD_GATHER(8)
SM_SIMD_MAXMIN(16)

static uint32_t pack_codes(const uint16_t* codes, int n, int bits, uint8_t* out);

// Sign-magnitude stochastic rounding of x[0, n) in buckets of `bucket`
// coordinates onto `nlev` levels (levels[0] = 0 < ... < levels[nlev-1] = 1).
// Writes one float32 norm per bucket to `norms` and one code per coordinate,
// (index << 1) | sign with sign 0 for index 0, to `codes`. `lut` maps
// floor(u * lutn) to the largest index j with levels[j] <= u (for nlev > 16).
//
// The sums of (Q(x)_i - x_i)^2 and x_i^2 are kept in float64 per group of
// `gsize` buckets, as one call per group would (the grouping fixes the order
// of the additions): stats[0] and stats[1] hold the sums of the current
// group, which has `gleft` buckets left at the start; when a group ends,
// they are added to the totals stats[2] and stats[3] and restart from 0.
// So a long input gives the same sums however it is split into calls.
// Returns -1, or the index of the first bucket whose norm is not finite
// (stopping there).
//
// `packed` (may be null): the codes are also packed `bits` bits each,
// LSB-first, into packed[0, ceil(n·bits/8)), a few buckets at a time while
// they are still in cache, so `codes` is only scratch. Every code must fit in
// `bits` bits (2·nlev ≤ 2^bits).
// `hist` (may be null): every 8th normalized coordinate u = |x|/norm of each
// bucket with a nonzero norm, from the bucket's first, is added to its `hb`
// bins over [0, 1] (as sm_histogram with stride 8 does).
EXPORT(sm_quantize_pack)
int sm_quantize_pack(const float* x, int n, int bucket, int kind, const float* levels, int nlev,
                     const uint16_t* lut, int lutn, float* norms, uint16_t* codes, uint8_t* packed,
                     int bits, double* hist, int hb, int gleft, int gsize, double* stats) {
  double sqerr = stats[0], sqnorm = stats[1];
  const int top = nlev - 2;
  // Packed runs start on byte boundaries: a multiple of `align` codes fills
  // whole bytes.
  const int align = bits % 8 == 0 ? 1 : bits % 4 == 0 ? 2 : bits % 2 == 0 ? 4 : 8;
  int done = 0;  // codes packed so far
  for (int b0 = 0, bi = 0; b0 < n; b0 += bucket, bi++) {
    int len = n - b0 < bucket ? n - b0 : bucket;
    const float* xb = x + b0;
    uint16_t* cb = codes + b0;
    double nd = bucket_norm(xb, len, kind);
    if (!(nd < __builtin_inf())) return bi;
    float norm = (float)nd;
    norms[bi] = norm;
    if (kind == 2) sqnorm += nd * nd;
    else for (int i = 0; i < len; i++) sqnorm += (double)xb[i] * xb[i];
    if (norm == 0) {
      for (int i = 0; i < len; i++) cb[i] = 0;
    } else {
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
      if (hist) hist_flush(hist, hb, i >> 3);
      v128_t e0 = wasm_f64x2_promote_low_f32x4(eacc);
      v128_t e1 = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(eacc, eacc, 2, 3, 0, 1));
      for (; i < len; i++) {
        float xv = xb[i];
        float ax = __builtin_fabsf(xv);
        float u = ax * inv;
        if (u > 1) u = 1;
        if (hist && (i & 7) == 0) hist_add(hist, hb, u);
        int j;
        if (nlev <= 16) {
          j = 0;
          for (int k = 1; k <= top; k++) j += u >= levels[k];
        } else {
          int t = u >= 0 ? (int)(u * lutn) : 0;  // u is NaN when inv overflowed
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
    if (--gleft == 0) {
      stats[2] += sqerr;
      stats[3] += sqnorm;
      sqerr = sqnorm = 0;
      gleft = gsize;
    }
    if (packed) {
      int end = b0 + len == n ? n : (b0 + len) & -align;
      if (end - done >= 1024 || end == n) {
        pack_codes(codes + done, end - done, bits, packed + done * bits / 8);
        done = end;
      }
    }
  }
  stats[0] = sqerr;
  stats[1] = sqnorm;
  return -1;
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

// Sixteen 4-bit codes from 8 bytes (LSB-first) as byte lanes, in coordinate order.
static inline v128_t nibbles16(const uint8_t* p) {
  v128_t raw = wasm_v128_load64_zero(p);
  v128_t lo = wasm_v128_and(raw, wasm_i8x16_splat(15)), hi = wasm_u8x16_shr(raw, 4);
  return wasm_i8x16_shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}

// The byte planes of a 16-entry float table: P[k] holds byte k of every entry.
static inline void table_planes(const float* table, v128_t P[4]) {
  v128_t t0 = wasm_v128_load(table), t1 = wasm_v128_load(table + 4);
  v128_t t2 = wasm_v128_load(table + 8), t3 = wasm_v128_load(table + 12);
  // Bytes k and k+1 of entries 0..7, then of 8..15.
  v128_t a = wasm_i8x16_shuffle(t0, t1, 0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
  v128_t b = wasm_i8x16_shuffle(t2, t3, 0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
  v128_t c = wasm_i8x16_shuffle(t0, t1, 2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
  v128_t d = wasm_i8x16_shuffle(t2, t3, 2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
  P[0] = wasm_i64x2_shuffle(a, b, 0, 2);
  P[1] = wasm_i64x2_shuffle(a, b, 1, 3);
  P[2] = wasm_i64x2_shuffle(c, d, 0, 2);
  P[3] = wasm_i64x2_shuffle(c, d, 1, 3);
}

// table[idx] for 16 byte indices (< 16), as four vectors of four floats.
static inline void gather16(const v128_t P[4], v128_t idx, v128_t f[4]) {
  v128_t g0 = wasm_i8x16_swizzle(P[0], idx), g1 = wasm_i8x16_swizzle(P[1], idx);
  v128_t g2 = wasm_i8x16_swizzle(P[2], idx), g3 = wasm_i8x16_swizzle(P[3], idx);
  v128_t a = wasm_i8x16_shuffle(g0, g1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  v128_t b = wasm_i8x16_shuffle(g2, g3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  v128_t c = wasm_i8x16_shuffle(g0, g1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  v128_t d = wasm_i8x16_shuffle(g2, g3, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  f[0] = wasm_i16x8_shuffle(a, b, 0, 8, 1, 9, 2, 10, 3, 11);
  f[1] = wasm_i16x8_shuffle(a, b, 4, 12, 5, 13, 6, 14, 7, 15);
  f[2] = wasm_i16x8_shuffle(c, d, 0, 8, 1, 9, 2, 10, 3, 11);
  f[3] = wasm_i16x8_shuffle(c, d, 4, 12, 5, 13, 6, 14, 7, 15);
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
      if (i + 16 <= end) {
        v128_t P[4], f[4];
        table_planes(table, P);
        for (; i + 16 <= end; i += 16) {
          gather16(P, nibbles16(bytes + (i >> 1)), f);
          wasm_v128_store(out + i, f[0]);
          wasm_v128_store(out + i + 4, f[1]);
          wasm_v128_store(out + i + 8, f[2]);
          wasm_v128_store(out + i + 12, f[3]);
        }
      }
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

// Fused unpack + dequantize + add: out[i] += ±norms[bucket]·levels[code >> 1]
// for fixed-width sign-magnitude codes (bits 2, 4 or 8, LSB-first), the
// receive side of a reduce-scatter hop. The same float32 values as
// sm_unpack_dequantize, added in float32. Codes are checked against the table
// (2·nlev entries) before their bucket is added; returns the index of the
// first invalid code (out is then partly updated), or -1. Widths of 4 bits
// take 16 codes a step with SIMD (table lookups by byte swizzles).
EXPORT(sm_unpack_dequantize_add)
int sm_unpack_dequantize_add(const uint8_t* bytes, int n, int bits, int bucket, const float* norms,
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
    for (int c = ncodes; c <= (int)mask && c < 16; c++) table[c] = 0;
    int i = b0, end = b0 + len;
    if (bits == 4) {
      if ((i & 1) && i < end) {
        unsigned c = (bytes[i >> 1] >> 4) & 15;
        if (c >= (unsigned)ncodes) return i;
        out[i] += table[c];
        i++;
      }
      if (i + 16 <= end && ncodes <= (int)mask) {
        // Check the codes first, so that a bad bucket is not added (with a full table of 16
        // entries every code is valid).
        v128_t vmax = wasm_i8x16_splat(0);
        int j = i;
        for (; j + 16 <= end; j += 16) vmax = wasm_u8x16_max(vmax, nibbles16(bytes + (j >> 1)));
        vmax = wasm_u8x16_max(vmax, wasm_i8x16_shuffle(vmax, vmax, 8, 9, 10, 11, 12, 13, 14, 15,
                                                       0, 1, 2, 3, 4, 5, 6, 7));
        vmax = wasm_u8x16_max(vmax, wasm_i8x16_shuffle(vmax, vmax, 4, 5, 6, 7, 0, 1, 2, 3,
                                                       4, 5, 6, 7, 0, 1, 2, 3));
        vmax = wasm_u8x16_max(vmax, wasm_i8x16_shuffle(vmax, vmax, 2, 3, 0, 1, 2, 3, 0, 1,
                                                       2, 3, 0, 1, 2, 3, 0, 1));
        vmax = wasm_u8x16_max(vmax, wasm_i8x16_shuffle(vmax, vmax, 1, 0, 1, 0, 1, 0, 1, 0,
                                                       1, 0, 1, 0, 1, 0, 1, 0));
        if (wasm_u8x16_extract_lane(vmax, 0) >= (unsigned)ncodes) {
          for (int t = i;; t++) {
            if (((bytes[t >> 1] >> ((t & 1) * 4)) & 15) >= (unsigned)ncodes) return t;
          }
        }
      }
      if (i + 16 <= end) {
        v128_t P[4], f[4];
        table_planes(table, P);
        for (; i + 16 <= end; i += 16) {
          gather16(P, nibbles16(bytes + (i >> 1)), f);
          float* o = out + i;
          wasm_v128_store(o, wasm_f32x4_add(wasm_v128_load(o), f[0]));
          wasm_v128_store(o + 4, wasm_f32x4_add(wasm_v128_load(o + 4), f[1]));
          wasm_v128_store(o + 8, wasm_f32x4_add(wasm_v128_load(o + 8), f[2]));
          wasm_v128_store(o + 12, wasm_f32x4_add(wasm_v128_load(o + 12), f[3]));
        }
      }
    }
    for (; i < end; i++) {
      unsigned c = (bytes[(i * bits) >> 3] >> ((i * bits) & 7)) & mask;
      if (c >= (unsigned)ncodes) return i;
      out[i] += table[c];
    }
  }
  return -1;
}

// ---------------------------------------------------------------- packing
// Fixed-width LSB-first packing of n codes of `bits` bits (1..16) into `out`
// (ceil(n·bits/8) bytes; a partial last byte is zero-padded). Returns the OR
// of all codes, so the caller can check that every code fits in `bits` bits
// (a code that does not is masked, never spills). Widths 2, 4 and 8 take 16
// codes a step with SIMD.
static uint32_t pack_codes(const uint16_t* codes, int n, int bits, uint8_t* out) {
  v128_t acc = wasm_i16x8_splat(0);
  int i = 0;
  if (bits == 4) {
    const v128_t m = wasm_i16x8_splat(15), lo8 = wasm_i16x8_splat(255);
    for (; i + 16 <= n; i += 16) {
      v128_t a = wasm_v128_load(codes + i), b = wasm_v128_load(codes + i + 8);
      acc = wasm_v128_or(acc, wasm_v128_or(a, b));
      // One code per byte, then bytes 2m | 2m+1 << 4 in the low byte of each u16.
      v128_t by = wasm_u8x16_narrow_i16x8(wasm_v128_and(a, m), wasm_v128_and(b, m));
      v128_t p = wasm_v128_and(wasm_v128_or(by, wasm_u16x8_shr(by, 4)), lo8);
      wasm_v128_store64_lane(out + (i >> 1), wasm_u8x16_narrow_i16x8(p, p), 0);
    }
  } else if (bits == 8) {
    const v128_t lo8 = wasm_i16x8_splat(255);
    for (; i + 16 <= n; i += 16) {
      v128_t a = wasm_v128_load(codes + i), b = wasm_v128_load(codes + i + 8);
      acc = wasm_v128_or(acc, wasm_v128_or(a, b));
      wasm_v128_store(out + i,
                      wasm_u8x16_narrow_i16x8(wasm_v128_and(a, lo8), wasm_v128_and(b, lo8)));
    }
  } else if (bits == 2) {
    const v128_t m = wasm_i16x8_splat(3), m4 = wasm_i16x8_splat(15);
    const v128_t lo8 = wasm_i32x4_splat(255);
    for (; i + 16 <= n; i += 16) {
      v128_t a = wasm_v128_load(codes + i), b = wasm_v128_load(codes + i + 8);
      acc = wasm_v128_or(acc, wasm_v128_or(a, b));
      // One code per byte; pairs into nibbles (low byte of each u16); pairs
      // of nibbles into bytes (low byte of each u32); those 4 bytes together.
      v128_t by = wasm_u8x16_narrow_i16x8(wasm_v128_and(a, m), wasm_v128_and(b, m));
      v128_t p = wasm_v128_and(wasm_v128_or(by, wasm_u16x8_shr(by, 6)), m4);
      p = wasm_v128_and(wasm_v128_or(p, wasm_u32x4_shr(p, 12)), lo8);
      v128_t r = wasm_i8x16_shuffle(p, p, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12);
      wasm_v128_store32_lane(out + (i >> 2), r, 0);
    }
  }
  acc = wasm_v128_or(acc, wasm_i32x4_shuffle(acc, acc, 2, 3, 0, 1));
  acc = wasm_v128_or(acc, wasm_i32x4_shuffle(acc, acc, 1, 0, 3, 2));
  uint32_t a32 = (uint32_t)wasm_i32x4_extract_lane(acc, 0);
  uint32_t all = (a32 | (a32 >> 16)) & 0xffff;
  // The rest (every code, for other widths) through a bit accumulator; i is
  // a multiple of 16, so it starts on a byte boundary.
  if (bits == 16) {
    for (; i < n; i++) {
      all |= codes[i];
      out[2 * i] = (uint8_t)codes[i];
      out[2 * i + 1] = (uint8_t)(codes[i] >> 8);
    }
    return all;
  }
  const uint32_t mask = (1u << bits) - 1;
  uint32_t bacc = 0;
  int have = 0;
  uint8_t* o = out + (i * bits >> 3);
  for (; i < n; i++) {
    all |= codes[i];
    bacc |= (codes[i] & mask) << have;
    have += bits;
    while (have >= 8) {
      *o++ = (uint8_t)bacc;
      bacc >>= 8;
      have -= 8;
    }
  }
  if (have > 0) *o = (uint8_t)bacc;
  return all;
}

EXPORT(pack_fixed)
uint32_t pack_fixed(const uint16_t* codes, int n, int bits, uint8_t* out) {
  return pack_codes(codes, n, bits, out);
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

// ---------------------------------------------------------------- shared grid
// The integer all-reduce's hop (runtime/quant/shared_grid.ts, addOwnCodes):
// this rank's codes on the uniform grid of magnitudes 0..top, offset by top
// (code + top in [0, 2·top]), rounded stochastically with four xorshift32
// streams (coordinate i of a call uses stream i mod 4, state[0..3]), added to
// the incoming lanes of w_in bits when `in` is given, packed LSB-first into
// lanes of w_out bits when `out` is given, and decoded, (sum − bias_out)·s /
// top / divisor, into `dec` when given. `bucket` is a multiple of 4; n is a
// multiple of 4 except in a call's last chunk. Same arithmetic as the
// TypeScript: v = f32(f32(x·k) + top) with k = f32(top / s), then
// lo = ⌊v⌋ plus one when the draw's top 31 bits are below (v − lo)·2^31,
// clamped to 2·top. Returns −1, or 2·i + kind for the first bad coordinate i:
// kind 0 a value beyond its bucket's scale, kind 1 an incoming lane above
// 2·bias_in (its value goes to state[4]).
// A reader of LSB-first lanes: the next `bits` bits (at most 32) of the
// stream at *p, refilled 32 bits at a time (it may read up to 3 bytes past
// the last lane, which the callers' regions leave room for).
typedef struct {
  const uint8_t* p;
  uint64_t acc;
  int have;
} LaneReader;

static inline uint32_t take_bits(LaneReader* r, int bits) {
  if (r->have < bits) {
    r->acc |= (uint64_t)(*(const uint32_t*)r->p) << r->have;
    r->p += 4;
    r->have += 32;
  }
  const uint32_t word = (uint32_t)r->acc;
  r->acc >>= bits;
  r->have -= bits;
  return word;
}

static inline int first_false(v128_t ok) {
  uint32_t m = wasm_i32x4_bitmask(ok);
  for (int j = 0; j < 4; j++) {
    if (!(m & (1u << j))) return j;
  }
  return 0;
}

static inline v128_t decode4(v128_t sum, v128_t bias, v128_t unit) {
  v128_t d = wasm_i32x4_sub(sum, bias);
  v128_t lo = wasm_f64x2_mul(wasm_f64x2_convert_low_i32x4(d), unit);
  v128_t hi = wasm_f64x2_mul(wasm_f64x2_convert_low_i32x4(wasm_i32x4_shuffle(d, d, 2, 3, 0, 1)), unit);
  return wasm_i32x4_shuffle(wasm_f32x4_demote_f64x2_zero(lo), wasm_f32x4_demote_f64x2_zero(hi), 0, 1, 4, 5);
}

EXPORT(grid_hop)
int grid_hop(const float* x, int n, const float* scales, int bucket, int top, const uint8_t* in,
             int w_in, int bias_in, uint8_t* out, int w_out, float* dec, double divisor,
             uint32_t* state, float floor_, float limit) {
  v128_t r = wasm_v128_load(state);
  const v128_t floorv = wasm_f32x4_splat(floor_), limitv = wasm_f32x4_splat(limit);
  const v128_t topv = wasm_f32x4_splat((float)top), two31 = wasm_f32x4_splat(2147483648.0f);
  const v128_t cap = wasm_i32x4_splat(2 * top), max_in = wasm_i32x4_splat(2 * bias_in);
  const v128_t bias_out = wasm_i32x4_splat(bias_in + top);
  const uint32_t mask_in = w_in > 0 ? (1u << w_in) - 1 : 0;
  const int wp = w_out <= 8 ? w_out : 0;  // the packing of four lanes in one word
  const v128_t place = wasm_u32x4_make(1u, 1u << wp, 1u << (2 * wp), 1u << (3 * wp));
  LaneReader rin = {in, 0, 0};
  uint64_t aout = 0;
  int nout = 0;
  uint8_t* pout = out;
  for (int b0 = 0; b0 < n; b0 += bucket) {
    const int end = b0 + bucket < n ? b0 + bucket : n;
    const float s = scales[b0 / bucket];
    const float k = s > 0 ? (float)((double)top / (double)s) : 0.0f;
    const v128_t kv = wasm_f32x4_splat(k);
    const v128_t unit = wasm_f64x2_splat((double)s / top / divisor);
    for (int i = b0; i < end; i += 4) {
      const int m = end - i < 4 ? end - i : 4;
      r = wasm_v128_xor(r, wasm_i32x4_shl(r, 13));
      r = wasm_v128_xor(r, wasm_u32x4_shr(r, 17));
      r = wasm_v128_xor(r, wasm_i32x4_shl(r, 5));
      v128_t xv;
      if (m == 4) {
        xv = wasm_v128_load(x + i);
      } else {
        float t[4] = {0, 0, 0, 0};
        for (int j = 0; j < m; j++) t[j] = x[i + j];
        xv = wasm_v128_load(t);
      }
      const v128_t v = wasm_f32x4_add(wasm_f32x4_mul(xv, kv), topv);
      const v128_t ok = wasm_v128_and(wasm_f32x4_ge(v, floorv), wasm_f32x4_le(v, limitv));
      if (!wasm_i32x4_all_true(ok)) return 2 * (i + first_false(ok));
      const v128_t lo = wasm_i32x4_trunc_sat_f32x4(v);
      const v128_t f31 = wasm_i32x4_trunc_sat_f32x4(
          wasm_f32x4_mul(wasm_f32x4_sub(v, wasm_f32x4_convert_i32x4(lo)), two31));
      const v128_t carry = wasm_i32x4_shr(wasm_i32x4_sub(wasm_u32x4_shr(r, 1), f31), 31);
      v128_t sum = wasm_i32x4_min(wasm_i32x4_sub(lo, carry), cap);
      if (in && m == 4 && w_in <= 8) {
        // Four lanes of at most 8 bits are one read of 4·w_in bits.
        const uint32_t word = take_bits(&rin, 4 * w_in);
        const v128_t lanes = wasm_v128_and(
            wasm_u32x4_make(word, word >> w_in, word >> (2 * w_in), word >> (3 * w_in)),
            wasm_i32x4_splat((int32_t)mask_in));
        const v128_t fine = wasm_u32x4_le(lanes, max_in);
        if (!wasm_i32x4_all_true(fine)) {
          const int j = first_false(fine);
          state[4] = wasm_u32x4_extract_lane(lanes, 0);
          if (j == 1) state[4] = wasm_u32x4_extract_lane(lanes, 1);
          if (j == 2) state[4] = wasm_u32x4_extract_lane(lanes, 2);
          if (j == 3) state[4] = wasm_u32x4_extract_lane(lanes, 3);
          return 2 * (i + j) + 1;
        }
        sum = wasm_i32x4_add(sum, lanes);
      } else if (in) {
        uint32_t l[4] = {0, 0, 0, 0};
        for (int j = 0; j < m; j++) l[j] = take_bits(&rin, w_in) & mask_in;
        const v128_t lanes = wasm_v128_load(l);
        const v128_t fine = wasm_u32x4_le(lanes, max_in);
        if (!wasm_i32x4_all_true(fine)) {
          const int j = first_false(fine);
          state[4] = l[j];
          return 2 * (i + j) + 1;
        }
        sum = wasm_i32x4_add(sum, lanes);
      }
      if (out && m == 4 && w_out <= 8) {
        // Four lanes of at most 8 bits make one word of 4·w_out bits (the lanes do not overlap,
        // so adding them is OR-ing them).
        v128_t t = wasm_i32x4_mul(sum, place);
        t = wasm_i32x4_add(t, wasm_i32x4_shuffle(t, t, 2, 3, 0, 1));
        t = wasm_i32x4_add(t, wasm_i32x4_shuffle(t, t, 1, 0, 3, 2));
        aout |= (uint64_t)wasm_u32x4_extract_lane(t, 0) << nout;
        nout += 4 * w_out;
        if (nout >= 32) {
          *(uint32_t*)pout = (uint32_t)aout;
          pout += 4;
          aout >>= 32;
          nout -= 32;
        }
      } else if (out) {
        uint32_t c[4];
        wasm_v128_store(c, sum);
        for (int j = 0; j < m; j++) {
          aout |= (uint64_t)c[j] << nout;
          nout += w_out;
          if (nout >= 32) {
            *(uint32_t*)pout = (uint32_t)aout;
            pout += 4;
            aout >>= 32;
            nout -= 32;
          }
        }
      }
      if (dec) {
        const v128_t f = decode4(sum, bias_out, unit);
        if (m == 4) {
          wasm_v128_store(dec + i, f);
        } else {
          float t[4];
          wasm_v128_store(t, f);
          for (int j = 0; j < m; j++) dec[i + j] = t[j];
        }
      }
    }
  }
  for (; nout > 0; nout -= 8) {
    *pout++ = (uint8_t)aout;
    aout >>= 8;
  }
  wasm_v128_store(state, r);
  return -1;
}

// The integer all-reduce's all-gather receive: lanes of w bits holding sums
// offset by `bias`, decoded to (lane − bias)·s / top / divisor. Returns −1 or
// the first lane above 2·bias (its value goes to state[4]). Lanes of at most
// 8 bits go four at a time (one read of 4·w bits, the same f64 arithmetic as
// grid_hop's decode); a bucket's last lanes, and wider lanes, one at a time.
EXPORT(grid_unpack_dequantize)
int grid_unpack_dequantize(const uint8_t* in, int n, int w, int bias, const float* scales,
                           int bucket, int top, double divisor, float* dec, uint32_t* state) {
  const uint32_t mask = (1u << w) - 1, max = 2u * (uint32_t)bias;
  const v128_t maskv = wasm_i32x4_splat((int32_t)mask), maxv = wasm_i32x4_splat((int32_t)max);
  const v128_t biasv = wasm_i32x4_splat(bias);
  LaneReader r = {in, 0, 0};
  for (int b0 = 0; b0 < n; b0 += bucket) {
    const int end = b0 + bucket < n ? b0 + bucket : n;
    const double unit = (double)scales[b0 / bucket] / top / divisor;
    const v128_t unitv = wasm_f64x2_splat(unit);
    int i = b0;
    if (w <= 8) {
      for (; i + 4 <= end; i += 4) {
        const uint32_t word = take_bits(&r, 4 * w);
        const v128_t lanes =
            wasm_v128_and(wasm_u32x4_make(word, word >> w, word >> (2 * w), word >> (3 * w)), maskv);
        const v128_t fine = wasm_u32x4_le(lanes, maxv);
        if (!wasm_i32x4_all_true(fine)) {
          const int j = first_false(fine);
          uint32_t l[4];
          wasm_v128_store(l, lanes);
          state[4] = l[j];
          return i + j;
        }
        wasm_v128_store(dec + i, decode4(lanes, biasv, unitv));
      }
    }
    for (; i < end; i++) {
      const uint32_t v = take_bits(&r, w) & mask;
      if (v > max) {
        state[4] = v;
        return i;
      }
      dec[i] = (float)((double)((int32_t)v - bias) * unit);
    }
  }
  return -1;
}

// The largest |x| of each bucket (the last may be shorter): NaN when the
// bucket holds a NaN, Infinity when it holds an infinity and no NaN.
EXPORT(bucket_max_abs)
void bucket_max_abs(const float* x, int n, int bucket, float* out) {
  for (int b0 = 0, k = 0; b0 < n; b0 += bucket, k++) {
    const int end = b0 + bucket < n ? b0 + bucket : n;
    // Four running maxima (wasm's max keeps a NaN), so that the loop is not one dependency chain.
    v128_t m = wasm_f32x4_splat(0.0f), m1 = m, m2 = m, m3 = m;
    int i = b0;
    for (; i + 16 <= end; i += 16) {
      m = wasm_f32x4_max(m, wasm_f32x4_abs(wasm_v128_load(x + i)));
      m1 = wasm_f32x4_max(m1, wasm_f32x4_abs(wasm_v128_load(x + i + 4)));
      m2 = wasm_f32x4_max(m2, wasm_f32x4_abs(wasm_v128_load(x + i + 8)));
      m3 = wasm_f32x4_max(m3, wasm_f32x4_abs(wasm_v128_load(x + i + 12)));
    }
    m = wasm_f32x4_max(wasm_f32x4_max(m, m1), wasm_f32x4_max(m2, m3));
    for (; i + 4 <= end; i += 4) m = wasm_f32x4_max(m, wasm_f32x4_abs(wasm_v128_load(x + i)));
    float r = wasm_f32x4_extract_lane(m, 0);
    for (int j = 1; j < 4; j++) {
      const float v = j == 1 ? wasm_f32x4_extract_lane(m, 1)
                    : j == 2 ? wasm_f32x4_extract_lane(m, 2) : wasm_f32x4_extract_lane(m, 3);
      r = (v > r || v != v) ? v : r;
    }
    for (; i < end; i++) {
      const float v = x[i] < 0 ? -x[i] : x[i];
      if (r != r) break;
      r = (v > r || v != v) ? v : r;
    }
    out[k] = r;
  }
}
