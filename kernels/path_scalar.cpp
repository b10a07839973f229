// The scalar reference path: plain loops that every SIMD path is checked against.
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "kernels.h"
#include "ternary_gemm.h"

namespace bitnet {
namespace {

inline int trit_b3(uint8_t byte, int n) {
  static const unsigned pow3[5] = {1, 3, 9, 27, 81};
  return static_cast<int>(((static_cast<unsigned>(byte) * pow3[n]) & 255u) * 3u >> 8);
}

void ternary_i32(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch,
                 size_t r0, size_t r1, int32_t* out, size_t out_stride) {
  const LayoutInfo li = layout_info(m.layout);
  const size_t rb = row_bytes(m.layout, m.cols);
  const size_t nblocks = padded_cols(m.layout, m.cols) / li.block_cols;
  const int per_byte = m.layout == Layout::I2 ? 4 : 5;
  for (size_t r = r0; r < r1; ++r) {
    const uint8_t* row = m.data + r * rb;
    for (size_t b = 0; b < batch; ++b) {
      const int8_t* x = xq + b * x_stride;
      int32_t acc = 0;
      for (size_t blk = 0; blk < nblocks; ++blk) {
        const int8_t* xb = x + blk * li.block_cols;
        for (int j = 0; j < 32; ++j) {
          const uint8_t byte = row[blk * 32 + j];
          for (int n = 0; n < per_byte; ++n) {
            const int code = m.layout == Layout::I2 ? (byte >> (2 * n)) & 3 : trit_b3(byte, n);
            acc += (code - 1) * xb[j + 32 * n];
          }
        }
      }
      out[b * out_stride + (r - r0)] = acc;
    }
  }
}

float quantize_row(const float* x, size_t cols, size_t padded, int8_t* xq) {
  float amax = 0.0f;
  for (size_t c = 0; c < cols; ++c) amax = std::fmax(amax, std::fabs(x[c]));
  const float s = 127.0f / std::fmax(amax, 1e-5f);
  for (size_t c = 0; c < cols; ++c) {
    // nearbyint rounds half to even in the default mode, like torch.round / np.round.
    float q = std::nearbyint(x[c] * s);
    q = std::fmin(127.0f, std::fmax(-128.0f, q));
    xq[c] = static_cast<int8_t>(q);
  }
  if (padded > cols) std::memset(xq + cols, 0, padded - cols);
  return s;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while (!(mant & 0x400u)) { mant <<= 1; --exp; }
      bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

void f16_matmul(const uint16_t* w, size_t cols, const float* x, size_t x_stride, size_t batch,
                size_t r0, size_t r1, float* y, size_t y_stride) {
  for (size_t r = r0; r < r1; ++r)
    for (size_t b = 0; b < batch; ++b) {
      float acc = 0.0f;
      for (size_t c = 0; c < cols; ++c) acc += half_to_float(w[r * cols + c]) * x[b * x_stride + c];
      y[b * y_stride + (r - r0)] = acc;
    }
}

void f32_matmul(const float* w, size_t cols, const float* x, size_t x_stride, size_t batch,
                size_t r0, size_t r1, float* y, size_t y_stride) {
  for (size_t r = r0; r < r1; ++r)
    for (size_t b = 0; b < batch; ++b) {
      float acc = 0.0f;
      for (size_t c = 0; c < cols; ++c) acc += w[r * cols + c] * x[b * x_stride + c];
      y[b * y_stride + (r - r0)] = acc;
    }
}

const PathKernels kScalar = {"scalar", ternary_i32, quantize_row, f16_matmul, f32_matmul};

}  // namespace

const PathKernels* scalar_kernels() { return &kScalar; }

#if !defined(BITNET_HAVE_AVX2)
const PathKernels* avx2_kernels() { return nullptr; }
#endif
#if !defined(BITNET_HAVE_AVXVNNI)
const PathKernels* avxvnni_kernels() { return nullptr; }
#endif
#if !defined(BITNET_HAVE_AVX512)
const PathKernels* avx512_kernels() { return nullptr; }
// No AMX kernel without the AVX-512 path (see ternary_gemm.h).
bool amx_ready() { return false; }
void set_amx_enabled(bool) {}
void amx_ternary_gemm(const TernaryMatrix&, const int8_t*, size_t, size_t, size_t, size_t, int32_t*, size_t) {
  throw std::logic_error("AMX kernel not compiled into this build");
}
#endif
#if !defined(BITNET_HAVE_NEON)
const PathKernels* neon_kernels() { return nullptr; }
#endif

}  // namespace bitnet
