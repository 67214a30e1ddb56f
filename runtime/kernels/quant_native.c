// The hottest loops of qoda-ring for x86-64 with AVX-512, built into a shared
// library by scripts/build_native.sh (`deno task build:native`) and called
// through Deno's FFI by native.ts. Optional: without the library, or on a CPU
// without AVX-512, kernels.ts runs the WebAssembly kernels (quant_kernels.c).
//
// Sign-magnitude quantize (+ pack) follows the WebAssembly kernel's
// definition coordinate for coordinate:
//   u = min(|x|·inv, 1); j = #{k in 1..nlev-2 : u >= levels[k]};
//   lo = levels[j], hi = levels[j+1]; up with probability (u - lo)/(hi - lo);
//   k = j + up; code = k == 0 ? 0 : (k << 1) | sign(x).
// What differs: the random stream (sixteen xorshift128 lanes here, four
// there), how "up" is decided from it (on 32 raw bits here, on a 24-bit
// uniform there), and the order of the float additions in the norms and
// sums. So the codes differ draw by draw and agree in distribution; the tests
// hold both to the definition.
//
// The integer all-reduce's hop, receive and bucket maxima (further down) are
// those of quant_kernels.c to the bit: the same draws, lanes and faults.
//
// Nothing here allocates or keeps state: the random streams live in buffers
// of the caller's, so several isolates may share the library.
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define API __attribute__((visibility("default")))
// QODA_VBMI (set by the build script where the building CPU has AVX-512
// VBMI) adds the bin-table search below.
#ifdef QODA_VBMI
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi")))
#else
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#endif

// The interface's version: native.ts refuses a library built from another.
API int nq_abi(void) { return 1; }

// The first 16 hex digits of the SHA-256 of the source the library was built
// from (set by the build script): native.ts refuses a library built from
// another version of this file, as after an update without a rebuild.
#ifndef QODA_SOURCE_SHA
#define QODA_SOURCE_SHA "unknown"
#endif
API const char* nq_source(void) { return QODA_SOURCE_SHA; }

// 1 when this CPU runs the kernel (AVX-512 F, BW, DQ and VL, and VBMI if
// built with it), else 0.
API int nq_supported(void) {
  __builtin_cpu_init();
#ifdef QODA_VBMI
  if (!__builtin_cpu_supports("avx512vbmi")) return 0;
#endif
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

// ---------------------------------------------------------------- RNG
// state[0, 64): words x, y, z, w of sixteen xorshift128 lanes (16 each);
// state[64, 68): a scalar stream for the last bucket's tail.
#define STATE_WORDS 68

static uint32_t splitmix(uint32_t* z) {
  uint32_t t = (*z += 0x9e3779b9u);
  t = (t ^ (t >> 16)) * 0x85ebca6bu;
  t = (t ^ (t >> 13)) * 0xc2b2ae35u;
  return t ^ (t >> 16);
}

// Seeds the streams from two words; no lane's state is all zero.
API void nq_seed(uint32_t* state, uint32_t a, uint32_t b) {
  uint32_t z = a ^ (b * 0x632be5abu);
  for (int i = 0; i < STATE_WORDS; i++) state[i] = splitmix(&z);
  for (int i = 48; i < 64; i++) state[i] |= 1u;
  state[67] |= 1u;
}

// One xorshift128 step of the sixteen lanes: `a` holds the oldest word and
// is replaced by the newest, which is also the step's 32 random bits per
// lane; `d` holds the newest. The words rotate roles (a, b, c, d) ->
// (b, c, d, a), so four steps in a row return them to their places.
#define STEP16(a, d)                                                              \
  do {                                                                            \
    __m512i t_ = _mm512_xor_si512(a, _mm512_slli_epi32(a, 11));                   \
    a = _mm512_ternarylogic_epi32(_mm512_xor_si512(d, _mm512_srli_epi32(d, 19)), \
                                  t_, _mm512_srli_epi32(t_, 8), 0x96);            \
  } while (0)

static inline float rand1(uint32_t* s) {
  uint32_t t = s[0] ^ (s[0] << 11);
  s[0] = s[1];
  s[1] = s[2];
  s[2] = s[3];
  s[3] = s[3] ^ (s[3] >> 19) ^ (t ^ (t >> 8));
  return (float)(s[3] >> 8) * 5.9604644775390625e-8f;
}

// The sum of the eight lanes, in a fixed order (halves, then quarters, then
// pairs), so that every compiler gives the same bits.
static AVX512 double sum8(__m512d d) {
  __m256d a = _mm256_add_pd(_mm512_castpd512_pd256(d), _mm512_extractf64x4_pd(d, 1));
  __m128d b = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
  return _mm_cvtsd_f64(b) + _mm_cvtsd_f64(_mm_unpackhi_pd(b, b));
}

// The sixteen float32 lanes widened and summed in float64 (sum8).
static AVX512 double sum16(__m512 v) {
  return sum8(_mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)),
                            _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1))));
}

