// 256-bit ternary decoders shared by the AVX2 and AVX-512 translation units (each
// includes this header under its own ISA flags; everything here has internal linkage).
//
// One 32-byte block of a layout (kernels.h) decodes into NC vectors of codes in {0,1,2}:
// vector n holds the codes of block elements 32n .. 32n + 31, i.e. of consecutive
// columns, so a decoded block is simply the block's codes in column order.
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace bitnet {
namespace {

struct DecodeI2 {
  static constexpr int NC = 4;
  __m256i w;
  DecodeI2() = default;
  explicit DecodeI2(__m256i bytes) : w(bytes) {}
  // Plane n: bits 2n+1:2n of every byte. The 16-bit shift drags bits across byte
  // boundaries, the mask removes them.
  __m256i next(int n) {
    const __m256i m3 = _mm256_set1_epi8(3);
    switch (n) {
      case 0: return _mm256_and_si256(w, m3);
      case 1: return _mm256_and_si256(_mm256_srli_epi16(w, 2), m3);
      case 2: return _mm256_and_si256(_mm256_srli_epi16(w, 4), m3);
      default: return _mm256_and_si256(_mm256_srli_epi16(w, 6), m3);
    }
  }
};

// B3: trit n = floor(3 * q_n / 256) with q_n = byte * 3^n mod 256, i.e.
// (q_n > 85) + (q_n > 170). AVX2 only has signed byte compares, so we track
// q' = q ^ 0x80 = q - 128; multiplying by 3 mod 256 keeps that offset
// (3 * (q + 128) = 3q + 384 = 3q + 128 mod 256), so q' can be stepped directly.
struct DecodeB3 {
  static constexpr int NC = 5;
  __m256i q;
  DecodeB3() = default;
  explicit DecodeB3(__m256i bytes) : q(_mm256_xor_si256(bytes, _mm256_set1_epi8(-128))) {}
  __m256i next(int n) {
    if (n > 0) q = _mm256_add_epi8(_mm256_add_epi8(q, q), q);
    const __m256i gt1 = _mm256_cmpgt_epi8(q, _mm256_set1_epi8(85 - 128));
    const __m256i gt2 = _mm256_cmpgt_epi8(q, _mm256_set1_epi8(170 - 128));
    return _mm256_abs_epi8(_mm256_add_epi8(gt1, gt2));  // compares give -1 per hit
  }
};

// Codes of one packed row in column order: dst[c] = w[c] + 1 for c < padded_cols.
template <class D>
inline void unpack_codes(const uint8_t* row, size_t nblocks, uint8_t* dst) {
  for (size_t b = 0; b < nblocks; ++b) {
    D dec(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + b * 32)));
    for (int n = 0; n < D::NC; ++n)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + (b * D::NC + n) * 32), dec.next(n));
  }
}

// Sum of n int8 values (n a multiple of 32). sad against zero sums unsigned bytes, so
// the sign bit is flipped first and the bias taken off afterwards.
inline int32_t sum_i8(const int8_t* x, size_t n) {
  const __m256i bias = _mm256_set1_epi8(-128);
  __m256i acc = _mm256_setzero_si256();
  for (size_t i = 0; i < n; i += 32) {
    const __m256i v = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)), bias);
    acc = _mm256_add_epi64(acc, _mm256_sad_epu8(v, _mm256_setzero_si256()));
  }
  __m128i s = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  s = _mm_add_epi64(s, _mm_unpackhi_epi64(s, s));
  return static_cast<int32_t>(_mm_cvtsi128_si64(s) - 128 * static_cast<int64_t>(n));
}

inline int32_t hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

}  // namespace
}  // namespace bitnet
