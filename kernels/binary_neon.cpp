// Binary kernels, NEON with the dot-product extension (armv8.2-a+dotprod).
//
// One block is 16 packed bytes (128 weights). For each 16-column chunk j, `tbl` copies
// byte 2j into lanes 0-7 and byte 2j+1 into lanes 8-15, and `cmtst` against the
// bit-select constant {1, 2, ..., 128, 1, ..., 128} gives 0xff (-1 as s8) where the bit is
// set: `sdot` of that mask with the activations adds -sum(x where b = 1), so
// dot = -2 * acc - sum(x). Masks are built once per tile and reused for all T tokens.
#include <arm_neon.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "binary.h"
#include "binary_driver.h"

#define BITNET_UNROLL _Pragma("GCC unroll 16")

namespace bitnet {
namespace {


int32_t block_sum(const int8_t* x) {  // 128 bytes
  int32x4_t s = vdupq_n_s32(0);
  const int8x16_t one = vdupq_n_s8(1);
  for (int i = 0; i < 128; i += 16) s = vdotq_s32(s, vld1q_s8(x + i), one);
  return vaddvq_s32(s);
}

template <int R, int T, bool Blocks, class Out>
void tile(const uint8_t* w, size_t rb, size_t nb, const int8_t* const* xs, const int32_t* sums,
          const float* scale, Out* out, size_t os) {
  static const uint8_t kBitsel[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t bitsel = vld1q_u8(kBitsel);
  int32x4_t acc[R][T];
  float32x4_t facc[Blocks ? R : 1][Blocks ? T : 1];
  BITNET_UNROLL
  for (int r = 0; r < R; ++r)
    BITNET_UNROLL
    for (int t = 0; t < T; ++t) {
      acc[r][t] = vdupq_n_s32(0);
      if constexpr (Blocks) facc[r][t] = vdupq_n_f32(0.0f);
    }
  for (size_t blk = 0; blk < nb; ++blk) {
    uint8x16_t bits[R];
    BITNET_UNROLL
    for (int r = 0; r < R; ++r) bits[r] = vld1q_u8(w + r * rb + blk * kBinaryBlockBytes);
    uint8x16_t idx = vcombine_u8(vdup_n_u8(0), vdup_n_u8(1));
    const uint8x16_t two = vdupq_n_u8(2);
    BITNET_UNROLL
    for (int j = 0; j < 8; ++j) {
      int8x16_t mk[R];
      BITNET_UNROLL
      for (int r = 0; r < R; ++r) mk[r] = vreinterpretq_s8_u8(vtstq_u8(vqtbl1q_u8(bits[r], idx), bitsel));
      BITNET_UNROLL
      for (int t = 0; t < T; ++t) {
        const int8x16_t xv = vld1q_s8(xs[t] + blk * 128 + 16 * j);
        BITNET_UNROLL
        for (int r = 0; r < R; ++r) acc[r][t] = vdotq_s32(acc[r][t], mk[r], xv);
      }
      idx = vaddq_u8(idx, two);
    }
    if constexpr (Blocks) {
      BITNET_UNROLL
      for (int r = 0; r < R; ++r) {
        const float s = scale[r * nb + blk];
        BITNET_UNROLL
        for (int t = 0; t < T; ++t) {
          facc[r][t] = vfmaq_n_f32(facc[r][t], vcvtq_f32_s32(acc[r][t]), s);
          acc[r][t] = vdupq_n_s32(0);
        }
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
        out[t * os + r] = -2.0f * vaddvq_f32(facc[r][t]) - corr;
      } else {
        out[t * os + r] = -2 * vaddvq_s32(acc[r][t]) - sums[t];
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
      binary_driver::rows<2, 4, false, Tiles>(m, nullptr, xs, sums, 1, n, r0, r1, o, out_stride);
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

const BinaryKernels kNeon = {"neon", dot_i32, dot_blocks_f32};

}  // namespace

const BinaryKernels* binary_neon() { return &kNeon; }

}  // namespace bitnet