// ---------------------------------------------------------------- norms
// L2 (kind 2) or L-infinity (kind 0) norm of x[0, n) and the sum of squares;
// the norm is NaN or Infinity when a value is not finite. Squares are summed
// in float32 lanes (16 terms a lane for a bucket of 1024: the norm is within
// about 2^-20 of the float64 one), and again in float64 if that overflowed or
// came out tiny.
static AVX512 double bucket_norm(const float* x, int n, int kind, double* sq) {
  // Four sums, so that the additions' latency does not bound the loop.
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0, m = s0;
  __mmask16 bad = 0;
  int i = 0;
  for (; i + 64 <= n; i += 64) {
    __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
    __m512 c = _mm512_loadu_ps(x + i + 32), d = _mm512_loadu_ps(x + i + 48);
    s0 = _mm512_fmadd_ps(a, a, s0);
    s1 = _mm512_fmadd_ps(b, b, s1);
    s2 = _mm512_fmadd_ps(c, c, s2);
    s3 = _mm512_fmadd_ps(d, d, s3);
    if (kind == 0) {
      m = _mm512_max_ps(m, _mm512_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)),
                                         _mm512_max_ps(_mm512_abs_ps(c), _mm512_abs_ps(d))));
      bad |= _mm512_fpclass_ps_mask(a, 0x99) | _mm512_fpclass_ps_mask(b, 0x99) |
             _mm512_fpclass_ps_mask(c, 0x99) | _mm512_fpclass_ps_mask(d, 0x99);
    }
  }
  for (; i + 16 <= n; i += 16) {
    __m512 a = _mm512_loadu_ps(x + i);
    s0 = _mm512_fmadd_ps(a, a, s0);
    if (kind == 0) {
      m = _mm512_max_ps(m, _mm512_abs_ps(a));
      bad |= _mm512_fpclass_ps_mask(a, 0x99);
    }
  }
  double s = sum16(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  float mx = _mm512_reduce_max_ps(m);
  for (; i < n; i++) {
    float a = __builtin_fabsf(x[i]);
    s += (double)x[i] * x[i];
    if (kind == 0) {
      if (!(a <= __builtin_inff())) bad = 1;
      mx = a > mx ? a : mx;
    }
  }
  // Overflowed or underflowed in float32 (squares below 2^-126 are lost), or
  // not finite: again in float64.
  if (!(s < __builtin_inf()) || s < 1e-30) {
    s = 0;
    for (int k = 0; k < n; k++) s += (double)x[k] * x[k];
  }
  *sq = s;
  if (kind == 2) return __builtin_sqrt(s);
  return bad ? __builtin_nan("") : (double)mx;
}

// ---------------------------------------------------------------- quantize
// The vector path decides "up" in integers: with 32 random bits w and
// G[j] = 2^32 / (levels[j+1] - levels[j]), up = w < trunc((u - lo)·G[j]),
// which has probability (u - lo) / (hi - lo) to float32 precision (a product
// of 2^32 or more saturates to 2^32 - 1). A bucket whose 1/norm overflows
// (so that u is NaN for x = 0) goes through the scalar path, which draws
// 24-bit uniforms as quant_kernels.c does.
//
// The interval search j = #{k in 1..nin : u >= levels[k]} takes one of two
// routes. Counting: nin comparisons (NIN a compile-time constant). A bin
// table (built with QODA_VBMI): bin b = trunc(u·BIN_SCALE) < 128 for u in
// [0, 1], lut[b] = #{k : bin(levels[k]) < b}, a lower bound of j that
// monotone rounding guarantees; then `fix` steps of j += u >= levels[j+1],
// where `fix` is the most interior levels in one bin: a byte gather and
// `fix` gathers and comparisons instead of nin comparisons. nq_quantize
// picks the cheaper.
#define BINS 128
#define BIN_SCALE 127.99998f  // just below 128: u = 1 falls in bin 127

typedef struct {
  __m512 one, vinv, vnorm;
  __m512 L, H;  // levels[j], levels[j+1]
  __m512 F;     // levels[j+1] below the top interval, 2 at it (so `fix` never passes it)
  __m512 G;     // 2^32 / (levels[j+1] - levels[j])
  __m512i lut_lo, lut_hi;
  __m128 vhb;
  __m128i hbtop;  // hb - 1
  int fix, hb;
  uint32_t* hc;
} Ctx;

#define KERNEL AVX512 inline __attribute__((always_inline))

// Level statistics: lanes 0 and 8 (every 8th coordinate) of u counted.
static KERNEL void hist16(__m512 u, const Ctx* c) {
  __m128 s = _mm_unpacklo_ps(_mm512_castps512_ps128(u), _mm512_extractf32x4_ps(u, 2));
  __m128i b = _mm_min_epi32(_mm_cvttps_epi32(_mm_mul_ps(s, c->vhb)), c->hbtop);
  c->hc[_mm_cvtsi128_si32(b)]++;
  c->hc[c->hb + _mm_extract_epi32(b, 1)]++;
}

