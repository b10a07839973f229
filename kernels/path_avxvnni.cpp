// The AVX-VNNI path: AVX2 plus the VEX-encoded 256-bit vpdpbusd of Intel's client cores
// since Alder Lake (which have no AVX-512) -- the laptops and desktops most people run.
// vpdpbusd multiplies unsigned by signed bytes and adds groups of four straight into
// int32: one instruction where plain AVX2 needs maddubs + add (+ madd to widen), so the
// ternary kernels below do about half the vector work per weight. Everything else
// (activation quantization, fp16/fp32 GEMV, small batches, the B3 layout, the 1-bit and
// head kernels) is the AVX2 path's: this path is the AVX2 one with these two replaced.
//
// * batch 1, I2: each code plane masked in place (w & 3 << 2n = 4^n * code) meets its 32
//   activations in its own accumulator; the four are scaled back with exact shifts at the
//   end (as the AVX-512 GEMV does). One shift-free decode + 4 vpdpbusd per 32 bytes.
// * from 8 tokens: the AVX2 path's cache-blocked panel GEMM (panel_gemm.h: codes unpacked
//   once, a 2 x 6 tile of accumulators) with one vpdpbusd per 32 multiply-adds, no int16 stage.
// dot(w, x) = dot(code, x) - sum(x), codes {0,1,2} = w + 1.
#include <immintrin.h>

#include <algorithm>

#include "avx2_decode.h"
#include "kernels.h"
#include "panel_gemm.h"

namespace bitnet {
namespace {

constexpr size_t kPrefetch = 16384;  // L2 prefetch per row stream, as the AVX2 path
constexpr size_t kGemmMinBatch = 8;

// acc += dot4(u8, s8). GCC wraps the intrinsic in register copies that land on the
// accumulator's dependency chain (see path_avx512.cpp); the asm ties it in place.
inline __m256i dpbusd(__m256i acc, __m256i u, __m256i s) {
#if defined(__GNUC__) && !defined(__clang__)
  __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc) : "x"(u), "x"(s));
  return acc;
#else
  return _mm256_dpbusd_avx_epi32(acc, u, s);
#endif
}

// No overflow: |4^3 * 2 * 128| * 4 per lane per block, over cols / 128 blocks.
template <int R>
void i2_gemv(const uint8_t* w, size_t rb, size_t nblocks, const int8_t* x, int32_t sum, int32_t* out) {
  const __m256i m0 = _mm256_set1_epi8(0x03), m1 = _mm256_set1_epi8(0x0c);
  const __m256i m2 = _mm256_set1_epi8(0x30), m3 = _mm256_set1_epi8(static_cast<char>(0xc0));
  __m256i acc[R][4];
  for (int r = 0; r < R; ++r)
    for (int n = 0; n < 4; ++n) acc[r][n] = _mm256_setzero_si256();
  for (size_t b = 0; b < nblocks; ++b) {
    const int8_t* xb = x + b * 128;
    const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb));
    const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 32));
    const __m256i x2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 64));
    const __m256i x3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 96));
    for (int r = 0; r < R; ++r) {
      const uint8_t* src = w + r * rb + b * 32;
      if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(src + kPrefetch), _MM_HINT_T1);
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
      acc[r][0] = dpbusd(acc[r][0], _mm256_and_si256(v, m0), x0);
      acc[r][1] = dpbusd(acc[r][1], _mm256_and_si256(v, m1), x1);
      acc[r][2] = dpbusd(acc[r][2], _mm256_and_si256(v, m2), x2);
      acc[r][3] = dpbusd(acc[r][3], _mm256_and_si256(v, m3), x3);
    }
  }
  for (int r = 0; r < R; ++r) {
    __m256i t = _mm256_add_epi32(acc[r][0], _mm256_srai_epi32(acc[r][1], 2));
    t = _mm256_add_epi32(t, _mm256_add_epi32(_mm256_srai_epi32(acc[r][2], 4), _mm256_srai_epi32(acc[r][3], 6)));
    out[r] = hsum_i32(t) - sum;
  }
}

// R rows (panel, row stride ps) x T tokens over nk 32-column steps (panel_gemm.h): 12
// accumulators, 2 code vectors and one activation vector in the 16 ymm registers.
struct VnniTile {
  template <int R, int T>
  static void run(const uint8_t* panel, size_t ps, size_t nk, const int8_t* x, size_t x_stride, int32_t* dots) {
    __m256i acc[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_si256();
    for (size_t k = 0; k < nk; ++k) {
      __m256i c[R];
      for (int r = 0; r < R; ++r) c[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + r * ps + k * 32));
      for (int t = 0; t < T; ++t) {
        const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + t * x_stride + k * 32));
        for (int r = 0; r < R; ++r) acc[r][t] = dpbusd(acc[r][t], c[r], xv);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) dots[t * R + r] = hsum_i32(acc[r][t]);
  }
};

void ternary_i32(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch, size_t r0,
                 size_t r1, int32_t* out, size_t out_stride) {
  if (batch >= kGemmMinBatch) {
    if (m.layout == Layout::I2)
      panel_gemm<DecodeI2, VnniTile>(m, xq, x_stride, batch, r0, r1, out, out_stride);
    else
      panel_gemm<DecodeB3, VnniTile>(m, xq, x_stride, batch, r0, r1, out, out_stride);
    return;
  }
  if (m.layout == Layout::I2 && batch == 1) {
    const size_t rb = row_bytes(m.layout, m.cols), padded = padded_cols(m.layout, m.cols);
    const size_t nblocks = padded / 128;
    const int32_t sum = sum_i8(xq, padded);
    size_t r = r0;
    for (; r + 2 <= r1; r += 2) i2_gemv<2>(m.data + r * rb, rb, nblocks, xq, sum, out + (r - r0));
    if (r < r1) i2_gemv<1>(m.data + r * rb, rb, nblocks, xq, sum, out + (r - r0));
    return;
  }
  avx2_kernels()->ternary_i32(m, xq, x_stride, batch, r0, r1, out, out_stride);
}

}  // namespace

const PathKernels* avxvnni_kernels() {
  static const PathKernels k = [] {
    PathKernels p = *avx2_kernels();
    p.name = "avxvnni";
    p.ternary_i32 = ternary_i32;
    return p;
  }();
  return &k;
}

}  // namespace bitnet
