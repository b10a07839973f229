// AVX2 batched ternary product (prefill). The GEMV kernel decodes every packed block once
// per (row, token tile), so batch 64 cost nearly as much per token as batch 1. Here a panel
// of R rows is unpacked once to codes {0,1,2} in column order (in L1: R * cols bytes) and an
// R x T micro-kernel runs over it for every token:
//   acc16[r][t] += maddubs(codes[r][k..k+31], x[t][k..k+31])
// two uops per 32 multiply-adds, the codes in registers and the activations read as memory
// operands. dot(w, x) = dot(code, x) - sum(x).
//
// int16 bound: a maddubs pair sum is in [-512, 508] (codes <= 2, |x| <= 128); 32 of them
// (1024 columns) stay within +-16384 before they are widened to int32 with madd.
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "avx2_decode.h"
#include "kernels.h"
#include "ternary_gemm.h"

#define BITNET_UNROLL _Pragma("GCC unroll 16")

namespace bitnet {
namespace {

constexpr size_t kSegment = 32;  // 32-column steps accumulated in int16 before widening

// Tile: 2 rows x 6 tokens = 12 int16 accumulators + 2 code vectors + 1 activation + 1
// product, all 16 ymm registers. Measured warm on one Sapphire Rapids core (us per token,
// 640x2560 / 576x1536 / 2560x6912): 2x6 15.6 / 7.4 / 141, 2x5 15.1 / 7.1 / 153,
// 3x4 15.2 / 7.9 / 158, 3x3 16.2 / 8.5 / 162, 4x2 18.8 / 10.4 / 208. All of them run
// at the maddubs throughput (one 32-byte maddubs per 32 multiply-adds per token).
constexpr int kRows = 2, kTokens = 6;

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
}  // 32-column steps accumulated in int16 before widening

// R rows (panel, row stride `ps`) x T tokens over `nk` 32-column steps.
template <int R, int T>
void gemm_tile(const uint8_t* panel, size_t ps, size_t nk, const int8_t* x, size_t x_stride,
               const int32_t* sums, int32_t* out, size_t out_stride) {
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
    for (int t = 0; t < T; ++t) {
      const __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i*>(acc32 + (r * T + t) * 8));
      out[t * out_stride + r] = hsum_i32(v) - sums[t];
    }
}

// One panel of R rows against every token, T tokens per tile.
template <int R>
void panel_tokens(const uint8_t* panel, size_t ps, size_t nk, const int8_t* xq, size_t x_stride,
                  size_t batch, const int32_t* sums, int32_t* out, size_t out_stride) {
  constexpr int T = kTokens;
  size_t t = 0;
  for (; t + T <= batch; t += T)
    gemm_tile<R, T>(panel, ps, nk, xq + t * x_stride, x_stride, sums + t, out + t * out_stride, out_stride);
  const size_t left = batch - t;
  const int8_t* x = xq + t * x_stride;
  int32_t* o = out + t * out_stride;
  static_assert(kTokens == 6, "the remainder cases below cover 1..5 tokens");
  if (left == 5) gemm_tile<R, 5>(panel, ps, nk, x, x_stride, sums + t, o, out_stride);
  if (left == 4) gemm_tile<R, 4>(panel, ps, nk, x, x_stride, sums + t, o, out_stride);
  if (left == 3) gemm_tile<R, 3>(panel, ps, nk, x, x_stride, sums + t, o, out_stride);
  if (left == 2) gemm_tile<R, 2>(panel, ps, nk, x, x_stride, sums + t, o, out_stride);
  if (left == 1) gemm_tile<R, 1>(panel, ps, nk, x, x_stride, sums + t, o, out_stride);
}

template <class D>
void gemm_layout(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch, size_t r0,
                 size_t r1, int32_t* out, size_t out_stride) {
  constexpr int R = kRows;
  const size_t rb = row_bytes(m.layout, m.cols);
  const size_t padded = padded_cols(m.layout, m.cols);
  const size_t nblocks = padded / (32 * D::NC), nk = padded / 32;
  thread_local std::vector<uint8_t> panel;
  thread_local std::vector<int32_t> sums;
  if (panel.size() < R * padded) panel.resize(R * padded);
  if (sums.size() < batch) sums.resize(batch);
  for (size_t t = 0; t < batch; ++t) sums[t] = sum_i8(xq + t * x_stride, padded);
  for (size_t r = r0; r < r1; r += R) {
    const int n = static_cast<int>(std::min<size_t>(R, r1 - r));
    for (int i = 0; i < n; ++i) unpack_codes<D>(m.data + (r + i) * rb, nblocks, panel.data() + i * padded);
    int32_t* o = out + (r - r0);
    if (n == 2) panel_tokens<2>(panel.data(), padded, nk, xq, x_stride, batch, sums.data(), o, out_stride);
    if (n == 1) panel_tokens<1>(panel.data(), padded, nk, xq, x_stride, batch, sums.data(), o, out_stride);
  }
}

}  // namespace

void avx2_ternary_gemm(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch,
                       size_t r0, size_t r1, int32_t* out, size_t out_stride) {
  if (m.layout == Layout::I2)
    gemm_layout<DecodeI2>(m, xq, x_stride, batch, r0, r1, out, out_stride);
  else
    gemm_layout<DecodeB3>(m, xq, x_stride, batch, r0, r1, out, out_stride);
}

}  // namespace bitnet