// hist16 of four vectors at once: their eight samples gathered into one,
// converted together, and counted from memory.
static KERNEL void hist64(__m512 u0, __m512 u1, __m512 u2, __m512 u3, const Ctx* c) {
  const __m512i pick = _mm512_setr_epi32(0, 8, 16, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  __m128 a = _mm512_castps512_ps128(_mm512_permutex2var_ps(u0, pick, u1));
  __m128 b = _mm512_castps512_ps128(_mm512_permutex2var_ps(u2, pick, u3));
  __m256 s = _mm256_insertf128_ps(_mm256_castps128_ps256(a), b, 1);
  __m256i bin =
      _mm256_min_epi32(_mm256_cvttps_epi32(_mm256_mul_ps(s, _mm256_set_m128(c->vhb, c->vhb))),
                       _mm256_set_m128i(c->hbtop, c->hbtop));
  uint32_t at[8];
  _mm256_storeu_si256((__m256i*)at, bin);
  uint32_t *h0 = c->hc, *h1 = c->hc + c->hb;
  h0[at[0]]++;
  h1[at[1]]++;
  h0[at[2]]++;
  h1[at[3]]++;
  h0[at[4]]++;
  h1[at[5]]++;
  h0[at[6]]++;
  h1[at[7]]++;
}

// 16 coordinates at xb[i, i + 16) with the random words w: codes as 32-bit
// lanes; the squared errors added to *ea; the normalized coordinates to *uo
// (for the level statistics). NIN < 0: the bin table with FIX steps.
static KERNEL __m512i step16(const float* xb, int i, __m512i w, const Ctx* c, const __m512* Lk,
                             int NIN, int FIX, __m512* ea, __m512* uo) {
  const __m512i i1 = _mm512_set1_epi32(1);
  __m512 xv = _mm512_loadu_ps(xb + i);
  __m512 ax = _mm512_abs_ps(xv);
  __m512 u = _mm512_min_ps(c->one, _mm512_mul_ps(ax, c->vinv));
  *uo = u;
  __m512i j;
  if (NIN >= 0) {
    j = _mm512_setzero_si512();
    for (int k = 1; k <= NIN; k++) {
      j = _mm512_mask_add_epi32(j, _mm512_cmp_ps_mask(u, Lk[k], _CMP_GE_OQ), j, i1);
    }
  } else {
#ifdef QODA_VBMI
    // Bin b < BINS in each lane's low byte, zeros above: the other bytes
    // gather lut[0] = 0.
    __m512i b = _mm512_cvttps_epi32(_mm512_mul_ps(u, _mm512_set1_ps(BIN_SCALE)));
    j = _mm512_permutex2var_epi8(c->lut_lo, b, c->lut_hi);
    for (int f = 0; f < FIX; f++) {
      __mmask16 m = _mm512_cmp_ps_mask(u, _mm512_permutexvar_ps(j, c->F), _CMP_GE_OQ);
      j = _mm512_mask_add_epi32(j, m, j, i1);
    }
#else
    j = _mm512_setzero_si512();  // not reached: nq_quantize counts
#endif
  }
  __m512 lo = _mm512_permutexvar_ps(j, c->L), hi = _mm512_permutexvar_ps(j, c->H);
  __m512i p = _mm512_cvttps_epu32(
      _mm512_mul_ps(_mm512_sub_ps(u, lo), _mm512_permutexvar_ps(j, c->G)));
  __mmask16 up = _mm512_cmplt_epu32_mask(w, p);
  __m512i k = _mm512_mask_add_epi32(j, up, j, i1);
  __m512 e = _mm512_fmsub_ps(c->vnorm, _mm512_mask_blend_ps(up, lo, hi), ax);
  *ea = _mm512_fmadd_ps(e, e, *ea);
  // code = 2k + min(sign, k): the sign only when k > 0.
  __m512i sg = _mm512_srli_epi32(_mm512_castps_si512(xv), 31);
  return _mm512_or_si512(_mm512_slli_epi32(k, 1), _mm512_min_epu32(sg, k));
}

// Stores 16 codes: as uint16 (codes), or packed LSB-first at 8 or 4 bits.
static KERNEL void put16(__m512i code, int at, uint16_t* codes, uint8_t* packed, int bits) {
  if (codes) {
    _mm256_storeu_si256((__m256i*)(codes + at), _mm512_cvtepi32_epi16(code));
  } else if (bits == 8) {
    _mm_storeu_si128((__m128i*)(packed + at), _mm512_cvtepi32_epi8(code));
  } else {
    __m512i pair = _mm512_or_si512(code, _mm512_srli_epi64(code, 28));
    _mm_storel_epi64((__m128i*)(packed + (at >> 1)), _mm512_cvtepi64_epi8(pair));
  }
}

// Stores 64 codes (c0 the first 16, c3 the last) as put16 does, four at a
// time: the 4-bit packing narrows all four together and pairs the nibbles
// with one multiply-add.
static KERNEL void put64(__m512i c0, __m512i c1, __m512i c2, __m512i c3, int at, uint16_t* codes,
                         uint8_t* packed, int bits) {
  if (codes || bits == 8) {
    put16(c0, at, codes, packed, bits);
    put16(c1, at + 16, codes, packed, bits);
    put16(c2, at + 32, codes, packed, bits);
    put16(c3, at + 48, codes, packed, bits);
    return;
  }
  // Bytes of 128-bit lane l: codes 4l..4l+3 of c0, of c1, of c2, of c3.
  __m512i b = _mm512_packus_epi16(_mm512_packus_epi32(c0, c1), _mm512_packus_epi32(c2, c3));
  // 16-bit unit 4v + q of lane l (v = 0..3 for c0..c3, q < 2) holds the byte
  // of codes 4l + 2q, 4l + 2q + 1 of cv; zero in its high half.
  __m512i pairs = _mm512_maddubs_epi16(b, _mm512_set1_epi16(0x1001));
  // Output byte 8v + 2l + q (codes 16v + 4l + 2q and the next) is that unit.
  const __m512i order = _mm512_set_epi16(31, 30, 23, 22, 15, 14, 7, 6, 29, 28, 21, 20, 13, 12, 5,
                                         4, 27, 26, 19, 18, 11, 10, 3, 2, 25, 24, 17, 16, 9, 8,
                                         1, 0);
  __m512i words = _mm512_permutexvar_epi16(order, pairs);
  _mm256_storeu_si256((__m256i*)(packed + (at >> 1)), _mm512_cvtepi16_epi8(words));
}
// Asks for the four cache lines from byte address `at` into the L2 cache
// (`at` may lie past the input's end: a prefetch never faults).
static inline void prefetch256(uintptr_t at) {
  for (int l = 0; l < 256; l += 64) _mm_prefetch((const char*)(at + l), _MM_HINT_T1);
}

// Buckets whose norms are computed together, ahead of quantizing them: one
// bucket's sums and square root then overlap the next one's instead of
// holding up the quantization, and their data, fetched ahead (prefetch256),
// comes from the L2 cache.
#define NORM_GROUP 16

// One call of nq_quantize with the search NIN (see step16); see there.
#define QUANTIZE(NAME, NIN, FIX)                                                            \
  static AVX512 int NAME(const float* x, int n, int bucket, int kind, const float* levels,   \
                         int nlev, float* norms, uint16_t* codes, uint8_t* packed, int bits, \
                         const Ctx* cin, uint32_t* state, double* stats) {                   \
    const int nin = nlev - 2;                                                                \
    Ctx ctx = *cin; /* a local copy: the histogram stores cannot alias it */                 \
    Ctx* c = &ctx;                                                                           \
    __m512 Lk[NIN > 0 ? NIN + 1 : 1];                                                        \
    for (int k = 1; k <= NIN; k++) Lk[k] = _mm512_set1_ps(levels[k]);                        \
    __m512i rx = _mm512_loadu_si512(state), ry = _mm512_loadu_si512(state + 16);             \
    __m512i rz = _mm512_loadu_si512(state + 32), rw = _mm512_loadu_si512(state + 48);        \
    double sqerr = 0, sqnorm = 0;                                                            \
    int bad = -1;                                                                            \
    double nds[NORM_GROUP], sqs[NORM_GROUP]; /* norms of buckets [first, first + NORM_GROUP) */ \
    int first = -NORM_GROUP;                                                                 \
    for (int b0 = 0, bi = 0; b0 < n; b0 += bucket, bi++) {                                   \
      const int len = n - b0 < bucket ? n - b0 : bucket;                                     \
      const float* xb = x + b0;                                                              \
      if (bi - first == NORM_GROUP) {                                                        \
        first = bi;                                                                          \
        for (int q = 0, o = b0; q < NORM_GROUP && o < n; q++, o += bucket) {                 \
          nds[q] = bucket_norm(x + o, n - o < bucket ? n - o : bucket, kind, &sqs[q]);       \
        }                                                                                    \
      }                                                                                      \
      const double nd = nds[bi - first], sq = sqs[bi - first];                               \
      if (!(nd < __builtin_inf())) {                                                         \
        bad = bi;                                                                            \
        break;                                                                               \
      }                                                                                      \
      const float norm = (float)nd;                                                          \
      norms[bi] = norm;                                                                      \
      sqnorm += sq;                                                                          \
      if (norm == 0) {                                                                       \
        if (codes) memset(codes + b0, 0, 2 * (size_t)len);                                   \
        else memset(packed + (size_t)b0 * bits / 8, 0, ((size_t)len * bits + 7) / 8);       \
        continue;                                                                            \
      }                                                                                      \
      const float inv = 1.0f / norm;                                                         \
      int i = 0;                                                                             \
      if (inv < __builtin_inff()) {                                                          \
        c->vinv = _mm512_set1_ps(inv);                                                       \
        c->vnorm = _mm512_set1_ps(norm);                                                     \
        __m512 ea = _mm512_setzero_ps();                                                     \
        for (; i + 64 <= len; i += 64) {                                                     \
          /* The lines of the next group's bucket come in while this one computes. */       \
          prefetch256((uintptr_t)(xb + (size_t)NORM_GROUP * bucket + i));                    \
          __m512 u0, u1, u2, u3;                                                             \
          STEP16(rx, rw);                                                                    \
          __m512i c0 = step16(xb, i, rx, c, Lk, NIN, FIX, &ea, &u0);                         \
          STEP16(ry, rx);                                                                    \
          __m512i c1 = step16(xb, i + 16, ry, c, Lk, NIN, FIX, &ea, &u1);                    \
          STEP16(rz, ry);                                                                    \
          __m512i c2 = step16(xb, i + 32, rz, c, Lk, NIN, FIX, &ea, &u2);                    \
          STEP16(rw, rz);                                                                    \
          __m512i c3 = step16(xb, i + 48, rw, c, Lk, NIN, FIX, &ea, &u3);                    \
          if (c->hc) hist64(u0, u1, u2, u3, c);                                              \
          put64(c0, c1, c2, c3, b0 + i, codes, packed, bits);                                \
        }                                                                                    \
        for (; i + 16 <= len; i += 16) {                                                     \
          STEP16(rx, rw);                                                                    \
          __m512i t = rx;                                                                    \
          rx = ry, ry = rz, rz = rw, rw = t;                                                 \
          __m512 u;                                                                          \
          put16(step16(xb, i, rw, c, Lk, NIN, FIX, &ea, &u), b0 + i, codes, packed, bits);   \
          if (c->hc) hist16(u, c);                                                           \
        }                                                                                    \
        sqerr += sum16(ea);                                                          \
      }                                                                                      \
      for (; i < len; i++) { /* the last bucket's tail, or a bucket whose inv overflowed */  \
        const float xv = xb[i], ax = __builtin_fabsf(xv);                                    \
        float u = ax * inv;                                                                  \
        u = 1.0f < u ? 1.0f : u;                                                             \
        if (c->hc && (i & 7) == 0) {                                                         \
          float t = u * (float)c->hb;                                                        \
          c->hc[t < (float)c->hb ? (int)t : t == t ? c->hb - 1 : 0]++;                       \
        }                                                                                    \
        int j = 0;                                                                           \
        for (int k = 1; k <= nin; k++) j += u >= levels[k];                                  \
        const float lo = levels[j], hi = levels[j + 1];                                      \
        const int k = rand1(state + 64) * (hi - lo) < u - lo ? j + 1 : j;                    \
        const float e = norm * levels[k] - ax;                                               \
        sqerr += (double)e * e;                                                              \
        const unsigned code = k == 0 ? 0 : (unsigned)((k << 1) | (xv < 0));                  \
        const int at = b0 + i;                                                               \
        if (codes) codes[at] = (uint16_t)code;                                               \
        else if (bits == 8) packed[at] = (uint8_t)code;                                      \
        else if (at & 1) packed[at >> 1] |= (uint8_t)(code << 4);                            \
        else packed[at >> 1] = (uint8_t)code;                                                \
      }                                                                                      \
    }                                                                                        \
    _mm512_storeu_si512(state, rx);                                                          \
    _mm512_storeu_si512(state + 16, ry);                                                     \
    _mm512_storeu_si512(state + 32, rz);                                                     \
    _mm512_storeu_si512(state + 48, rw);                                                     \
    stats[0] = sqerr;                                                                        \
    stats[1] = sqnorm;                                                                       \
    return bad;                                                                              \
  }
QUANTIZE(quantize_bins1, -1, 1)
QUANTIZE(quantize_bins2, -1, 2)
QUANTIZE(quantize_bins3, -1, 3)
QUANTIZE(quantize_0, 0, 0)
QUANTIZE(quantize_1, 1, 0)
QUANTIZE(quantize_2, 2, 0)
QUANTIZE(quantize_3, 3, 0)
QUANTIZE(quantize_4, 4, 0)
QUANTIZE(quantize_5, 5, 0)
QUANTIZE(quantize_6, 6, 0)
QUANTIZE(quantize_7, 7, 0)
QUANTIZE(quantize_8, 8, 0)
QUANTIZE(quantize_9, 9, 0)
QUANTIZE(quantize_10, 10, 0)
QUANTIZE(quantize_11, 11, 0)
QUANTIZE(quantize_12, 12, 0)
QUANTIZE(quantize_13, 13, 0)
QUANTIZE(quantize_14, 14, 0)

// The bin table of `levels` for the search of step16, and its `fix` (the
// most interior levels in one bin).
static AVX512 void bin_table(const float* levels, int nlev, Ctx* c) {
  uint8_t lut[BINS] = {0};
  int in_bin[BINS] = {0};
  c->fix = 0;
  for (int k = 1; k <= nlev - 2; k++) {
    int b = (int)(levels[k] * BIN_SCALE);
    if (++in_bin[b] > c->fix) c->fix = in_bin[b];
    for (int e = b + 1; e < BINS; e++) lut[e]++;
  }
  c->lut_lo = _mm512_loadu_si512(lut);
  c->lut_hi = _mm512_loadu_si512(lut + 64);
}

// ---------------------------------------------------------------- shared grid
// The integer all-reduce's hop, grid_hop of quant_kernels.c to the bit: the
// same draws (four xorshift32 streams, coordinate i of a call on stream
// i mod 4, advanced once per group of four), the same float32 and float64
// arithmetic, the same lanes and the same first fault. Blocks of 16
// coordinates run in AVX-512 with the four streams advanced four times at
// once; a bucket's last groups, a call's last partial group and any block
// holding a fault run group by group, as grid_hop does.

// An LSB-first lane reader that never reads past `end`.
typedef struct {
  const uint8_t* p;
  const uint8_t* end;
  uint64_t acc;
  int have;
} Lanes;

static inline uint32_t lanes_take(Lanes* r, int bits) {
  if (r->have < bits) {
    uint32_t w = 0;
    if (r->end - r->p >= 4) {
      memcpy(&w, r->p, 4);
    } else {
      for (int b = 0; r->p + b < r->end; b++) w |= (uint32_t)r->p[b] << (8 * b);
    }
    r->acc |= (uint64_t)w << r->have;
    r->p += 4;
    r->have += 32;
  }
  const uint32_t word = (uint32_t)r->acc;
  r->acc >>= bits;
  r->have -= bits;
  return word;
}

// Appends `bits` bits (at most 32) to an LSB-first stream.
typedef struct {
  uint8_t* p;
  uint64_t acc;
  int have;
} Sink;

static inline void sink_put(Sink* s, uint32_t v, int bits) {
  s->acc |= (uint64_t)v << s->have;
  s->have += bits;
  if (s->have >= 32) {
    uint32_t w = (uint32_t)s->acc;
    memcpy(s->p, &w, 4);
    s->p += 4;
    s->acc >>= 32;
    s->have -= 32;
  }
}

static inline __m128i xorshift4(__m128i r) {
  r = _mm_xor_si128(r, _mm_slli_epi32(r, 13));
  r = _mm_xor_si128(r, _mm_srli_epi32(r, 17));
  return _mm_xor_si128(r, _mm_slli_epi32(r, 5));
}

// Where each lane of a group of four sits in the group's 4·w bits: 0, w, 2w,
// 3w, for the four groups of sixteen lanes.
static KERNEL __m512i group_shifts(int w) {
  return _mm512_setr_epi32(0, w, 2 * w, 3 * w, 0, w, 2 * w, 3 * w, 0, w, 2 * w, 3 * w, 0, w,
                           2 * w, 3 * w);
}

// Sixteen lanes of w ≤ 8 bits from r: four groups' 4·w bits, each spread
// over its four lanes.
static KERNEL __m512i take16(Lanes* r, int w) {
  uint32_t words[4];
  for (int g = 0; g < 4; g++) words[g] = lanes_take(r, 4 * w);
  const __m512i spread = _mm512_permutexvar_epi32(
      _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
      _mm512_castsi128_si512(_mm_loadu_si128((const __m128i*)words)));
  return _mm512_and_si512(_mm512_srlv_epi32(spread, group_shifts(w)),
                          _mm512_set1_epi32((int)((1u << w) - 1)));
}

// (sum − bias)·unit in float64, rounded to float32: decode4 of
// quant_kernels.c, for sixteen lanes and for four.
static KERNEL __m512 decode16(__m512i sum, int bias, double unit) {
  const __m512d u = _mm512_set1_pd(unit);
  const __m512i d = _mm512_sub_epi32(sum, _mm512_set1_epi32(bias));
  const __m256 a =
      _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(d)), u));
  const __m256 b =
      _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(d, 1)), u));
  return _mm512_insertf32x8(_mm512_castps256_ps512(a), b, 1);
}

