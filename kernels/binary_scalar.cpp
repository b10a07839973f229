// Binary packing and the scalar reference kernels that every SIMD path is checked against.
#include <algorithm>
#include <stdexcept>
#include <vector>

#include "binary.h"

namespace bitnet {

void pack_binary(const int8_t* signs, size_t rows, size_t cols, uint8_t* out) {
  const size_t rb = binary_row_bytes(cols);
  for (size_t r = 0; r < rows; ++r) {
    const int8_t* row = signs + r * cols;
    uint8_t* dst = out + r * rb;
    for (size_t i = 0; i < rb; ++i) dst[i] = 0;
    for (size_t c = 0; c < cols; ++c) {
      if (row[c] != 1 && row[c] != -1) throw std::invalid_argument("binary weights must be -1 or +1");
      if (row[c] == 1) dst[c / 8] |= static_cast<uint8_t>(1u << (c % 8));
    }
  }
}

void unpack_binary(const uint8_t* packed, size_t rows, size_t cols, int8_t* out) {
  const size_t rb = binary_row_bytes(cols);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c)
      out[r * cols + c] = ((packed[r * rb + c / 8] >> (c % 8)) & 1) ? 1 : -1;
}

namespace {

// 2 * sum(x where bit = 1) - sum(x) over the first n (<= 128) columns of a block: the
// padding columns are skipped, whatever the activations hold there.
inline int32_t block_dot(const uint8_t* bits, const int8_t* x, size_t n) {
  int32_t on = 0, all = 0;
  for (size_t j = 0; j < n; ++j) {
    all += x[j];
    if ((bits[j / 8] >> (j % 8)) & 1) on += x[j];
  }
  return 2 * on - all;
}

inline size_t valid(size_t cols, size_t blk) {
  return std::min(kBinaryBlockCols, cols - blk * kBinaryBlockCols);
}

void dot_i32(const BinaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch, size_t r0,
             size_t r1, int32_t* out, size_t out_stride) {
  const size_t rb = binary_row_bytes(m.cols), nb = binary_blocks(m.cols);
  for (size_t r = r0; r < r1; ++r)
    for (size_t b = 0; b < batch; ++b) {
      int32_t acc = 0;
      for (size_t blk = 0; blk < nb; ++blk)
        acc += block_dot(m.data + r * rb + blk * kBinaryBlockBytes, xq + b * x_stride + blk * kBinaryBlockCols, valid(m.cols, blk));
      out[b * out_stride + (r - r0)] = acc;
    }
}

void dot_blocks_f32(const BinaryMatrix& m, const float* scale, const int8_t* xq, size_t x_stride,
                    size_t batch, size_t r0, size_t r1, float* y, size_t y_stride) {
  const size_t rb = binary_row_bytes(m.cols), nb = binary_blocks(m.cols);
  for (size_t r = r0; r < r1; ++r)
    for (size_t b = 0; b < batch; ++b) {
      float acc = 0.0f;
      for (size_t blk = 0; blk < nb; ++blk)
        acc += scale[r * nb + blk] *
               static_cast<float>(block_dot(m.data + r * rb + blk * kBinaryBlockBytes,
                                            xq + b * x_stride + blk * kBinaryBlockCols,
                                            valid(m.cols, blk)));
      y[b * y_stride + (r - r0)] = acc;
    }
}

const BinaryKernels kScalar = {"scalar", dot_i32, dot_blocks_f32};

}  // namespace

const BinaryKernels* binary_scalar() { return &kScalar; }

#if !defined(BITNET_HAVE_BINARY_AVX2)
const BinaryKernels* binary_avx2() { return nullptr; }
#endif
#if !defined(BITNET_HAVE_BINARY_AVX512)
const BinaryKernels* binary_avx512() { return nullptr; }
// No AMX in this build (binary_amx.cpp is x86-64 only).
bool binary_amx_available() { return false; }
void binary_amx_i32(const BinaryMatrix&, const int8_t* const*, const int32_t*, size_t, size_t, size_t,
                    int32_t*, size_t) {
  throw std::logic_error("binary_amx_i32: AMX is not compiled into this build");
}
void binary_amx_blocks_f32(const BinaryMatrix&, const float*, const int8_t* const*, const int32_t*,
                           size_t, size_t, size_t, float*, size_t) {
  throw std::logic_error("binary_amx_blocks_f32: AMX is not compiled into this build");
}
#endif
#if !defined(BITNET_HAVE_BINARY_NEON)
const BinaryKernels* binary_neon() { return nullptr; }
#endif

}  // namespace bitnet
