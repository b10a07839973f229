// The runtime's op kernels (head.h), AVX-512 VNNI (compiled with the avx512 path's flags only).
//
// vpdpbusd multiplies unsigned by signed bytes and sums four products straight into
// int32 (no int16 step).
#include <immintrin.h>

#include <cstring>
#include <type_traits>
#include <vector>

#include "attention_simd.h"
#include "head.h"

namespace bitnet {
namespace {

// int8 head: w ^ 0x80 = w + 128 is an unsigned byte, so vpdpbusd takes the weights with
// one XOR and dot(w, x) = dot(w + 128, x) - 128 * sum(x), the sum once per token. In a batch
// two rows share each activation load (one token: one row, see kSingleRowNote); software
// prefetch 16 KiB ahead of each row (the head is the largest matrix of a token, streamed
// once). Exact: |255 * 127 * 4| per lane per step.
constexpr size_t kI8Prefetch = 16384;

// kSingleRowNote: for one token the int8 and 4-bit heads, like the F16 one, read one row
// at a time, a single stream, instead of two rows side by side. Decode A/B of the 2B4T
// shape on SPR, three rounds, ms per token at 2 threads: int8 head 28.1-29.2 -> 27.6-27.8,
// 4-bit head 24.1-24.8 -> 23.5-23.9 (at 1 thread within noise).

int32_t sum_x(const int8_t* x, size_t cols) {
  const size_t c64 = cols / 64 * 64;
  __m512i s = _mm512_setzero_si512();
  for (size_t c = 0; c < c64; c += 64) s = _mm512_dpbusd_epi32(s, _mm512_set1_epi8(1), _mm512_loadu_si512(x + c));
  int32_t t = _mm512_reduce_add_epi32(s);
  for (size_t c = c64; c < cols; ++c) t += x[c];
  return t;
}

template <int R>
void i8_tile(const int8_t* w, size_t cols, const int8_t* x, int32_t* out) {
  const size_t c64 = cols / 64 * 64;
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512i acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_si512();
  size_t c = 0;
  for (; c < c64; c += 64) {
    const __m512i a = _mm512_loadu_si512(x + c);
    for (int r = 0; r < R; ++r) {
      const int8_t* src = w + r * cols + c;
      _mm_prefetch(reinterpret_cast<const char*>(src + kI8Prefetch), _MM_HINT_T1);
      acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_xor_si512(_mm512_loadu_si512(src), flip), a);
    }
  }
  if (c < cols) {  // masked tail: x is zero there, so the flipped zeros add nothing
    const __mmask64 m = ~0ULL >> (64 - (cols - c));
    const __m512i a = _mm512_maskz_loadu_epi8(m, x + c);
    for (int r = 0; r < R; ++r)
      acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, w + r * cols + c), flip), a);
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_epi32(acc[r]);
}

void i8_rows(const int8_t* w, size_t cols, const int8_t* xq, size_t x_stride, size_t batch,
             size_t r0, size_t r1, float* y, size_t y_stride, const float* scale, const float* s_x) {
  thread_local std::vector<int32_t> bias;
  if (bias.size() < batch) bias.resize(batch);
  for (size_t b = 0; b < batch; ++b) bias[b] = 128 * sum_x(xq + b * x_stride, cols);
  // Rows outside, tokens inside: a tile's rows stay in L1 for every token of a batch.
  auto tile = [&](auto rn, size_t r) {
    constexpr int R = decltype(rn)::value;
    for (size_t b = 0; b < batch; ++b) {
      int32_t acc[R];
      i8_tile<R>(w + r * cols, cols, xq + b * x_stride, acc);
      const float inv_sx = 1.0f / s_x[b];
      for (int i = 0; i < R; ++i) y[b * y_stride + r + i] = static_cast<float>(acc[i] - bias[b]) * (scale[r + i] * inv_sx);
    }
  };
  size_t r = r0;
  // One token: one row at a time (a single stream; see kSingleRowNote).
  if (batch > 1)
    for (; r + 2 <= r1; r += 2) tile(std::integral_constant<int, 2>(), r);
  for (; r < r1; ++r) tile(std::integral_constant<int, 1>(), r);
}