static KERNEL __m128 decode4(__m128i sum, int bias, double unit) {
  const __m128d u = _mm_set1_pd(unit);
  const __m128i d = _mm_sub_epi32(sum, _mm_set1_epi32(bias));
  return _mm_movelh_ps(_mm_cvtpd_ps(_mm_mul_pd(_mm_cvtepi32_pd(d), u)),
                       _mm_cvtpd_ps(_mm_mul_pd(_mm_cvtepi32_pd(_mm_shuffle_epi32(d, 0x4e)), u)));
}

typedef struct {
  const float* x;
  float k, floor_, limit, top;
  int cap, max_in, bias_out, w_in, w_out;
  uint32_t mask_in;
  double unit;
  float* dec;
  const uint8_t* in;
} HopBucket;

// One group of m ≤ 4 coordinates from i, as grid_hop's loop body. Returns −1
// or the fault code (2·i + kind, the lane in *lane).
static AVX512 int hop_group(const HopBucket* h, int i, int m, __m128i* rs, Lanes* rin, Sink* sout,
                            uint32_t* lane) {
  __m128i r = xorshift4(*rs);
  *rs = r;
  float t[4] = {0, 0, 0, 0};
  for (int j = 0; j < m; j++) t[j] = h->x[i + j];
  const __m128 v = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(t), _mm_set1_ps(h->k)), _mm_set1_ps(h->top));
  const __m128 ok = _mm_and_ps(_mm_cmpge_ps(v, _mm_set1_ps(h->floor_)),
                               _mm_cmple_ps(v, _mm_set1_ps(h->limit)));
  const int okm = _mm_movemask_ps(ok);
  if (okm != 0xf) return 2 * (i + __builtin_ctz(~okm & 0xf));
  const __m128i lo = _mm_cvttps_epi32(v);
  const __m128i f31 = _mm_cvttps_epi32(
      _mm_mul_ps(_mm_sub_ps(v, _mm_cvtepi32_ps(lo)), _mm_set1_ps(2147483648.0f)));
  const __m128i carry = _mm_srai_epi32(_mm_sub_epi32(_mm_srli_epi32(r, 1), f31), 31);
  __m128i sum = _mm_min_epi32(_mm_sub_epi32(lo, carry), _mm_set1_epi32(h->cap));
  if (h->in) {
    uint32_t l[4] = {0, 0, 0, 0};
    if (m == 4 && h->w_in <= 8) {
      const uint32_t word = lanes_take(rin, 4 * h->w_in);
      for (int j = 0; j < 4; j++) l[j] = (word >> (j * h->w_in)) & h->mask_in;
    } else {
      for (int j = 0; j < m; j++) l[j] = lanes_take(rin, h->w_in) & h->mask_in;
    }
    for (int j = 0; j < 4; j++) {
      if (l[j] > (uint32_t)h->max_in) {
        *lane = l[j];
        return 2 * (i + j) + 1;
      }
    }
    sum = _mm_add_epi32(sum, _mm_loadu_si128((const __m128i*)l));
  }
  uint32_t c[4];
  _mm_storeu_si128((__m128i*)c, sum);
  if (sout->p) {
    if (m == 4 && h->w_out <= 8) {
      // Added, as grid_hop adds them (the same as OR-ing lanes that fit).
      sink_put(sout, c[0] + (c[1] << h->w_out) + (c[2] << 2 * h->w_out) + (c[3] << 3 * h->w_out),
               4 * h->w_out);
    } else {
      for (int j = 0; j < m; j++) sink_put(sout, c[j], h->w_out);
    }
  }
  if (h->dec) {
    float o[4];
    _mm_storeu_ps(o, decode4(sum, h->bias_out, h->unit));
    for (int j = 0; j < m; j++) h->dec[i + j] = o[j];
  }
  return -1;
}

