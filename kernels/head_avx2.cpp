// The runtime's op kernels (head.h), AVX2 (compiled with -mavx2 -mfma -mf16c only).
//
// int8 x int8 with maddubs needs one unsigned operand: |w| times x carrying w's sign
// (psignb), which also zeroes x where w is 0. |w| <= 127 and |x| <= 127, so a pair of
// products (<= 32258) never saturates int16.
#include <immintrin.h>

#include <cstring>
#include <type_traits>
#include <vector>

#include "attention_simd.h"
#include "head.h"

namespace bitnet {
namespace {

inline __m256i dot32(__m256i w, __m256i x, __m256i ones16) {
  const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x, w));
  return _mm256_madd_epi16(p, ones16);
}

inline int32_t hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// int8 head: two rows share each activation load, software prefetch 16 KiB ahead of
// each row (the head is the largest matrix of a token, streamed once).
constexpr size_t kI8Prefetch = 16384;

template <int R>
void i8_tile(const int8_t* w, size_t cols, const int8_t* x, int32_t* out) {
  const __m256i ones16 = _mm256_set1_epi16(1);
  const size_t c32 = cols / 32 * 32;
  __m256i acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_si256();
  size_t c = 0;
  for (; c < c32; c += 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + c));
    for (int r = 0; r < R; ++r) {
      const int8_t* src = w + r * cols + c;
      if (c % 64 == 0) _mm_prefetch(reinterpret_cast<const char*>(src + kI8Prefetch), _MM_HINT_T1);
      acc[r] = _mm256_add_epi32(acc[r], dot32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src)), a, ones16));
    }
  }
  for (int r = 0; r < R; ++r) {
    int32_t t = hsum_i32(acc[r]);
    for (size_t k = c; k < cols; ++k) t += static_cast<int32_t>(w[r * cols + k]) * x[k];
    out[r] = t;
  }
}

void i8_rows(const int8_t* w, size_t cols, const int8_t* xq, size_t x_stride, size_t batch,
             size_t r0, size_t r1, float* y, size_t y_stride, const float* scale, const float* s_x) {
  // Rows outside, tokens inside: a tile's rows stay in L1 for every token of a batch.
  auto tile = [&](auto rn, size_t r) {
    constexpr int R = decltype(rn)::value;
    for (size_t b = 0; b < batch; ++b) {
      int32_t acc[R];
      i8_tile<R>(w + r * cols, cols, xq + b * x_stride, acc);
      const float inv_sx = 1.0f / s_x[b];
      for (int i = 0; i < R; ++i) y[b * y_stride + r + i] = static_cast<float>(acc[i]) * (scale[r + i] * inv_sx);
    }
  };
  size_t r = r0;
  for (; r + 2 <= r1; r += 2) tile(std::integral_constant<int, 2>(), r);
  for (; r < r1; ++r) tile(std::integral_constant<int, 1>(), r);
}

// Q4, two blocks (32 weight bytes) per step, the nibbles kept unsigned (q in 0..15) for
// maddubs: the low nibbles of both blocks meet a 32-byte vector of the blocks' first 16
// activations each, the high nibbles one of their last 16 (regrouped once per call into
// `xg`); the offset (q - 8) is a per-lane start value -8 * (the lane's activations) in
// `x8`. Pair sums stay within int16 (2 * 15 * 127 per maddubs, two of them added), madd
// widens them, and each 128-bit lane -- one block -- is scaled by its fp16 scale in
// float. Two rows share the activation loads; software prefetch 16 KiB ahead.
constexpr size_t kQ4Prefetch = 16384;

struct Q4Token {
  const int8_t* xg;   // (groups, 64): per pair of blocks, low-half then high-half activations
  const int32_t* x8;  // (groups, 8)
};

void q4_regroup(const int8_t* x, size_t nb, int8_t* xg, int32_t* x8) {
  const size_t ng = (nb + 1) / 2;
  const __m256i eights = _mm256_set1_epi8(8), ones16 = _mm256_set1_epi16(1);
  for (size_t g = 0; g < ng; ++g) {
    const __m128i zero = _mm_setzero_si128();
    const int8_t* b0 = x + 2 * g * kQ4Block;
    const bool second = 2 * g + 1 < nb;
    const __m128i l0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0));
    const __m128i h0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0 + 16));
    const __m128i l1 = second ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0 + 32)) : zero;
    const __m128i h1 = second ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(b0 + 48)) : zero;
    const __m256i a = _mm256_set_m128i(l1, l0), b = _mm256_set_m128i(h1, h0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(xg + g * 64), a);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(xg + g * 64 + 32), b);
    const __m256i s = _mm256_madd_epi16(
        _mm256_add_epi16(_mm256_maddubs_epi16(eights, a), _mm256_maddubs_epi16(eights, b)), ones16);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(x8 + g * 8), _mm256_sub_epi32(_mm256_setzero_si256(), s));
  }
}