// Q4, four blocks (64 weight bytes) per step. The nibbles stay unsigned (q in 0..15) so
// vpdpbusd takes them as they are: the low nibbles of the four blocks meet a 64-byte
// vector of those blocks' first 16 activations each, the high nibbles one of their last
// 16, so once per call every token's activations are regrouped that way (`xg`), and
// the offset (q - 8) becomes a per-lane start value -8 * (the lane's four activations)
// for the accumulator (`x8`). Each 128-bit lane then holds one block's sum; it is
// scaled by that block's fp16 scale (four scales, one per lane) in float. In a batch rows
// come two at a time (they share the activation loads; one token: one row, see
// kSingleRowNote), with a software prefetch 16 KiB ahead, as
// the ternary GEMV does: per 64 weight bytes 2 vpdpbusd + 3 decode ops + 4 for scales.
constexpr size_t kQ4Prefetch = 16384;

struct Q4Token {
  const int8_t* xg;   // (groups, 128): per group of 4 blocks, low-half then high-half activations
  const int32_t* x8;  // (groups, 16): -8 * sum of each lane's four activations
};

// Regroups one token's activations for `nb` blocks; a last partial group is zero-filled.
void q4_regroup(const int8_t* x, size_t nb, int8_t* xg, int32_t* x8) {
  const size_t ng = (nb + 3) / 4;
  const __m512i eights = _mm512_set1_epi8(8);
  for (size_t g = 0; g < ng; ++g) {
    alignas(64) int8_t lo[64], hi[64];
    for (size_t i = 0; i < 4; ++i) {
      const size_t k = g * 4 + i;
      if (k < nb) {
        std::memcpy(lo + i * 16, x + k * kQ4Block, 16);
        std::memcpy(hi + i * 16, x + k * kQ4Block + 16, 16);
      } else {
        std::memset(lo + i * 16, 0, 16);
        std::memset(hi + i * 16, 0, 16);
      }
    }
    const __m512i a = _mm512_load_si512(lo), b = _mm512_load_si512(hi);
    _mm512_storeu_si512(xg + g * 128, a);
    _mm512_storeu_si512(xg + g * 128 + 64, b);
    const __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), eights, a), eights, b);
    _mm512_storeu_si512(x8 + g * 16, _mm512_sub_epi32(_mm512_setzero_si512(), s));
  }
}

// Block scales of group g as one float per 128-bit lane; a partial last group masks the
// missing scales (they would be the next row's: finite, but never read past the array).
inline __m512 q4_scales(const uint16_t* d, __mmask8 m) {
  const __m128 f = _mm_cvtph_ps(_mm_maskz_loadu_epi16(m, d));
  const __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(f));
}

template <int R>
void q4_tile(const uint8_t* w, size_t rb, const uint16_t* d, size_t nb, const Q4Token& x, float inv_sx,
             float* y, size_t y_stride_rows) {
  const size_t full = nb / 4, rem = nb % 4;
  const __m512i m4 = _mm512_set1_epi8(15);
  __m512 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
  for (size_t g = 0; g < full; ++g) {
    const __m512i alo = _mm512_loadu_si512(x.xg + g * 128), ahi = _mm512_loadu_si512(x.xg + g * 128 + 64);
    const __m512i start = _mm512_loadu_si512(x.x8 + g * 16);
    for (int r = 0; r < R; ++r) {
      const uint8_t* src = w + r * rb + g * 64;
      _mm_prefetch(reinterpret_cast<const char*>(src + kQ4Prefetch), _MM_HINT_T1);
      const __m512i v = _mm512_loadu_si512(src);
      const __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
      const __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(start, lo, alo), hi, ahi);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), q4_scales(d + r * nb + g * 4, 0x0f), acc[r]);
    }
  }
  if (rem) {
    const size_t g = full;
    const __mmask64 wm = ~0ULL >> (64 - 16 * rem);
    const __m512i alo = _mm512_loadu_si512(x.xg + g * 128), ahi = _mm512_loadu_si512(x.xg + g * 128 + 64);
    const __m512i start = _mm512_loadu_si512(x.x8 + g * 16);
    for (int r = 0; r < R; ++r) {
      const __m512i v = _mm512_maskz_loadu_epi8(wm, w + r * rb + g * 64);
      const __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
      const __m512i s = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(start, lo, alo), hi, ahi);
      const __mmask8 dm = static_cast<__mmask8>((1u << rem) - 1);
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), q4_scales(d + r * nb + g * 4, dm), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) y[r * y_stride_rows] = _mm512_reduce_add_ps(acc[r]) * inv_sx;
}

