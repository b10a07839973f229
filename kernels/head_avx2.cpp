// The runtime's op kernels (head.h), AVX2 (compiled with -mavx2 -mfma -mf16c only).
//
// int8 x int8 with maddubs needs one unsigned operand: |w| times x carrying w's sign
// (psignb), which also zeroes x where w is 0. |w| <= 127 and |x| <= 127, so a pair of
// products (<= 32258) never saturates int16.
#include <immintrin.h>

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

void i8_rows(const int8_t* w, size_t cols, const int8_t* xq, size_t x_stride, size_t batch,
             size_t r0, size_t r1, float* y, size_t y_stride, const float* scale, const float* s_x) {
  const __m256i ones16 = _mm256_set1_epi16(1);
  const size_t c64 = cols / 64 * 64, c32 = cols / 32 * 32;
  for (size_t r = r0; r < r1; ++r) {
    const int8_t* row = w + r * cols;
    for (size_t b = 0; b < batch; ++b) {
      const int8_t* x = xq + b * x_stride;
      __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
      size_t c = 0;
      for (; c < c64; c += 64) {
        const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + c));
        const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + c + 32));
        a0 = _mm256_add_epi32(a0, dot32(w0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + c)), ones16));
        a1 = _mm256_add_epi32(a1, dot32(w1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + c + 32)), ones16));
      }
      for (; c < c32; c += 32) {
        const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + c));
        a0 = _mm256_add_epi32(a0, dot32(w0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + c)), ones16));
      }
      int32_t acc = hsum_i32(_mm256_add_epi32(a0, a1));
      for (; c < cols; ++c) acc += static_cast<int32_t>(row[c]) * x[c];
      y[b * y_stride + r] = static_cast<float>(acc) * (scale[r] * (1.0f / s_x[b]));
    }
  }
}

// The 32 weights of one block as signed bytes q - 8, in column order.
inline __m256i q4_block(const uint8_t* blk) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk));
  const __m128i m = _mm_set1_epi8(15);
  const __m128i lo = _mm_and_si128(v, m), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m);
  return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
}

void q4_rows(const uint8_t* w, const uint16_t* d, size_t cols, const int8_t* xq, size_t x_stride,
             size_t batch, size_t r0, size_t r1, float* y, size_t y_stride, const float* s_x) {
  const size_t nb = q4_cols(cols) / kQ4Block, rb = q4_row_bytes(cols);
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (size_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + r * rb;
    const uint16_t* dr = d + r * nb;
    for (size_t b = 0; b < batch; ++b) {
      const int8_t* x = xq + b * x_stride;
      __m256 acc = _mm256_setzero_ps();
      for (size_t k = 0; k < nb; ++k) {
        const __m256i xb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + k * kQ4Block));
        const __m256i s = dot32(q4_block(row + k * 16), xb, ones16);
        const __m256 dk = _mm256_set1_ps(_cvtsh_ss(dr[k]));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), dk, acc);
      }
      y[b * y_stride + r] = hsum_ps(acc) * (1.0f / s_x[b]);
    }
  }
}

float dot_f32(const float* a, const float* b, size_t n) {
  __m256 acc = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  float s = hsum_ps(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

float dot_f16(const float* a, const uint16_t* b, size_t n) {
  __m256 acc = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 bv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), bv, acc);
  }
  float s = hsum_ps(acc);
  for (; i < n; ++i) s += a[i] * _cvtsh_ss(b[i]);
  return s;
}

void axpy_f32(float a, const float* x, float* y, size_t n) {
  const __m256 av = _mm256_set1_ps(a);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

void axpy_f16(float a, const uint16_t* x, float* y, size_t n) {
  const __m256 av = _mm256_set1_ps(a);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 xv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i)));
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, xv, _mm256_loadu_ps(y + i)));
  }
  for (; i < n; ++i) y[i] += a * _cvtsh_ss(x[i]);
}

void to_f16(const float* x, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) out[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

const OpKernels kAvx2{"avx2", i8_rows, q4_rows, dot_f32, dot_f16, axpy_f32, axpy_f16, to_f16};

}  // namespace

const OpKernels* ops_avx2() { return &kAvx2; }

}  // namespace bitnet
