// Binary kernels, AVX2.
//
// Four packed bytes are 32 weights. They are broadcast to every dword, `vpshufb`
// copies byte i / 8 into lane i, an AND with the bit-select constant {1, 2, 4, ..., 128}
// keeps bit i % 8, and an unsigned min with 1 turns it into a byte in {0, 1}: column order,
// ready for `vpmaddubsw` (u8 x s8 -> s16 pair sums, |sum| <= 256) against the activations.
// The s16 sums are widened to int32 (`vpmaddwd` with ones) once per block, far from
// saturation (4 chunks x 256 = 1024). dot = 2 * sum(x where b = 1) - sum(x).
// Expanded weights are reused for every token of a tile, activations for every row.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "binary.h"
#include "binary_driver.h"

#define BITNET_UNROLL _Pragma("GCC unroll 16")

namespace bitnet {
namespace {

constexpr size_t kPrefetch = 16384;

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

// Bytes in {0, 1} for the 32 weights at p (column order).
inline __m256i expand(const uint8_t* p, __m256i spread, __m256i bitsel, __m256i one) {
  int32_t v;
  std::memcpy(&v, p, sizeof v);
  const __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32(v), spread);
  return _mm256_min_epu8(_mm256_and_si256(b, bitsel), one);
}

int32_t block_sum(const int8_t* x) {  // 128 bytes
  const __m256i bias = _mm256_set1_epi8(-128);
  __m256i s = _mm256_setzero_si256();
  for (int i = 0; i < 128; i += 32)
    s = _mm256_add_epi64(s, _mm256_sad_epu8(_mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)), bias),
                                            _mm256_setzero_si256()));
  __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
  h = _mm_add_epi64(h, _mm_unpackhi_epi64(h, h));
  return static_cast<int32_t>(_mm_cvtsi128_si64(h) - 128 * 128);
}

template <int R, int T, bool Blocks, class Out>
void tile(const uint8_t* w, size_t rb, size_t nb, const int8_t* const* xs, const int32_t* sums,
          const float* scale, Out* out, size_t os) {
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bitsel = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  const __m256i one = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  __m256i acc[R][T];
  __m256 facc[Blocks ? R : 1][Blocks ? T : 1];
  BITNET_UNROLL
  for (int r = 0; r < R; ++r)
    BITNET_UNROLL
    for (int t = 0; t < T; ++t) {
      acc[r][t] = _mm256_setzero_si256();
      if constexpr (Blocks) facc[r][t] = _mm256_setzero_ps();
    }
  for (size_t blk = 0; blk < nb; ++blk) {
    __m256i s16[R][T];
    if ((blk & 3) == 0)  // one prefetch per 64-byte line (four 16-byte blocks)
      BITNET_UNROLL
      for (int r = 0; r < R; ++r)
        _mm_prefetch(reinterpret_cast<const char*>(w + r * rb + blk * kBinaryBlockBytes + kPrefetch), _MM_HINT_T1);
    BITNET_UNROLL
    for (int c = 0; c < 4; ++c) {
      __m256i wv[R];
      BITNET_UNROLL
      for (int r = 0; r < R; ++r) wv[r] = expand(w + r * rb + blk * kBinaryBlockBytes + 4 * c, spread, bitsel, one);
      BITNET_UNROLL
      for (int t = 0; t < T; ++t) {
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[t] + blk * 128 + 32 * c));
        BITNET_UNROLL
        for (int r = 0; r < R; ++r) {
          const __m256i p = _mm256_maddubs_epi16(wv[r], xv);
          s16[r][t] = c == 0 ? p : _mm256_add_epi16(s16[r][t], p);
        }
      }
    }
    BITNET_UNROLL
    for (int r = 0; r < R; ++r) {
      BITNET_UNROLL
      for (int t = 0; t < T; ++t) {
        const __m256i s32 = _mm256_madd_epi16(s16[r][t], ones16);
        if constexpr (Blocks)
          facc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_set1_ps(scale[r * nb + blk]), facc[r][t]);
        else
          acc[r][t] = _mm256_add_epi32(acc[r][t], s32);
      }
    }
  }
  BITNET_UNROLL
  for (int r = 0; r < R; ++r)
    BITNET_UNROLL
    for (int t = 0; t < T; ++t) {
      if constexpr (Blocks) {
        const int32_t* xb = sums + t * nb;
        float corr = 0.0f;
        for (size_t blk = 0; blk < nb; ++blk) corr += scale[r * nb + blk] * static_cast<float>(xb[blk]);
        out[t * os + r] = 2.0f * hsum_ps(facc[r][t]) - corr;
      } else {
        out[t * os + r] = 2 * hsum_i32(acc[r][t]) - sums[t];
      }
    }
}

struct Tiles {
  template <int R, int T, bool Blocks, class... A>
  static void run(A... a) {
    tile<R, T, Blocks>(a...);
  }
};

void dot_i32(const BinaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch, size_t r0,
             size_t r1, int32_t* out, size_t out_stride) {
  binary_driver::for_chunks(m, xq, x_stride, batch, false, block_sum,
                            [&](const int8_t* const* xs, const int32_t* sums, size_t n, size_t b0) {
    int32_t* o = out + b0 * out_stride;
    if (n == 1)
      binary_driver::rows<4, 1, false, Tiles>(m, nullptr, xs, sums, 1, n, r0, r1, o, out_stride);
    else
      binary_driver::rows<2, 2, false, Tiles>(m, nullptr, xs, sums, 1, n, r0, r1, o, out_stride);
  });
}

void dot_blocks_f32(const BinaryMatrix& m, const float* scale, const int8_t* xq, size_t x_stride,
                    size_t batch, size_t r0, size_t r1, float* y, size_t y_stride) {
  const size_t nb = binary_blocks(m.cols);
  binary_driver::for_chunks(m, xq, x_stride, batch, true, block_sum,
                            [&](const int8_t* const* xs, const int32_t* sums, size_t n, size_t b0) {
    binary_driver::rows<2, 2, true, Tiles>(m, scale, xs, sums, nb, n, r0, r1, y + b0 * y_stride, y_stride);
  });
}

const BinaryKernels kAvx2 = {"avx2", dot_i32, dot_blocks_f32};

}  // namespace

const BinaryKernels* binary_avx2() { return &kAvx2; }

}  // namespace bitnet
