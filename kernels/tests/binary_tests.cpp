// Binary (1-bit) kernel checks for the standalone test driver (kernel_tests.cpp calls
// run_binary_tests). Every path against a plain reference of this file's own: exact int32
// products and per-block-scaled floats over awkward shapes, batches 1..70, sub-ranges,
// odd buffer addresses, garbage in the padding columns and thread counts 1 and 2. Buffers
// end exactly at their allocation's end, so AddressSanitizer reports any overrun.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "binary.h"

namespace {

struct Counts {
  int passed = 0, failed = 0;
  void check(bool ok, const std::string& what) {
    if (ok) {
      ++passed;
      return;
    }
    if (++failed <= 40) std::fprintf(stderr, "FAIL: binary: %s\n", what.c_str());
  }
};

std::mt19937_64 g_rng(20260101);

int rand_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g_rng); }

// A heap buffer that ends exactly where its data ends, starting `off` bytes into it.
template <typename T>
struct Tight {
  std::vector<T> v;
  size_t off;
  Tight(size_t n, size_t off_) : v(n + off_), off(off_) {}
  T* data() { return v.data() + off; }
};

std::string name(const char* path, size_t rows, size_t cols, size_t batch, int threads) {
  return std::string(path) + " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) +
         " batch=" + std::to_string(batch) + " threads=" + std::to_string(threads);
}

void test_shape(Counts& c, const bitnet::PathKernels* path, size_t rows, size_t cols, size_t batch,
                int threads, size_t off) {
  const bitnet::BinaryKernels* k = bitnet::binary_kernels_for(path);
  const size_t rb = bitnet::binary_row_bytes(cols), pc = bitnet::binary_padded_cols(cols);
  const size_t nb = bitnet::binary_blocks(cols);
  std::vector<int8_t> s(rows * cols);
  for (auto& v : s) v = rand_int(0, 1) ? 1 : -1;
  Tight<uint8_t> packed(rows * rb, off);
  bitnet::pack_binary(s.data(), rows, cols, packed.data());
  std::vector<int8_t> back(rows * cols);
  bitnet::unpack_binary(packed.data(), rows, cols, back.data());
  c.check(back == s, "pack/unpack round trip " + name(k->name, rows, cols, batch, threads));

  Tight<int8_t> xq(batch * pc, off + 1);
  for (size_t b = 0; b < batch; ++b)
    for (size_t i = 0; i < pc; ++i) xq.data()[b * pc + i] = static_cast<int8_t>(rand_int(-128, 127));
  std::vector<float> scale(rows * nb);
  for (auto& v : scale) v = static_cast<float>(rand_int(1, 64)) / 64.0f;
  std::vector<int64_t> ref(batch * rows);
  std::vector<double> ref_blocks(batch * rows), mag(batch * rows);
  for (size_t b = 0; b < batch; ++b)
    for (size_t r = 0; r < rows; ++r) {
      int64_t acc = 0;
      double accb = 0.0, m = 0.0;
      for (size_t blk = 0; blk < nb; ++blk) {
        int64_t part = 0, amag = 0;
        for (size_t i = blk * 128; i < std::min(cols, blk * 128 + 128); ++i) {
          const int x = xq.data()[b * pc + i];  // the padding columns (garbage) are skipped
          part += s[r * cols + i] * x;
          amag += std::abs(x);
        }
        acc += part;
        accb += scale[r * nb + blk] * static_cast<double>(part);
        m += scale[r * nb + blk] * static_cast<double>(amag);
      }
      ref[b * rows + r] = acc;
      ref_blocks[b * rows + r] = accb;
      mag[b * rows + r] = m;
    }

  bitnet::set_threads(threads);
  const bitnet::BinaryMatrix mat{packed.data(), rows, cols};
  Tight<int32_t> out(batch * rows, off);
  bitnet::binary_matmul_i32(k, mat, xq.data(), pc, batch, out.data(), rows);
  bool exact = true;
  for (size_t i = 0; i < batch * rows; ++i) exact &= out.data()[i] == ref[i];
  c.check(exact, "int32 " + name(k->name, rows, cols, batch, threads));

  // A sub-range of rows through the kernel directly, into a tight output.
  if (rows > 2) {
    const size_t r0 = 1, r1 = rows - 1;
    Tight<int32_t> part(batch * (r1 - r0), off);
    k->dot_i32(mat, xq.data(), pc, batch, r0, r1, part.data(), r1 - r0);
    bool ok = true;
    for (size_t b = 0; b < batch; ++b)
      for (size_t r = r0; r < r1; ++r) ok &= part.data()[b * (r1 - r0) + (r - r0)] == ref[b * rows + r];
    c.check(ok, "int32 rows [1, rows-1) " + name(k->name, rows, cols, batch, threads));
  }

  Tight<float> y(batch * rows, off);
  std::vector<float> s_x(batch, 1.0f);
  for (size_t r0 = 0; r0 < rows; r0 += 37) {
    const size_t r1 = std::min(rows, r0 + 37);
    bitnet::binary_rows_f32(k, mat, scale.data(), scale.size(), xq.data(), pc, s_x.data(), batch, r0, r1,
                            y.data() + r0, rows);
  }
  bool close = true;
  for (size_t i = 0; i < batch * rows; ++i)
    close &= std::fabs(y.data()[i] - ref_blocks[i]) <= 1e-5 * mag[i] + 1e-6;
  c.check(close, "per-block scales " + name(k->name, rows, cols, batch, threads));
}

}  // namespace

// Runs every check on every path; adds to the caller's counters.
void run_binary_tests(const std::vector<const bitnet::PathKernels*>& paths, int& passed, int& failed) {
  Counts c;
  const int threads = bitnet::get_threads();
  const size_t shapes[][2] = {{1, 1}, {3, 63}, {17, 127}, {16, 128}, {33, 129}, {5, 300}, {70, 1000}, {40, 2560}};
  int n = 0;
  for (const auto* path : paths)
    for (const auto& sh : shapes)
      for (size_t batch : {1, 2, 3, 5, 64, 70})
        for (int t : {1, 2}) test_shape(c, path, sh[0], sh[1], batch, t, static_cast<size_t>(n++ % 7));
  bitnet::set_threads(threads);
  passed += c.passed;
  failed += c.failed;
  std::printf("kernel_tests: binary %d passed, %d failed\n", c.passed, c.failed);
}