void q4_rows(const uint8_t* w, const uint16_t* d, size_t cols, const int8_t* xq, size_t x_stride,
             size_t batch, size_t r0, size_t r1, float* y, size_t y_stride, const float* s_x) {
  const size_t nb = q4_cols(cols) / kQ4Block, rb = q4_row_bytes(cols), ng = (nb + 3) / 4;
  thread_local std::vector<int8_t> xg;
  thread_local std::vector<int32_t> x8;
  if (xg.size() < batch * ng * 128) xg.resize(batch * ng * 128);
  if (x8.size() < batch * ng * 16) x8.resize(batch * ng * 16);
  for (size_t b = 0; b < batch; ++b)
    q4_regroup(xq + b * x_stride, nb, xg.data() + b * ng * 128, x8.data() + b * ng * 16);
  // Rows outside: a tile stays in L1 for every token. One token: one row at a time.
  const size_t step = batch > 1 ? 2 : 1;
  for (size_t r = r0; r < r1; r += step) {
    for (size_t b = 0; b < batch; ++b) {
      const Q4Token x{xg.data() + b * ng * 128, x8.data() + b * ng * 16};
      const float inv_sx = 1.0f / s_x[b];
      float* yb = y + b * y_stride + r;
      if (r + 2 <= r1 && step == 2) q4_tile<2>(w + r * rb, rb, d + r * nb, nb, x, inv_sx, yb, 1);
      else q4_tile<1>(w + r * rb, rb, d + r * nb, nb, x, inv_sx, yb, 1);
    }
  }
}

// Vector traits for attention_simd.h.
struct Vec512 {
  using V = __m512;
  static constexpr size_t VL = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V load_h(const uint16_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V round(V x) { return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static V pow2(V n) {  // 2^n for integral n in [-126, 127]
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
  }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static float reduce1(V v) { return _mm512_reduce_add_ps(v); }
  static __m256 half(V v) {
    return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  }
  static __m128 reduce4(V a, V b, V c, V d) {  // the four sums, in order
    const __m256 ab = _mm256_hadd_ps(half(a), half(b)), cd = _mm256_hadd_ps(half(c), half(d));
    const __m256 s = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  }
  static void store4(float* p, __m128 v, float scale) { _mm_storeu_ps(p, _mm_mul_ps(v, _mm_set1_ps(scale))); }
  static float scalar(const void* base, bool f16, size_t i) {
    return f16 ? _cvtsh_ss(static_cast<const uint16_t*>(base)[i]) : static_cast<const float*>(base)[i];
  }
};

void to_f16(const float* x, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) out[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

const OpKernels kAvx512{"avx512", i8_rows, q4_rows, attn_scores<Vec512>, attn_wsum<Vec512>,
                          attn_scores4<Vec512>, attn_wsum4<Vec512>,
                          exp_sum<Vec512>, silu_mul<Vec512>, to_f16};

}  // namespace

const OpKernels* ops_avx512() { return &kAvx512; }

}  // namespace bitnet
