// The binary kernels' path choice (same ISA as the active ternary path) and threaded drivers.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "binary.h"
#include "thread_pool.h"

namespace bitnet {

const BinaryKernels* binary_kernels_for(const PathKernels* k) {
  const BinaryKernels* b = nullptr;
  if (k != nullptr) {
    const std::string name = k->name;
    if (name == "avx512") b = binary_avx512();
    else if (name == "avx2" || name == "avxvnni") b = binary_avx2();
    else if (name == "neon") b = binary_neon();
  }
  return b ? b : binary_scalar();
}

namespace {

// Rows per task: up to 4 tasks per thread so a slower core evens out, but at least
// ~128 KiB of weight traffic (times the batch) per task -- binary rows are short, and
// below that waking a worker costs more than it saves. A multiple of 16 rows keeps the
// SIMD paths on whole row groups.
size_t rows_per_task(size_t rows, size_t cols, size_t batch) {
  constexpr size_t kMinTaskBytes = 128 * 1024;
  const size_t t = static_cast<size_t>(get_threads());
  const size_t work = rows * binary_row_bytes(cols) * std::max<size_t>(1, batch);
  const size_t tasks = std::max<size_t>(1, std::min(t * 4, work / kMinTaskBytes));
  const size_t per = (rows + tasks - 1) / tasks;
  return std::max<size_t>(16, (per + 15) / 16 * 16);
}

template <class F>
void for_row_tasks(const BinaryMatrix& m, size_t batch, F&& fn) {
  const size_t per = rows_per_task(m.rows, m.cols, batch);
  parallel_for((m.rows + per - 1) / per, [&](size_t t) {
    const size_t r0 = t * per, r1 = std::min(m.rows, r0 + per);
    fn(r0, r1);
  });
}

}  // namespace

void binary_matmul_i32(const BinaryKernels* k, const BinaryMatrix& m, const int8_t* xq,
                       size_t x_stride, size_t batch, int32_t* out, size_t out_stride) {
  for_row_tasks(m, batch, [&](size_t r0, size_t r1) {
    k->dot_i32(m, xq, x_stride, batch, r0, r1, out + r0, out_stride);
  });
}

void binary_rows_f32(const BinaryKernels* k, const BinaryMatrix& m, const float* scale,
                     size_t n_scales, const int8_t* xq, size_t x_stride, const float* s_x,
                     size_t batch, size_t r0, size_t r1, float* y, size_t y_stride) {
  if (n_scales == 1) {
    // The int32 products land in the float output (same size) and are scaled in place
    // while still in cache.
    auto* acc = reinterpret_cast<int32_t*>(y);
    k->dot_i32(m, xq, x_stride, batch, r0, r1, acc, y_stride);
    for (size_t b = 0; b < batch; ++b) {
      const float f = scale[0] * (1.0f / s_x[b]);
      float* yb = y + b * y_stride;
      for (size_t i = 0; i < r1 - r0; ++i) {
        int32_t v;
        std::memcpy(&v, yb + i, sizeof v);
        yb[i] = static_cast<float>(v) * f;
      }
    }
  } else {
    k->dot_blocks_f32(m, scale, xq, x_stride, batch, r0, r1, y, y_stride);
    for (size_t b = 0; b < batch; ++b) {
      const float inv_sx = 1.0f / s_x[b];
      float* yb = y + b * y_stride;
      for (size_t i = 0; i < r1 - r0; ++i) yb[i] *= inv_sx;
    }
  }
}

void binary_matmul_f32(const PathKernels* k, const BinaryMatrix& m, const float* x,
                       size_t x_stride, size_t batch, const float* scale, size_t n_scales,
                       float* y, size_t y_stride) {
  const size_t padded = binary_padded_cols(m.cols);
  std::vector<int8_t> xq(batch * padded);
  std::vector<float> s_x(batch);
  quantize_rows(k, x, x_stride, batch, m.cols, padded, xq.data(), s_x.data());
  const BinaryKernels* bk = binary_kernels_for(k);
  for_row_tasks(m, batch, [&](size_t r0, size_t r1) {
    binary_rows_f32(bk, m, scale, n_scales, xq.data(), padded, s_x.data(), batch, r0, r1, y + r0,
                    y_stride);
  });
}

}  // namespace bitnet
