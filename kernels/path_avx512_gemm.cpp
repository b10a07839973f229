// AVX-512 VNNI batched ternary product (prefill). As on AVX2 (path_avx2_gemm.cpp), a panel
// of R rows is unpacked once to codes {0,1,2} in column order and an R x T micro-kernel
// runs over it for every token; here one `vpdpbusd` does 64 multiply-adds straight into
// int32, so the tile needs no int16 stage:
//   acc[r][t] += dpbusd(codes[r][k..k+63], x[t][k..k+63]);   dot(w, x) = dot(code, x) - sum(x)
// (The GEMV kernel in path_avx512.cpp decodes every 64-byte pair once per 4x4 tile instead,
// which kept batch 64 within 1.6x of batch 1 per token.)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "avx2_decode.h"
#include "kernels.h"
#include "ternary_gemm.h"

#define BITNET_UNROLL _Pragma("GCC unroll 16")

namespace bitnet {
namespace {

// Tile: 4 rows x 6 tokens = 24 accumulators + 4 code vectors + 1 activation of 32 zmm.
constexpr int kRows = 4, kTokens = 6;

// acc += dpbusd(u8 c, s8 x), the accumulator tied in place (see path_avx512.cpp: GCC 12's
// builtin copies it in and out on every use).
inline __m512i dpbusd(__m512i acc, __m512i c, __m512i x) {
#if defined(__GNUC__) && !defined(__clang__)
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(c), "v"(x));
  return acc;
#else
  return _mm512_dpbusd_epi32(acc, c, x);
#endif
}

// R rows (panel, row stride `ps`, zero codes past `padded`) x T tokens. `nk` full 64-column
// steps, then an optional 32-column half step whose activations are loaded masked (the
// token rows end at `padded`).
template <int R, int T>
void gemm_tile(const uint8_t* panel, size_t ps, size_t nk, bool half, const int8_t* x,
               size_t x_stride, const int32_t* sums, int32_t* out, size_t out_stride) {
  __m512i acc[R][T];
  BITNET_UNROLL
  for (int r = 0; r < R; ++r)
    BITNET_UNROLL
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_si512();
  const size_t steps = nk + (half ? 1 : 0);
  for (size_t k = 0; k < steps; ++k) {
    const bool tail = k == nk;
    __m512i c[R];
    BITNET_UNROLL
    for (int r = 0; r < R; ++r) c[r] = _mm512_loadu_si512(panel + r * ps + k * 64);
    BITNET_UNROLL
    for (int t = 0; t < T; ++t) {
      const int8_t* xp = x + t * x_stride + k * 64;
      const __m512i a = tail ? _mm512_maskz_loadu_epi8(__mmask64(0xffffffffu), xp) : _mm512_loadu_si512(xp);
      BITNET_UNROLL
      for (int r = 0; r < R; ++r) acc[r][t] = dpbusd(acc[r][t], c[r], a);
    }
  }
  BITNET_UNROLL
  for (int r = 0; r < R; ++r)
    BITNET_UNROLL
    for (int t = 0; t < T; ++t) out[t * out_stride + r] = _mm512_reduce_add_epi32(acc[r][t]) - sums[t];
}

template <int R>
void panel_tokens(const uint8_t* panel, size_t ps, size_t nk, bool half, const int8_t* xq,
                  size_t x_stride, size_t batch, const int32_t* sums, int32_t* out, size_t out_stride) {
  constexpr int T = kTokens;
  size_t t = 0;
  for (; t + T <= batch; t += T)
    gemm_tile<R, T>(panel, ps, nk, half, xq + t * x_stride, x_stride, sums + t, out + t * out_stride, out_stride);
  const int8_t* x = xq + t * x_stride;
  int32_t* o = out + t * out_stride;
  static_assert(kTokens == 6, "the remainder cases below cover 1..5 tokens");
  switch (batch - t) {
    case 5: gemm_tile<R, 5>(panel, ps, nk, half, x, x_stride, sums + t, o, out_stride); break;
    case 4: gemm_tile<R, 4>(panel, ps, nk, half, x, x_stride, sums + t, o, out_stride); break;
    case 3: gemm_tile<R, 3>(panel, ps, nk, half, x, x_stride, sums + t, o, out_stride); break;
    case 2: gemm_tile<R, 2>(panel, ps, nk, half, x, x_stride, sums + t, o, out_stride); break;
    case 1: gemm_tile<R, 1>(panel, ps, nk, half, x, x_stride, sums + t, o, out_stride); break;
    default: break;
  }
}

template <class D>
void gemm_layout(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch, size_t r0,
                 size_t r1, int32_t* out, size_t out_stride) {
  constexpr int R = kRows;
  const size_t rb = row_bytes(m.layout, m.cols);
  const size_t padded = padded_cols(m.layout, m.cols);
  const size_t nblocks = padded / (32 * D::NC);
  const size_t ps = (padded + 63) / 64 * 64;  // panel row stride: whole 64-byte steps
  const size_t nk = padded / 64;
  const bool half = padded % 64 != 0;
  thread_local std::vector<uint8_t> panel;
  thread_local std::vector<int32_t> sums;
  if (panel.size() < R * ps) panel.resize(R * ps);
  if (sums.size() < batch) sums.resize(batch);
  for (size_t t = 0; t < batch; ++t) sums[t] = sum_i8(xq + t * x_stride, padded);
  for (size_t r = r0; r < r1; r += R) {
    const size_t n = std::min<size_t>(R, r1 - r);
    for (size_t i = 0; i < n; ++i) {
      uint8_t* dst = panel.data() + i * ps;
      unpack_codes<D>(m.data + (r + i) * rb, nblocks, dst);
      if (ps > padded) std::memset(dst + padded, 0, ps - padded);
    }
    int32_t* o = out + (r - r0);
    const uint8_t* p = panel.data();
    switch (n) {
      case 4: panel_tokens<4>(p, ps, nk, half, xq, x_stride, batch, sums.data(), o, out_stride); break;
      case 3: panel_tokens<3>(p, ps, nk, half, xq, x_stride, batch, sums.data(), o, out_stride); break;
      case 2: panel_tokens<2>(p, ps, nk, half, xq, x_stride, batch, sums.data(), o, out_stride); break;
      default: panel_tokens<1>(p, ps, nk, half, xq, x_stride, batch, sums.data(), o, out_stride); break;
    }
  }
}

}  // namespace

void avx512_ternary_gemm(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch,
                         size_t r0, size_t r1, int32_t* out, size_t out_stride) {
  if (m.layout == Layout::I2)
    gemm_layout<DecodeI2>(m, xq, x_stride, batch, r0, r1, out, out_stride);
  else
    gemm_layout<DecodeB3>(m, xq, x_stride, batch, r0, r1, out, out_stride);
}

}  // namespace bitnet
