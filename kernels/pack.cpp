// Packing of ternary weights into the kernel layouts (see kernels.h).
#include <stdexcept>
#include <string>

#include "kernels.h"

namespace bitnet {

LayoutInfo layout_info(Layout layout) {
  switch (layout) {
    case Layout::I2: return {128, 32};
    case Layout::B3: return {160, 32};
  }
  throw std::invalid_argument("unknown ternary layout");
}

size_t padded_cols(Layout layout, size_t cols) {
  const size_t bc = static_cast<size_t>(layout_info(layout).block_cols);
  return (cols + bc - 1) / bc * bc;
}

size_t row_bytes(Layout layout, size_t cols) {
  const LayoutInfo li = layout_info(layout);
  return padded_cols(layout, cols) / li.block_cols * li.block_bytes;
}

namespace {

inline uint8_t code_at(const int8_t* row, size_t cols, size_t c) {
  if (c >= cols) return 1;
  const int v = row[c];
  if (v < -1 || v > 1) throw std::invalid_argument("ternary weights must be in {-1, 0, 1}");
  return static_cast<uint8_t>(v + 1);
}

}  // namespace

void pack_ternary(Layout layout, const int8_t* w, size_t rows, size_t cols, uint8_t* out) {
  const size_t rb = row_bytes(layout, cols);
  const LayoutInfo li = layout_info(layout);
  const size_t nblocks = padded_cols(layout, cols) / li.block_cols;
  for (size_t r = 0; r < rows; ++r) {
    const int8_t* row = w + r * cols;
    uint8_t* dst = out + r * rb;
    for (size_t b = 0; b < nblocks; ++b) {
      const size_t c0 = b * li.block_cols;
      for (size_t j = 0; j < 32; ++j) {
        if (layout == Layout::I2) {
          uint8_t byte = 0;
          for (int n = 0; n < 4; ++n) byte |= code_at(row, cols, c0 + j + 32 * n) << (2 * n);
          dst[b * 32 + j] = byte;
        } else {
          unsigned v = 0;
          for (int n = 0; n < 5; ++n) v = v * 3 + code_at(row, cols, c0 + j + 32 * n);
          dst[b * 32 + j] = static_cast<uint8_t>((v * 256 + 242) / 243);
        }
      }
    }
  }
}

void unpack_ternary(Layout layout, const uint8_t* packed, size_t rows, size_t cols, int8_t* out) {
  const size_t rb = row_bytes(layout, cols);
  const LayoutInfo li = layout_info(layout);
  for (size_t r = 0; r < rows; ++r) {
    const uint8_t* src = packed + r * rb;
    for (size_t c = 0; c < cols; ++c) {
      const size_t b = c / li.block_cols, e = c % li.block_cols, j = e % 32, n = e / 32;
      const uint8_t byte = src[b * 32 + j];
      int code;
      if (layout == Layout::I2) {
        code = (byte >> (2 * n)) & 3;
      } else {
        static const unsigned pow3[5] = {1, 3, 9, 27, 81};
        code = static_cast<int>(((static_cast<unsigned>(byte) * pow3[n]) & 255u) * 3u >> 8);
      }
      out[r * cols + c] = static_cast<int8_t>(code - 1);
    }
  }
}

}  // namespace bitnet