// Sixteen coordinates from i (four whole groups), or −2 when the block holds
// a fault (then nothing was written, and the caller redoes it group by group
// from the same state).
static AVX512 int hop_block(const HopBucket* h, int i, __m128i* rs, Lanes* rin, Sink* sout) {
  const __m128i r1 = xorshift4(*rs), r2 = xorshift4(r1), r3 = xorshift4(r2), r4 = xorshift4(r3);
  const __m512i r = _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_inserti128_si256(_mm256_castsi128_si256(r1), r2, 1)),
      _mm256_inserti128_si256(_mm256_castsi128_si256(r3), r4, 1), 1);
  const __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(h->x + i), _mm512_set1_ps(h->k)),
                                 _mm512_set1_ps(h->top));
  const __mmask16 ok = _mm512_cmp_ps_mask(v, _mm512_set1_ps(h->floor_), _CMP_GE_OQ) &
                       _mm512_cmp_ps_mask(v, _mm512_set1_ps(h->limit), _CMP_LE_OQ);
  if (ok != 0xffff) return -2;
  const __m512i lo = _mm512_cvttps_epi32(v);
  const __m512i f31 = _mm512_cvttps_epi32(
      _mm512_mul_ps(_mm512_sub_ps(v, _mm512_cvtepi32_ps(lo)), _mm512_set1_ps(2147483648.0f)));
  const __m512i carry = _mm512_srai_epi32(_mm512_sub_epi32(_mm512_srli_epi32(r, 1), f31), 31);
  __m512i sum = _mm512_min_epi32(_mm512_sub_epi32(lo, carry), _mm512_set1_epi32(h->cap));
  Lanes rin0 = *rin;
  if (h->in) {
    const __m512i lanes = take16(&rin0, h->w_in);
    if (_mm512_cmpgt_epu32_mask(lanes, _mm512_set1_epi32(h->max_in))) return -2;
    sum = _mm512_add_epi32(sum, lanes);
  }
  *rin = rin0;
  *rs = r4;
  if (sout->p) {
    // Each group's four lanes shifted to their places and added into one word.
    __m512i t = _mm512_sllv_epi32(sum, group_shifts(h->w_out));
    t = _mm512_add_epi32(t, _mm512_shuffle_epi32(t, 0x4e));
    t = _mm512_add_epi32(t, _mm512_shuffle_epi32(t, 0xb1));
    uint32_t g[16];
    _mm512_storeu_si512(g, t);
    for (int q = 0; q < 4; q++) sink_put(sout, g[4 * q], 4 * h->w_out);
  }
  if (h->dec) _mm512_storeu_ps(h->dec + i, decode16(sum, h->bias_out, h->unit));
  return -1;
}

