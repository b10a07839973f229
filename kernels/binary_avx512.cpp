// Binary kernels, AVX-512 (F/BW/VL) + VNNI.
//
// Eight packed bytes are 64 weights, and bit i of the little-endian 64-bit word is
// column i: loaded straight into a mask register, `vmovdqu8 {z}` of a vector of ones
// expands them to bytes in {0, 1} in column order, and `vpdpbusd` (u8 x s8, groups of
// four into int32 lanes) adds sum(x where b = 1); dot = 2 * that - sum(x).
// Each weight vector is expanded once per tile and used for all T tokens of the tile;
// each activation vector is loaded once per tile and used for all R rows.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "binary.h"
#include "binary_driver.h"

// GCC 12's AVX-512 intrinsics fill unused mask operands from _mm512_undefined_*, which
// -Wuninitialized reports (falsely) at every inlined use in this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#define BITNET_UNROLL _Pragma("GCC unroll 16")

namespace bitnet {
namespace {

// acc += dot4(u8, s8) per int32 lane, tied in place (GCC otherwise copies the accumulator
// around the builtin on every use).
inline __m512i dpbusd(__m512i acc, __m512i u, __m512i s) {
#if defined(__GNUC__) && !defined(__clang__)
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
  return acc;
#else
  return _mm512_dpbusd_epi32(acc, u, s);
#endif
}

inline __mmask64 load_bits(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return _cvtu64_mask64(v);
}

// L2 prefetch 16 KiB ahead of each row stream (demand misses alone keep too few lines in
// flight for a streaming GEMV).
constexpr size_t kPrefetch = 16384;
// From this many tokens on, per-tensor products go to AMX-INT8 where the CPU has it.
constexpr size_t kAmxMinBatch = 8;

// Horizontal sums without _mm512_reduce_add_* (GCC 12 warns of uninitialised values
// inside them).
inline int32_t hsum_i32(__m512i v) {
  __m512i s = _mm512_add_epi32(v, _mm512_shuffle_i32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm512_add_epi32(s, _mm512_shuffle_i32x4(s, s, _MM_SHUFFLE(2, 3, 0, 1)));
  __m128i q = _mm512_castsi512_si128(s);
  q = _mm_add_epi32(q, _mm_shuffle_epi32(q, _MM_SHUFFLE(1, 0, 3, 2)));
  q = _mm_add_epi32(q, _mm_shuffle_epi32(q, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(q);
}

// Sum of 128 activation bytes (bias trick: sad of the bytes xor 0x80 against zero sums
// them unsigned; subtract 128 per byte afterwards).
int32_t block_sum(const int8_t* x) {
  const __m512i bias = _mm512_set1_epi8(-128);
  const __m512i a = _mm512_xor_si512(_mm512_loadu_si512(x), bias);
  const __m512i b = _mm512_xor_si512(_mm512_loadu_si512(x + 64), bias);
  const __m512i s = _mm512_add_epi64(_mm512_sad_epu8(a, _mm512_setzero_si512()),
                                     _mm512_sad_epu8(b, _mm512_setzero_si512()));
  // Each 64-bit lane is below 2^16, so its upper 32 bits are zero: sum the 32-bit lanes.
  return hsum_i32(s) - 128 * 128;
}

inline float hsum_ps(__m512 v) {
  __m512 s = _mm512_add_ps(v, _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm512_add_ps(s, _mm512_shuffle_f32x4(s, s, _MM_SHUFFLE(2, 3, 0, 1)));
  __m128 q = _mm512_castps512_ps128(s);
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_movehdup_ps(q));
  return _mm_cvtss_f32(q);
}

// R rows x T tokens over every block. Blocks = false: out[t * os + r] = exact int32 dot.
// Blocks = true: y[t * os + r] = sum_blk scale[r * nb + blk] * dot_blk, the 2 * S1 part in
// float lanes and the sum(x) part (xs_blk) subtracted once at the end.
template <int R, int T, bool Blocks, class Out>
void tile(const uint8_t* w, size_t rb, size_t nb, const int8_t* const* xs, const int32_t* sums,
          const float* scale, Out* out, size_t os) {
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i acc[R][T];
  __m512 facc[Blocks ? R : 1][Blocks ? T : 1];
  BITNET_UNROLL
  for (int r = 0; r < R; ++r)
    BITNET_UNROLL
    for (int t = 0; t < T; ++t) {
      acc[r][t] = _mm512_setzero_si512();
      if constexpr (Blocks) facc[r][t] = _mm512_setzero_ps();
    }
  for (size_t blk = 0; blk < nb; ++blk) {
    __m512i wv[R][2];
    BITNET_UNROLL
    for (int r = 0; r < R; ++r) {
      const uint8_t* src = w + r * rb + blk * kBinaryBlockBytes;
      wv[r][0] = _mm512_maskz_mov_epi8(load_bits(src), ones);
      wv[r][1] = _mm512_maskz_mov_epi8(load_bits(src + 8), ones);
      if ((blk & 3) == 0) _mm_prefetch(reinterpret_cast<const char*>(src + kPrefetch), _MM_HINT_T1);
    }
    BITNET_UNROLL
    for (int h = 0; h < 2; ++h)
      BITNET_UNROLL
      for (int t = 0; t < T; ++t) {
        const __m512i xv = _mm512_loadu_si512(xs[t] + blk * 128 + 64 * h);
        BITNET_UNROLL
        for (int r = 0; r < R; ++r) acc[r][t] = dpbusd(acc[r][t], wv[r][h], xv);
      }
    if constexpr (Blocks) {
      BITNET_UNROLL
      for (int r = 0; r < R; ++r) {
        const __m512 s = _mm512_set1_ps(scale[r * nb + blk]);
        BITNET_UNROLL
        for (int t = 0; t < T; ++t) {
          facc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][t]), s, facc[r][t]);
          acc[r][t] = _mm512_setzero_si512();
        }
      }
    }
  }
  BITNET_UNROLL
  for (int r = 0; r < R; ++r)
    BITNET_UNROLL
    for (int t = 0; t < T; ++t) {
      if constexpr (Blocks) {
        const int32_t* xb = sums + t * nb;  // per-block sums of token t
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

// Rows from r0 on AMX tiles where the CPU allows it (whole 16-row groups of a batch of at
// least kAmxMinBatch tokens); returns the first row left for the VNNI tiles.
template <class Amx>
size_t amx_prefix(size_t n, size_t r0, size_t r1, Amx amx) {
  if (n < kAmxMinBatch || r1 - r0 < 16 || !binary_amx_available()) return r0;
  const size_t r = r0 + (r1 - r0) / 16 * 16;
  amx(r);
  return r;
}

void dot_i32(const BinaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch, size_t r0,
             size_t r1, int32_t* out, size_t out_stride) {
  binary_driver::for_chunks(m, xq, x_stride, batch, false, block_sum,
                            [&](const int8_t* const* xs, const int32_t* sums, size_t n, size_t b0) {
    int32_t* o = out + b0 * out_stride;
    const size_t r = amx_prefix(n, r0, r1, [&](size_t re) {
      binary_amx_i32(m, xs, sums, n, r0, re, o, out_stride);
    });
    if (n == 1)
      binary_driver::rows<8, 1, false, Tiles>(m, nullptr, xs, sums, 1, n, r, r1, o + (r - r0), out_stride);
    else
      binary_driver::rows<4, 4, false, Tiles>(m, nullptr, xs, sums, 1, n, r, r1, o + (r - r0), out_stride);
  });
}

void dot_blocks_f32(const BinaryMatrix& m, const float* scale, const int8_t* xq, size_t x_stride,
                    size_t batch, size_t r0, size_t r1, float* y, size_t y_stride) {
  const size_t nb = binary_blocks(m.cols);
  binary_driver::for_chunks(m, xq, x_stride, batch, true, block_sum,
                            [&](const int8_t* const* xs, const int32_t* sums, size_t n, size_t b0) {
    float* o = y + b0 * y_stride;
    const size_t r = amx_prefix(n, r0, r1, [&](size_t re) {
      binary_amx_blocks_f32(m, scale, xs, sums, n, r0, re, o, y_stride);
    });
    binary_driver::rows<4, 2, true, Tiles>(m, scale, xs, sums, nb, n, r, r1, o + (r - r0), y_stride);
  });
}

const BinaryKernels kAvx512 = {"avx512", dot_i32, dot_blocks_f32};

}  // namespace

const BinaryKernels* binary_avx512() { return &kAvx512; }

}  // namespace bitnet