// Scales of the two blocks of a group, one per 128-bit lane (`two` false: the second is 0).
inline __m256 q4_scales(const uint16_t* d, bool two) {
  int32_t bits = d[0];
  if (two) std::memcpy(&bits, d, sizeof bits);
  const __m128i h = _mm_cvtsi32_si128(bits);
  const __m256 f = _mm256_castps128_ps256(_mm_cvtph_ps(h));
  return _mm256_permutevar8x32_ps(f, _mm256_set_epi32(1, 1, 1, 1, 0, 0, 0, 0));
}

inline __m256i q4_pair_sum(__m256i v, __m256i alo, __m256i ahi, __m256i start) {
  const __m256i m4 = _mm256_set1_epi8(15), ones16 = _mm256_set1_epi16(1);
  const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
  const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, alo), _mm256_maddubs_epi16(hi, ahi));
  return _mm256_add_epi32(_mm256_madd_epi16(p, ones16), start);
}

template <int R>
void q4_tile(const uint8_t* w, size_t rb, const uint16_t* d, size_t nb, const Q4Token& x, float inv_sx, float* y) {
  const size_t full = nb / 2;
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  for (size_t g = 0; g < full; ++g) {
    const __m256i alo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.xg + g * 64));
    const __m256i ahi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.xg + g * 64 + 32));
    const __m256i start = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.x8 + g * 8));
    for (int r = 0; r < R; ++r) {
      const uint8_t* src = w + r * rb + g * 32;
      if ((g & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(src + kQ4Prefetch), _MM_HINT_T1);
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
      const __m256i s = q4_pair_sum(v, alo, ahi, start);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), q4_scales(d + r * nb + g * 2, true), acc[r]);
    }
  }
  if (nb % 2) {  // a last single block: its upper half meets zero activations
    const size_t g = full;
    const __m256i alo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.xg + g * 64));
    const __m256i ahi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.xg + g * 64 + 32));
    const __m256i start = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.x8 + g * 8));
    for (int r = 0; r < R; ++r) {
      const __m256i v = _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + r * rb + g * 32)));
      const __m256i s = q4_pair_sum(_mm256_inserti128_si256(v, _mm_setzero_si128(), 1), alo, ahi, start);
      acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), q4_scales(d + r * nb + g * 2, false), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = hsum_ps(acc[r]) * inv_sx;
}

void q4_rows(const uint8_t* w, const uint16_t* d, size_t cols, const int8_t* xq, size_t x_stride,
             size_t batch, size_t r0, size_t r1, float* y, size_t y_stride, const float* s_x) {
  const size_t nb = q4_cols(cols) / kQ4Block, rb = q4_row_bytes(cols), ng = (nb + 1) / 2;
  thread_local std::vector<int8_t> xg;
  thread_local std::vector<int32_t> x8;
  if (xg.size() < batch * ng * 64) xg.resize(batch * ng * 64);
  if (x8.size() < batch * ng * 8) x8.resize(batch * ng * 8);
  for (size_t b = 0; b < batch; ++b)
    q4_regroup(xq + b * x_stride, nb, xg.data() + b * ng * 64, x8.data() + b * ng * 8);
  for (size_t r = r0; r < r1; r += 2) {  // rows outside: a tile stays in L1 for every token
    for (size_t b = 0; b < batch; ++b) {
      const Q4Token x{xg.data() + b * ng * 64, x8.data() + b * ng * 8};
      const float inv_sx = 1.0f / s_x[b];
      float* yb = y + b * y_stride + r;
      if (r + 2 <= r1) q4_tile<2>(w + r * rb, rb, d + r * nb, nb, x, inv_sx, yb);
      else q4_tile<1>(w + r * rb, rb, d + r * nb, nb, x, inv_sx, yb);
    }
  }
}

// Vector traits for attention_simd.h.
struct Vec256 {
  using V = __m256;
  static constexpr size_t VL = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V load_h(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V round(V x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V pow2(V n) {  // 2^n for integral n in [-126, 127]
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
  }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static float reduce1(V v) { return hsum_ps(v); }
  static __m128 reduce4(V a, V b, V c, V d) {  // the four sums, in order
    const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  }
  static void store4(float* p, __m128 v, float scale) { _mm_storeu_ps(p, _mm_mul_ps(v, _mm_set1_ps(scale))); }
  static float scalar(const void* base, bool f16, size_t i) {
    return f16 ? _cvtsh_ss(static_cast<const uint16_t*>(base)[i]) : static_cast<const float*>(base)[i];
  }
};

void to_f16(const float* x, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) out[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

const OpKernels kAvx2{"avx2", i8_rows, q4_rows, attn_scores<Vec256>, attn_wsum<Vec256>,
                        attn_scores4<Vec256>, attn_wsum4<Vec256>,
                        exp_sum<Vec256>, silu_mul<Vec256>, to_f16};

}  // namespace

const OpKernels* ops_avx2() { return &kAvx2; }

}  // namespace bitnet