// grid_hop of quant_kernels.c (see there), on arrays of the caller's: `in`
// holds ⌈n·w_in/8⌉ bytes and is never read past them; `out` receives
// ⌈n·w_out/8⌉ bytes. Blocks of 16 need lanes of at most 8 bits.
API AVX512 int nq_grid_hop(const float* x, int n, const float* scales, int bucket, int top,
                           const uint8_t* in, int w_in, int bias_in, uint8_t* out, int w_out,
                           float* dec, double divisor, uint32_t* state, float floor_,
                           float limit) {
  __m128i rs = _mm_loadu_si128((const __m128i*)state);
  Lanes rin = {in, in ? in + ((size_t)n * w_in + 7) / 8 : 0, 0, 0};
  Sink sout = {out, 0, 0};
  HopBucket h;
  h.x = x;
  h.top = (float)top;
  h.floor_ = floor_;
  h.limit = limit;
  h.cap = 2 * top;
  h.max_in = 2 * bias_in;
  h.bias_out = bias_in + top;
  h.w_in = w_in;
  h.w_out = w_out;
  h.mask_in = w_in > 0 ? (1u << w_in) - 1 : 0;
  h.dec = dec;
  h.in = in;
  const int blocks = (!in || w_in <= 8) && (!out || w_out <= 8);
  uint32_t lane = 0;
  for (int b0 = 0; b0 < n; b0 += bucket) {
    const int end = b0 + bucket < n ? b0 + bucket : n;
    const float s = scales[b0 / bucket];
    h.k = s > 0 ? (float)((double)top / (double)s) : 0.0f;
    h.unit = (double)s / top / divisor;
    int i = b0;
    if (blocks) {
      for (; i + 16 <= end; i += 16) {
        if (hop_block(&h, i, &rs, &rin, &sout) == -1) continue;
        for (int g = 0; g < 4; g++, i += 4) {  // the fault, found group by group
          const int bad = hop_group(&h, i, 4, &rs, &rin, &sout, &lane);
          if (bad >= 0) {
            if (bad & 1) state[4] = lane;
            return bad;
          }
        }
        i -= 16;
      }
    }
    for (; i < end; i += 4) {
      const int bad = hop_group(&h, i, end - i < 4 ? end - i : 4, &rs, &rin, &sout, &lane);
      if (bad >= 0) {
        if (bad & 1) state[4] = lane;
        return bad;
      }
    }
  }
  for (; sout.have > 0; sout.have -= 8) {
    *sout.p++ = (uint8_t)sout.acc;
    sout.acc >>= 8;
  }
  _mm_storeu_si128((__m128i*)state, rs);
  return -1;
}

