// AVX2 batched ternary product (prefill). The GEMV kernel decodes every packed block once
// per (row, token tile), so batch 64 cost nearly as much per token as batch 1. Here codes
// {0,1,2} are unpacked once per row block (panel_gemm.h, which also does the cache
// blocking) and a 2-row x 6-token micro-kernel runs over them:
//   acc16[r][t] += maddubs(codes[r][k..k+31], x[t][k..k+31])
// two uops per 32 multiply-adds, the codes in registers and the activations read as memory
// operands. dot(w, x) = dot(code, x) - sum(x).
//
// int16 bound: a maddubs pair sum is in [-512, 508] (codes <= 2, |x| <= 128); 32 of them
// (1024 columns) stay within +-16384 before they are widened to int32 with madd.
#include <immintrin.h>

#include <algorithm>

#include "avx2_decode.h"
#include "kernels.h"
#include "panel_gemm.h"
#include "ternary_gemm.h"

#define BITNET_UNROLL _Pragma("GCC unroll 16")

namespace bitnet {
namespace {

constexpr size_t kSegment = 32;  // 32-column steps accumulated in int16 before widening

// Tile: 2 rows x 6 tokens = 12 int16 accumulators + 2 code vectors + 1 activation + 1
// product, all 16 ymm registers. Measured warm on one Sapphire Rapids core before the
// cache blocking (us per token, 640x2560 / 576x1536 / 2560x6912): 2x6 15.6 / 7.4 / 141,
// 2x5 15.1 / 7.1 / 153, 3x4 15.2 / 7.9 / 158, 3x3 16.2 / 8.5 / 162, 4x2 18.8 / 10.4 / 208.

// acc += maddubs(c, x). Written as one asm statement so that GCC keeps the accumulator in
// place: with the intrinsics it spilled half the accumulators to the stack on every step.
inline __m256i maddubs_acc(__m256i acc, __m256i c, __m256i x) {
#if defined(__GNUC__) && !defined(__clang__)
  __m256i tmp;
  __asm__("vpmaddubsw %2, %3, %1\n\tvpaddw %1, %0, %0" : "+x"(acc), "=&x"(tmp) : "x"(x), "x"(c));
  return acc;
#else
  return _mm256_add_epi16(acc, _mm256_maddubs_epi16(c, x));
#endif
}

// R rows (panel, row stride `ps`) x T tokens over `nk` 32-column steps (panel_gemm.h).
struct Avx2Tile {
  template <int R, int T>
  static void run(const uint8_t* panel, size_t ps, size_t nk, const int8_t* x, size_t x_stride, int32_t* dots) {
    const __m256i ones = _mm256_set1_epi16(1);
    // The int32 totals live in memory: in registers they would crowd out the int16
    // accumulators of the hot loop (16 ymm registers in all).
    alignas(32) int32_t acc32[R * T * 8] = {};
    for (size_t k0 = 0; k0 < nk; k0 += kSegment) {
      const size_t k1 = std::min(nk, k0 + kSegment);
      __m256i acc[R][T];
      BITNET_UNROLL
      for (int r = 0; r < R; ++r)
        BITNET_UNROLL
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_si256();
      for (size_t k = k0; k < k1; ++k) {
        __m256i c[R];
        BITNET_UNROLL
        for (int r = 0; r < R; ++r) c[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + r * ps + k * 32));
        BITNET_UNROLL
        for (int t = 0; t < T; ++t) {
          const __m256i xp = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + t * x_stride + k * 32));
          BITNET_UNROLL
          for (int r = 0; r < R; ++r) acc[r][t] = maddubs_acc(acc[r][t], c[r], xp);
        }
      }
      BITNET_UNROLL
      for (int r = 0; r < R; ++r)
        BITNET_UNROLL
        for (int t = 0; t < T; ++t) {
          __m256i* p = reinterpret_cast<__m256i*>(acc32 + (r * T + t) * 8);
          _mm256_store_si256(p, _mm256_add_epi32(_mm256_load_si256(p), _mm256_madd_epi16(acc[r][t], ones)));
        }
    }
    BITNET_UNROLL
    for (int r = 0; r < R; ++r)
      BITNET_UNROLL
      for (int t = 0; t < T; ++t)
        dots[t * R + r] = hsum_i32(_mm256_load_si256(reinterpret_cast<const __m256i*>(acc32 + (r * T + t) * 8)));
  }
};

}  // namespace

void avx2_ternary_gemm(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch,
                       size_t r0, size_t r1, int32_t* out, size_t out_stride) {
  if (m.layout == Layout::I2)
    panel_gemm<DecodeI2, Avx2Tile>(m, xq, x_stride, batch, r0, r1, out, out_stride);
  else
    panel_gemm<DecodeB3, Avx2Tile>(m, xq, x_stride, batch, r0, r1, out, out_stride);
}

}  // namespace bitnet
