// The runtime's op kernels (head.h), AVX-512 VNNI (compiled with the avx512 path's flags only).
//
// vpdpbusd multiplies unsigned by signed bytes and sums four products straight into
// int32 (no int16 step): |w| times x negated where w < 0.
#include <immintrin.h>

#include "head.h"

namespace bitnet {
namespace {

inline __m512i dot64(__m512i acc, __m512i w, __m512i x) {
  const __m512i sx = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(w), _mm512_setzero_si512(), x);
  return _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(w), sx);
}

void i8_rows(const int8_t* w, size_t cols, const int8_t* xq, size_t x_stride, size_t batch,
             size_t r0, size_t r1, float* y, size_t y_stride, const float* scale, const float* s_x) {
  const size_t c64 = cols / 64 * 64;
  const __mmask64 tail = cols > c64 ? (~0ULL >> (64 - (cols - c64))) : 0;
  for (size_t r = r0; r < r1; ++r) {
    const int8_t* row = w + r * cols;
    for (size_t b = 0; b < batch; ++b) {
      const int8_t* x = xq + b * x_stride;
      __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
      size_t c = 0;
      for (; c + 128 <= c64; c += 128) {
        a0 = dot64(a0, _mm512_loadu_si512(row + c), _mm512_loadu_si512(x + c));
        a1 = dot64(a1, _mm512_loadu_si512(row + c + 64), _mm512_loadu_si512(x + c + 64));
      }
      for (; c < c64; c += 64) a0 = dot64(a0, _mm512_loadu_si512(row + c), _mm512_loadu_si512(x + c));
      if (tail)
        a1 = dot64(a1, _mm512_maskz_loadu_epi8(tail, row + c), _mm512_maskz_loadu_epi8(tail, x + c));
      const int32_t acc = _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1));
      y[b * y_stride + r] = static_cast<float>(acc) * (scale[r] * (1.0f / s_x[b]));
    }
  }
}

// Two blocks (32 bytes) as 64 signed bytes q - 8 in column order: [lo0 hi0 lo1 hi1].
inline __m512i q4_pair(const uint8_t* blk) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk));
  const __m256i m = _mm256_set1_epi8(15);
  const __m256i lo = _mm256_and_si256(v, m), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
  const __m512i t = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);  // lo0 lo1 hi0 hi1
  const __m512i q = _mm512_shuffle_i64x2(t, t, _MM_SHUFFLE(3, 1, 2, 0));
  return _mm512_sub_epi8(q, _mm512_set1_epi8(8));
}

void q4_rows(const uint8_t* w, const uint16_t* d, size_t cols, const int8_t* xq, size_t x_stride,
             size_t batch, size_t r0, size_t r1, float* y, size_t y_stride, const float* s_x) {
  const size_t nb = q4_cols(cols) / kQ4Block, rb = q4_row_bytes(cols);
  for (size_t r = r0; r < r1; ++r) {
    const uint8_t* row = w + r * rb;
    const uint16_t* dr = d + r * nb;
    for (size_t b = 0; b < batch; ++b) {
      const int8_t* x = xq + b * x_stride;
      __m512 acc = _mm512_setzero_ps();
      size_t k = 0;
      for (; k + 2 <= nb; k += 2) {
        const __m512i s = dot64(_mm512_setzero_si512(), q4_pair(row + k * 16),
                                _mm512_loadu_si512(x + k * kQ4Block));
        const __m512 dk = _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(_cvtsh_ss(dr[k])),
                                               _mm512_set1_ps(_cvtsh_ss(dr[k + 1])));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), dk, acc);
      }
      float tail = 0.0f;
      if (k < nb) {  // an odd last block
        const uint8_t* blk = row + k * 16;
        const int8_t* xb = x + k * kQ4Block;
        int32_t s = 0;
        for (int j = 0; j < 16; ++j)
          s += ((blk[j] & 15) - 8) * xb[j] + ((blk[j] >> 4) - 8) * xb[j + 16];
        tail = _cvtsh_ss(dr[k]) * static_cast<float>(s);
      }
      y[b * y_stride + r] = (_mm512_reduce_add_ps(acc) + tail) * (1.0f / s_x[b]);
    }
  }
}

// Attention rows are short (head_dim 64 / 128): 16-wide with a masked tail.
inline __mmask16 tail16(size_t left) { return static_cast<__mmask16>((1u << left) - 1); }

float dot_f32(const float* a, const float* b, size_t n) {
  __m512 acc = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
  if (i < n) {
    const __mmask16 m = tail16(n - i);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

inline __m512 load_h(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512 load_h_masked(__mmask16 m, const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

float dot_f16(const float* a, const uint16_t* b, size_t n) {
  __m512 acc = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), load_h(b + i), acc);
  if (i < n) {
    const __mmask16 m = tail16(n - i);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), load_h_masked(m, b + i), acc);
  }
  return _mm512_reduce_add_ps(acc);
}

void axpy_f32(float a, const float* x, float* y, size_t n) {
  const __m512 av = _mm512_set1_ps(a);
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

void axpy_f16(float a, const uint16_t* x, float* y, size_t n) {
  const __m512 av = _mm512_set1_ps(a);
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, load_h(x + i), _mm512_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * _cvtsh_ss(x[i]);
}

void to_f16(const float* x, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) out[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

const OpKernels kAvx512{"avx512", i8_rows, q4_rows, dot_f32, dot_f16, axpy_f32, axpy_f16, to_f16};

}  // namespace

const OpKernels* ops_avx512() { return &kAvx512; }

}  // namespace bitnet