// The integer all-reduce's all-gather receive, grid_unpack_dequantize of
// quant_kernels.c to the bit: lanes of w bits holding sums offset by `bias`,
// decoded to (lane − bias)·s / top / divisor into `dec`. Returns −1 or the
// first lane above 2·bias (its value to state[4]; the groups of four before
// it are written). `in` holds ⌈n·w/8⌉ bytes and is never read past them.
API AVX512 int nq_grid_unpack_dequantize(const uint8_t* in, int n, int w, int bias,
                                         const float* scales, int bucket, int top,
                                         double divisor, float* dec, uint32_t* state) {
  const uint32_t mask = (1u << w) - 1, max = 2u * (uint32_t)bias;
  Lanes r = {in, in + ((size_t)n * w + 7) / 8, 0, 0};
  for (int b0 = 0; b0 < n; b0 += bucket) {
    const int end = b0 + bucket < n ? b0 + bucket : n;
    const double unit = (double)scales[b0 / bucket] / top / divisor;
    int i = b0;
    if (w <= 8) {
      for (; i + 16 <= end; i += 16) {
        Lanes r0 = r;
        const __m512i lanes = take16(&r0, w);
        if (_mm512_cmpgt_epu32_mask(lanes, _mm512_set1_epi32((int)max))) break;  // below
        r = r0;
        _mm512_storeu_ps(dec + i, decode16(lanes, bias, unit));
      }
      // Groups of four (a block with a bad lane, and a bucket's last groups).
      for (; i + 4 <= end; i += 4) {
        const uint32_t word = lanes_take(&r, 4 * w);
        for (int j = 0; j < 4; j++) {
          const uint32_t v = (word >> (j * w)) & mask;
          if (v > max) {
            state[4] = v;
            return i + j;
          }
        }
        const __m128i shifts = _mm_setr_epi32(0, w, 2 * w, 3 * w);
        const __m128i lanes = _mm_and_si128(_mm_srlv_epi32(_mm_set1_epi32((int)word), shifts),
                                            _mm_set1_epi32((int)mask));
        _mm_storeu_ps(dec + i, decode4(lanes, bias, unit));
      }
    }
    for (; i < end; i++) {
      const uint32_t v = lanes_take(&r, w) & mask;
      if (v > max) {
        state[4] = v;
        return i;
      }
      dec[i] = (float)((double)((int32_t)v - bias) * unit);
    }
  }
  return -1;
}

