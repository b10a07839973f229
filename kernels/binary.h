// 1-bit (binary, original BitNet / GGUF Q1_0) weight kernels.
//
// Layout Q1: a row is ceil(cols/128) blocks of 16 bytes; element j of a block is bit
// j % 8 of byte j / 8 (LSB first), bit 1 = +1, bit 0 = -1 -- exactly the `qs` of a
// GGUF Q1_0 block, without its fp16 `d`. Padding columns hold bit 0; the activations are
// zero there, so they add nothing.
//
// Scales: one per tensor (BitNet's beta = mean|W|) or one per 128-column block
// (rows x nblocks, as in a Q1_0 file quantized block by block). With bits b,
//   dot(w, x) = 2 * sum(x where b = 1) - sum(x),
// exact in int32; a per-block scale multiplies each block's int32 partial sum.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace bitnet {

constexpr size_t kBinaryBlockCols = 128;
constexpr size_t kBinaryBlockBytes = 16;

inline size_t binary_blocks(size_t cols) { return (cols + kBinaryBlockCols - 1) / kBinaryBlockCols; }
inline size_t binary_padded_cols(size_t cols) { return binary_blocks(cols) * kBinaryBlockCols; }
inline size_t binary_row_bytes(size_t cols) { return binary_blocks(cols) * kBinaryBlockBytes; }

// Sums of one token's activations per 128-column block, padding columns excluded (they may
// hold anything): full blocks by `block_sum` (a path's SIMD sum of 128 bytes), the last,
// partial one column by column. Returns the total.
template <class BlockSum>
int32_t activation_block_sums(const int8_t* x, size_t cols, BlockSum block_sum, int32_t* out) {
  const size_t nb = binary_blocks(cols), full = cols / kBinaryBlockCols;
  int32_t total = 0;
  for (size_t blk = 0; blk < nb; ++blk) {
    int32_t s = 0;
    if (blk < full) {
      s = block_sum(x + blk * kBinaryBlockCols);
    } else {
      for (size_t c = blk * kBinaryBlockCols; c < cols; ++c) s += x[c];
    }
    if (out != nullptr) out[blk] = s;
    total += s;
  }
  return total;
}

// signs: int8 (rows, cols) in {-1, +1}; throws std::invalid_argument on any other value.
void pack_binary(const int8_t* signs, size_t rows, size_t cols, uint8_t* out);
void unpack_binary(const uint8_t* packed, size_t rows, size_t cols, int8_t* out);

struct BinaryMatrix {
  const uint8_t* data;  // rows * binary_row_bytes(cols)
  size_t rows, cols;
};

// One SIMD path's binary kernels; every function works on rows [r0, r1) and writes
// row r at out[b * out_stride + (r - r0)]. xq rows are padded to binary_padded_cols with
// zeros (x_stride >= that).
struct BinaryKernels {
  const char* name;
  // Exact int32 products.
  void (*dot_i32)(const BinaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch,
                  size_t r0, size_t r1, int32_t* out, size_t out_stride);
  // Per-block scales (rows x nblocks): y = sum_blk scale[r, blk] * dot_blk(w_r, x_b).
  void (*dot_blocks_f32)(const BinaryMatrix& m, const float* block_scale, const int8_t* xq,
                         size_t x_stride, size_t batch, size_t r0, size_t r1, float* y,
                         size_t y_stride);
};

const BinaryKernels* binary_scalar();
const BinaryKernels* binary_avx2();    // nullptr when not compiled
const BinaryKernels* binary_avx512();  // nullptr when not compiled
const BinaryKernels* binary_neon();    // nullptr when not compiled
// The binary kernels of the same ISA as a (ternary) path; the scalar ones otherwise.
const BinaryKernels* binary_kernels_for(const PathKernels* k);

// AMX-INT8 GEMM (binary_amx.cpp; x86-64 only): available when the CPU has it and the OS
// granted the tile state. Rows [r0, r1) with r1 - r0 a multiple of 16, n tokens at xs[t]
// (padded rows) with activation sums sums[t]; out[t * os + (r - r0)] = exact dot.
bool binary_amx_available();
void binary_amx_i32(const BinaryMatrix& m, const int8_t* const* xs, const int32_t* sums, size_t n,
                    size_t r0, size_t r1, int32_t* out, size_t os);
// The same with per-block scales (rows x nblocks); block_sums[t * nblocks + blk] are the
// tokens' activation sums per block; y[t * os + (r - r0)] as dot_blocks_f32.
void binary_amx_blocks_f32(const BinaryMatrix& m, const float* scale, const int8_t* const* xs,
                           const int32_t* block_sums, size_t n, size_t r0, size_t r1, float* y,
                           size_t os);

// Threaded drivers.
void binary_matmul_i32(const BinaryKernels* k, const BinaryMatrix& m, const int8_t* xq,
                       size_t x_stride, size_t batch, int32_t* out, size_t out_stride);
// y[b, r] = (W_b . x_q)[b, r] * scale / s_x[b] with `n_scales` = 1 (per tensor) or
// rows * nblocks (per block); quantizes x per token with the path's quantizer.
void binary_matmul_f32(const PathKernels* k, const BinaryMatrix& m, const float* x,
                       size_t x_stride, size_t batch, const float* scale, size_t n_scales,
                       float* y, size_t y_stride);
// Rows [r0, r1) of y from already quantized activations: what the runtime calls per task.
void binary_rows_f32(const BinaryKernels* k, const BinaryMatrix& m, const float* scale,
                     size_t n_scales, const int8_t* xq, size_t x_stride, const float* s_x,
                     size_t batch, size_t r0, size_t r1, float* y, size_t y_stride);

}  // namespace bitnet
