// The row and token driver every SIMD path's binary kernels share. A path supplies its
// register tile as `Tiles::run<R, T, Blocks>(w, rb, nb, xs, sums, scale, out, os)` and its
// 128-byte activation sum; the driver walks tokens in chunks and rows in R-row tiles.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "binary.h"

namespace bitnet::binary_driver {

constexpr size_t kChunk = 64;  // tokens per chunk (pointer / sum arrays on the stack)

// Rows [r0, r1) for up to kChunk tokens: R-row tiles (then single rows) x T-token tiles.
template <int R, int T, bool Blocks, class Tiles, class Out>
void rows(const BinaryMatrix& m, const float* scale, const int8_t* const* xs, const int32_t* sums,
          size_t sum_stride, size_t n, size_t r0, size_t r1, Out* out, size_t os) {
  const size_t rb = binary_row_bytes(m.cols), nb = binary_blocks(m.cols);
  auto run = [&](auto rr, size_t r) {
    constexpr int RR = decltype(rr)::value;
    const uint8_t* w = m.data + r * rb;
    const float* sc = Blocks ? scale + r * nb : nullptr;
    Out* o = out + (r - r0);
    size_t t = 0;
    for (; t + T <= n; t += T)
      Tiles::template run<RR, T, Blocks>(w, rb, nb, xs + t, sums + t * sum_stride, sc, o + t * os, os);
    for (; t < n; ++t)
      Tiles::template run<RR, 1, Blocks>(w, rb, nb, xs + t, sums + t * sum_stride, sc, o + t * os, os);
  };
  size_t r = r0;
  for (; r + R <= r1; r += R) run(std::integral_constant<int, R>{}, r);
  for (; r < r1; ++r) run(std::integral_constant<int, 1>{}, r);
}

// The batch in chunks of kChunk tokens: each chunk's token pointers and activation sums
// (one per token, or one per token and 128-column block when `per_block`: stride nb), then
// body(xs, sums, n, b0). Per-tensor sums stay on the stack: this runs per decode call.
template <class BlockSum, class Body>
void for_chunks(const BinaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch,
                bool per_block, BlockSum block_sum, Body body) {
  const size_t nb = binary_blocks(m.cols);
  const int8_t* xs[kChunk];
  int32_t small[kChunk];
  std::vector<int32_t> big(per_block ? kChunk * nb : 0);
  int32_t* sums = per_block ? big.data() : small;
  for (size_t b0 = 0; b0 < batch; b0 += kChunk) {
    const size_t n = std::min(kChunk, batch - b0);
    for (size_t t = 0; t < n; ++t) {
      xs[t] = xq + (b0 + t) * x_stride;
      if (per_block)
        activation_block_sums(xs[t], m.cols, block_sum, sums + t * nb);
      else
        sums[t] = activation_block_sums(xs[t], m.cols, block_sum, nullptr);
    }
    body(xs, static_cast<const int32_t*>(sums), n, b0);
  }
}

}  // namespace bitnet::binary_driver