// The largest |x| of each bucket (the last may be shorter) into `out`, as
// bucket_max_abs of quant_kernels.c: NaN when the bucket holds a NaN,
// Infinity when it holds an infinity and no NaN.
API AVX512 void nq_bucket_max_abs(const float* x, int n, int bucket, float* out) {
  for (int b0 = 0, k = 0; b0 < n; b0 += bucket, k++) {
    const int end = b0 + bucket < n ? b0 + bucket : n;
    __m512 m0 = _mm512_setzero_ps(), m1 = m0;
    __mmask16 nan = 0;
    int i = b0;
    for (; i + 32 <= end; i += 32) {
      const __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + 16);
      m0 = _mm512_max_ps(m0, _mm512_abs_ps(a));
      m1 = _mm512_max_ps(m1, _mm512_abs_ps(b));
      nan |= _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
    }
    float r = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
    for (; i < end; i++) {
      const float v = __builtin_fabsf(x[i]);
      if (v != v) nan = 1;
      r = v > r ? v : r;
    }
    out[k] = nan ? __builtin_nanf("") : r;
  }
}

// Sign-magnitude stochastic rounding of x[0, n) in buckets of `bucket`
// coordinates (a multiple of 16) onto `nlev` levels (2..16; levels[0] = 0 <
// ... < levels[nlev-1] = 1), as sm_quantize_pack of quant_kernels.c does:
// one float32 norm per bucket to `norms` (kind 2: L2, kind 0: L-infinity);
// the codes to exactly one of `codes` (uint16 each) and `packed` (`bits` 4 or
// 8, LSB-first, a partial last byte zero-padded; 2·nlev ≤ 2^bits); when
// `hist` is given, every 8th normalized coordinate of each bucket with a
// nonzero norm, from the bucket's first, added to its `hb` bins over [0, 1]
// (`hcount`, 2·hb words, is scratch for it). stats[0] = Σ(Q(x)_i - x_i)²,
// stats[1] = Σ x_i². `state` holds the random streams (nq_seed), advanced.
// Returns -1; the index of the first bucket whose norm is not finite
// (stopping there: stats and hist are then not updated); or -2 when the
// arguments are outside the above.
API AVX512 int nq_quantize(const float* x, int n, int bucket, int kind, const float* levels,
                           int nlev, float* norms, uint16_t* codes, uint8_t* packed, int bits,
                           double* hist, int hb, uint32_t* hcount, uint32_t* state,
                           double* stats) {
  if (n < 0 || bucket <= 0 || bucket % 16 != 0 || (kind != 0 && kind != 2) || nlev < 2 ||
      nlev > 16 || !codes == !packed || (hist && (hb < 1 || !hcount))) {
    return -2;
  }
  if (packed && !((bits == 4 || bits == 8) && 2 * nlev <= (1 << bits))) return -2;
  Ctx c;
  const __mmask16 all = (__mmask16)((1u << nlev) - 1);
  c.one = _mm512_set1_ps(1.0f);
  c.L = _mm512_maskz_loadu_ps(all, levels);
  c.H = _mm512_maskz_loadu_ps(all >> 1, levels + 1);
  c.F = _mm512_mask_blend_ps((__mmask16)(1u << (nlev - 2)), c.H, _mm512_set1_ps(2.0f));
  float g[16] = {0};
  for (int j = 0; j + 1 < nlev; j++) g[j] = 4294967296.0f / (levels[j + 1] - levels[j]);
  c.G = _mm512_loadu_ps(g);
  c.hb = hb;
  c.vhb = _mm_set1_ps((float)hb);
  c.hbtop = _mm_set1_epi32(hb - 1);
  c.hc = hist ? hcount : 0;
  if (c.hc) memset(c.hc, 0, 2 * (size_t)hb * sizeof(uint32_t));
  bin_table(levels, nlev, &c);
  int bad;
#define CASE(NIN)                                                                              \
  case NIN + 2:                                                                                \
    bad = quantize_##NIN(x, n, bucket, kind, levels, nlev, norms, codes, packed, bits, &c,     \
                         state, stats);                                                        \
    break;
  // The bin table (a product, a conversion and a gather, then 1 to 3 steps
  // of a gather, a comparison and an add) when it costs less than counting
  // (a comparison and an add per interior level).
  int bins = 0;
#ifdef QODA_VBMI
  if (c.fix >= 1 && c.fix <= 3 && 3 + 3 * c.fix < 2 * (nlev - 2)) bins = c.fix;
#endif
  if (bins) {
    int (*f)(const float*, int, int, int, const float*, int, float*, uint16_t*, uint8_t*, int,
             const Ctx*, uint32_t*, double*) =
        bins == 1 ? quantize_bins1 : bins == 2 ? quantize_bins2 : quantize_bins3;
    bad = f(x, n, bucket, kind, levels, nlev, norms, codes, packed, bits, &c, state, stats);
  } else {
    switch (nlev) {
      CASE(0) CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7)
      CASE(8) CASE(9) CASE(10) CASE(11) CASE(12) CASE(13) CASE(14)
      default: return -2;
    }
  }
#undef CASE
  if (bad < 0 && c.hc) {
    for (int b = 0; b < hb; b++) hist[b] += (double)c.hc[b] + c.hc[hb + b];
  }
  return bad;
}
