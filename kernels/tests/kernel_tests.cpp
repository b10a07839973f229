// Standalone test driver for the kernel library (CMake: -DBITNET_KERNEL_TESTS=ON).
//
// Every compiled path this CPU runs is checked against a trivially simple reference of
// this file's own (and the integer results against the scalar path too), for both ternary
// layouts over awkward shapes, batches, sub-ranges, strides, odd buffer addresses and thread
// counts 1 and 2; plus activation quantization, fp16/fp32 matmuls and pack/unpack round
// trips. Buffers are allocated to their exact size, so under -DBITNET_SANITIZE=ON any read
// or write past an end is reported by AddressSanitizer.
//
// Prints one line per failure (the first 40) and a summary line
//   kernel_tests: N passed, M failed
// and exits non-zero on any failure.
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels.h"
#include "ternary_gemm.h"

// binary_tests.cpp: the 1-bit kernels' checks.
void run_binary_tests(const std::vector<const bitnet::PathKernels*>& paths, int& passed, int& failed);

namespace {

using bitnet::Layout;
using bitnet::PathKernels;
using bitnet::TernaryMatrix;

int g_passed = 0, g_failed = 0;

void check(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
    return;
  }
  if (++g_failed <= 40) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

// A buffer of n elements that starts `off` elements into its allocation and ends exactly at
// the allocation's end: odd start addresses for SIMD loads, no slack for overruns.
template <typename T>
struct Buf {
  std::vector<T> v;
  size_t off;
  Buf(size_t n, size_t off_, T fill = T()) : v(n + off_, fill), off(off_) {}
  T* data() { return v.data() + off; }
  const T* data() const { return v.data() + off; }
  T& operator[](size_t i) { return v[off + i]; }
  const T& operator[](size_t i) const { return v[off + i]; }
  size_t size() const { return v.size() - off; }
};

std::mt19937_64 g_rng(20251125);

int rand_int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g_rng); }
float rand_normal(float sd) { return std::normal_distribution<float>(0.0f, sd)(g_rng); }

const char* layout_name(Layout l) { return l == Layout::I2 ? "i2" : "b3"; }
size_t block_cols(Layout l) { return l == Layout::I2 ? 128 : 160; }
size_t padded(Layout l, size_t cols) { return (cols + block_cols(l) - 1) / block_cols(l) * block_cols(l); }
size_t rbytes(Layout l, size_t cols) { return padded(l, cols) / block_cols(l) * 32; }

// ---- references --------------------------------------------------------------------------

// The layouts exactly as kernels.h describes them, one weight at a time.
std::vector<uint8_t> ref_pack(Layout l, const std::vector<int8_t>& w, size_t rows, size_t cols) {
  const size_t pc = padded(l, cols), rb = rbytes(l, cols), per = l == Layout::I2 ? 4 : 5;
  std::vector<uint8_t> out(rows * rb);
  for (size_t r = 0; r < rows; ++r)
    for (size_t blk = 0; blk < pc / block_cols(l); ++blk)
      for (size_t j = 0; j < 32; ++j) {
        unsigned v = 0;
        for (size_t n = 0; n < per; ++n) {
          const size_t c = blk * block_cols(l) + j + 32 * n;
          const unsigned code = c < cols ? static_cast<unsigned>(w[r * cols + c] + 1) : 1u;
          if (l == Layout::I2)
            v |= code << (2 * n);
          else
            v = v * 3 + code;  // first trit most significant
        }
        if (l == Layout::B3) v = (v * 256 + 242) / 243;  // ceil(v * 256 / 243)
        out[r * rb + blk * 32 + j] = static_cast<uint8_t>(v);
      }
  return out;
}

std::vector<int64_t> ref_dots(const std::vector<int8_t>& w, size_t rows, size_t cols,
                              const int8_t* xq, size_t x_stride, size_t batch) {
  std::vector<int64_t> out(batch * rows);
  for (size_t b = 0; b < batch; ++b)
    for (size_t r = 0; r < rows; ++r) {
      int64_t acc = 0;
      for (size_t c = 0; c < cols; ++c) acc += int64_t{w[r * cols + c]} * xq[b * x_stride + c];
      out[b * rows + r] = acc;
    }
  return out;
}

// s = 127 / max(max|x|, 1e-5); q = clamp(round_half_even(x * s)), all in float32.
float ref_quantize(const float* x, size_t cols, size_t pad, int8_t* q) {
  float amax = 0.0f;
  for (size_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(x[c]));
  const float s = 127.0f / std::max(amax, 1e-5f);
  for (size_t c = 0; c < pad; ++c) {
    if (c >= cols) {
      q[c] = 0;
      continue;
    }
    const float v = x[c] * s;
    float r = std::floor(v);
    const float frac = v - r;
    if (frac > 0.5f || (frac == 0.5f && std::fmod(r, 2.0f) != 0.0f)) r += 1.0f;
    q[c] = static_cast<int8_t>(std::min(127.0f, std::max(-128.0f, r)));
  }
  return s;
}

float ref_half(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
  double v;
  if (exp == 0)
    v = std::ldexp(static_cast<double>(mant), -24);
  else if (exp == 31)
    v = mant ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else
    v = std::ldexp(static_cast<double>(1024 + mant), exp - 25);
  return static_cast<float>(sign ? -v : v);
}

uint16_t to_half(float f) {  // round toward zero is fine for test data
  if (f == 0.0f) return 0;
  const uint16_t sign = f < 0 ? 0x8000 : 0;
  int e;
  const double m = std::frexp(std::fabs(static_cast<double>(f)), &e);  // f = m * 2^e, m in [.5, 1)
  if (e > 16) return sign | 0x7bff;
  if (e < -13) return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::ldexp(m, e + 24)));
  return static_cast<uint16_t>(sign | ((e + 14) << 10) | (static_cast<unsigned>(std::ldexp(m, 11)) & 1023));
}

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// ---- tests -------------------------------------------------------------------------------

const int kThreads[] = {1, 2};
int g_case = 0;  // varies buffer offsets from case to case

void test_ternary(const std::vector<const PathKernels*>& paths) {
  const PathKernels* scalar = bitnet::scalar_kernels();
  const size_t rows_list[] = {0, 1, 3, 17, 100};
  const size_t cols_list[] = {1, 31, 127, 128, 129, 160, 161, 300, 576, 1000, 2560};
  const size_t batches[] = {1, 2, 3, 4, 5, 7, 13, 64, 70};  // GEMV, tiles, GEMM remainders
  for (Layout l : {Layout::I2, Layout::B3})
    for (size_t rows : rows_list)
      for (size_t cols : cols_list)
        for (size_t batch : batches) {
          if (batch >= 13 && rows * cols > 100 * 600) continue;  // keeps sanitizer runs short
          const int pattern = g_case % 7;  // 0..3 random, then extremes
          const size_t woff = g_case % 3, xoff = (g_case / 3) % 5;
          ++g_case;
          std::vector<int8_t> w(rows * cols);
          for (auto& v : w)
            v = static_cast<int8_t>(pattern == 4 ? -1 : pattern == 5 ? 1 : rand_int(-1, 1));
          const size_t pc = padded(l, cols), rb = rbytes(l, cols);
          // Activations with a gap of garbage between tokens (x_stride > padded).
          const size_t xs = pc + (g_case % 2 ? 32 : 0);
          Buf<int8_t> xq(batch * xs, xoff);
          for (size_t b = 0; b < batch; ++b)
            for (size_t c = 0; c < xs; ++c) {
              int8_t v = static_cast<int8_t>(rand_int(-128, 127));
              if (c < cols && pattern == 4) v = -128;
              if (c < cols && pattern == 5) v = 127;
              if (c < cols && pattern == 6) v = c % 2 ? -128 : 127;
              if (c >= cols && c < pc) v = 0;  // the padding contract
              xq[b * xs + c] = v;
            }
          Buf<uint8_t> packed(rows * rb, woff);
          bitnet::pack_ternary(l, w.data(), rows, cols, packed.data());
          const std::string name = fmt("%s %zux%zu batch %zu", layout_name(l), rows, cols, batch);
          if (batch == 1) {
            const auto ref = ref_pack(l, w, rows, cols);
            check(std::equal(ref.begin(), ref.end(), packed.data()), "pack " + name);
            std::vector<int8_t> un(rows * cols, 7);
            bitnet::unpack_ternary(l, packed.data(), rows, cols, un.data());
            check(un == w, "unpack round trip " + name);
          }
          const TernaryMatrix m{l, packed.data(), rows, cols};
          const auto ref = ref_dots(w, rows, cols, xq.data(), xs, batch);
          std::vector<int32_t> scal(batch * rows);
          bitnet::set_threads(1);
          bitnet::ternary_matmul_i32(scalar, m, xq.data(), xs, batch, scal.data(), rows);
          for (const PathKernels* k : paths)
            for (int t : kThreads) {
              bitnet::set_threads(t);
              Buf<int32_t> out(batch * rows, g_case % 2, -7);
              bitnet::ternary_matmul_i32(k, m, xq.data(), xs, batch, out.data(), rows);
              bool ok_ref = true, ok_scalar = true;
              for (size_t i = 0; i < batch * rows; ++i) {
                ok_ref &= out[i] == ref[i];
                ok_scalar &= out[i] == scal[i];
              }
              check(ok_ref, fmt("%s ternary_i32 vs reference, %s, %d threads", k->name, name.c_str(), t));
              check(ok_scalar, fmt("%s ternary_i32 vs scalar, %s, %d threads", k->name, name.c_str(), t));
            }
          // One path call on a sub-range [r0, r1) with a wider output stride: exact values
          // inside, sentinels untouched outside.
          if (rows >= 3 && batch <= 5) {
            const size_t r0 = rows / 3, r1 = rows - rows / 4, n = r1 - r0, os = n + 3;
            for (const PathKernels* k : paths) {
              std::vector<int32_t> out(batch * os, 0x5a5a5a5a);
              k->ternary_i32(m, xq.data(), xs, batch, r0, r1, out.data(), os);
              bool ok = true;
              for (size_t b = 0; b < batch; ++b)
                for (size_t i = 0; i < os; ++i)
                  ok &= out[b * os + i] == (i < n ? ref[b * rows + r0 + i] : 0x5a5a5a5a);
              check(ok, fmt("%s ternary_i32 rows [%zu, %zu), %s", k->name, r0, r1, name.c_str()));
            }
          }
          // The float driver: quantize + integer product + scales, against the same formula.
          if (batch <= 5 && rows * cols <= 100 * 1000) {
            std::vector<float> x(batch * cols), scales(rows);
            for (auto& v : x) v = rand_normal(2.0f);
            for (auto& v : scales) v = 0.01f + 0.001f * static_cast<float>(rand_int(0, 100));
            std::vector<int8_t> q(batch * pc);
            std::vector<float> sx(batch);
            for (size_t b = 0; b < batch; ++b) sx[b] = ref_quantize(&x[b * cols], cols, pc, &q[b * pc]);
            const auto dots = ref_dots(w, rows, cols, q.data(), pc, batch);
            for (const PathKernels* k : paths)
              for (size_t ns : {size_t{1}, rows}) {
                bitnet::set_threads(kThreads[g_case % 2]);
                std::vector<float> y(batch * rows, -1.0f);
                bitnet::ternary_matmul_f32(k, m, x.data(), cols, batch, scales.data(), ns, y.data(), rows);
                bool ok = true;
                for (size_t b = 0; b < batch; ++b)
                  for (size_t r = 0; r < rows; ++r) {
                    const float ws = ns == 1 ? scales[0] : scales[r];
                    const float want = static_cast<float>(dots[b * rows + r]) * (ws * (1.0f / sx[b]));
                    ok &= y[b * rows + r] == want;
                  }
                check(ok, fmt("%s ternary_matmul_f32 (%zu scales), %s", k->name, ns, name.c_str()));
              }
          }
        }
}

void test_pack_all_trits() {
  // Every one of the 243 trit combinations in a B3 byte, and every I2 byte.
  const size_t rows = 8, cols = 160;
  std::vector<int8_t> w(rows * cols);
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < 32; ++j) {
      unsigned combo = static_cast<unsigned>((r * 32 + j) % 243);
      for (int n = 4; n >= 0; --n, combo /= 3) w[r * cols + j + 32 * n] = static_cast<int8_t>(combo % 3) - 1;
    }
  for (Layout l : {Layout::I2, Layout::B3}) {
    const size_t rb = rbytes(l, cols);
    std::vector<uint8_t> p(rows * rb);
    bitnet::pack_ternary(l, w.data(), rows, cols, p.data());
    check(p == ref_pack(l, w, rows, cols), fmt("pack all trit combinations %s", layout_name(l)));
    std::vector<int8_t> un(rows * cols);
    bitnet::unpack_ternary(l, p.data(), rows, cols, un.data());
    check(un == w, fmt("unpack all trit combinations %s", layout_name(l)));
  }
  bool threw = false;
  std::vector<int8_t> bad(128, 0);
  bad[77] = 2;
  std::vector<uint8_t> p(32);
  try {
    bitnet::pack_ternary(Layout::I2, bad.data(), 1, 128, p.data());
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  check(threw, "pack rejects a weight of 2");
}

void test_quantize(const std::vector<const PathKernels*>& paths) {
  const size_t cols_list[] = {1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 129, 161, 1000, 2560};
  for (int kind = 0; kind < 8; ++kind)
    for (size_t cols : cols_list) {
      Buf<float> x(cols, static_cast<size_t>(kind % 3));
      for (size_t c = 0; c < cols; ++c) {
        float v = rand_normal(1.0f);
        switch (kind) {
          case 1: v *= 1e30f; break;                                              // huge
          case 2: v *= 1e-30f; break;                                             // tiny
          case 3: v = 0.0f; break;                                                // all zero
          case 4: v = static_cast<float>(rand_int(-254, 254)) * 0.5f; break;      // ties
          case 5: v = std::ldexp(1.0f, -140) * static_cast<float>(c % 5); break;  // subnormal
          case 6: v = c % 2 ? 3.4e38f : -3.4e38f; break;                          // extremes
          case 7: v = static_cast<float>(c) * 3e-6f; break;                       // below eps
          default: break;
        }
        x[c] = v;
      }
      if (kind == 4) x[cols / 2] = 127.0f;  // s = 1: the halves are exact ties
      for (Layout l : {Layout::I2, Layout::B3}) {
        const size_t pc = padded(l, cols);
        std::vector<int8_t> want(pc);
        const float ws = ref_quantize(x.data(), cols, pc, want.data());
        for (const PathKernels* k : paths) {
          Buf<int8_t> q(pc, static_cast<size_t>(kind % 2), static_cast<int8_t>(0x55));
          const float s = k->quantize_row(x.data(), cols, pc, q.data());
          check(std::equal(want.begin(), want.end(), q.data()) && bits(s) == bits(ws),
                fmt("%s quantize_row kind %d cols %zu %s", k->name, kind, cols, layout_name(l)));
        }
      }
    }
  // The batched driver (used by the float ternary product).
  const size_t batch = 3, cols = 300, pc = padded(Layout::B3, cols);
  std::vector<float> x(batch * cols);
  for (auto& v : x) v = rand_normal(3.0f);
  for (const PathKernels* k : paths) {
    std::vector<int8_t> q(batch * pc, 9), want(batch * pc);
    std::vector<float> s(batch);
    bitnet::quantize_rows(k, x.data(), cols, batch, cols, pc, q.data(), s.data());
    bool ok = true;
    for (size_t b = 0; b < batch; ++b) ok &= bits(ref_quantize(&x[b * cols], cols, pc, &want[b * pc])) == bits(s[b]);
    check(ok && q == want, fmt("%s quantize_rows batch 3", k->name));
  }
}

template <typename W>
void test_float_one(const PathKernels* k, const char* what, const W* w, const std::vector<float>& wf,
                    size_t rows, size_t cols, size_t batch) {
  Buf<float> x(batch * cols, g_case % 3);
  ++g_case;
  for (size_t i = 0; i < batch * cols; ++i) x[i] = rand_normal(1.0f);
  std::vector<double> ref(batch * rows), mag(batch * rows);
  for (size_t b = 0; b < batch; ++b)
    for (size_t r = 0; r < rows; ++r) {
      double acc = 0, a = 0;
      for (size_t c = 0; c < cols; ++c) {
        acc += double{wf[r * cols + c]} * x[b * cols + c];
        a += std::fabs(double{wf[r * cols + c]} * x[b * cols + c]);
      }
      ref[b * rows + r] = acc;
      mag[b * rows + r] = a;
    }
  // Any summation order, with or without FMA, is within (n + 1) u of the sum of magnitudes.
  const double u = std::ldexp(1.0, -24);
  auto within = [&](const float* y, size_t stride, size_t r0, size_t r1) {
    bool ok = true;
    for (size_t b = 0; b < batch; ++b)
      for (size_t r = r0; r < r1; ++r)
        ok &= std::fabs(y[b * stride + (r - r0)] - ref[b * rows + r]) <= (cols + 2) * u * mag[b * rows + r] + 1e-30;
    return ok;
  };
  const std::string name = fmt("%s %s %zux%zu batch %zu", k->name, what, rows, cols, batch);
  for (int t : kThreads) {
    bitnet::set_threads(t);
    Buf<float> y(batch * rows, g_case % 2, -1.0f);
    if constexpr (sizeof(W) == 2)
      bitnet::f16_matmul(k, w, rows, cols, x.data(), cols, batch, y.data(), rows);
    else
      bitnet::f32_matmul(k, w, rows, cols, x.data(), cols, batch, y.data(), rows);
    check(within(y.data(), rows, 0, rows), fmt("%s, %d threads", name.c_str(), t));
  }
  if (rows >= 3) {
    const size_t r0 = 1, r1 = rows - 1, os = r1 - r0 + 2;
    std::vector<float> y(batch * os, 42.0f);
    if constexpr (sizeof(W) == 2)
      k->f16_matmul(w, cols, x.data(), cols, batch, r0, r1, y.data(), os);
    else
      k->f32_matmul(w, cols, x.data(), cols, batch, r0, r1, y.data(), os);
    bool sentinels = true;
    for (size_t b = 0; b < batch; ++b) sentinels &= y[b * os + os - 1] == 42.0f && y[b * os + os - 2] == 42.0f;
    check(within(y.data(), os, r0, r1) && sentinels, name + " sub-range");
  }
}

void test_float(const std::vector<const PathKernels*>& paths) {
  const size_t rows_list[] = {1, 3, 4, 5, 17, 33};
  const size_t cols_list[] = {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 127, 129, 1000};
  for (size_t rows : rows_list)
    for (size_t cols : cols_list) {
      const size_t batch = 1 + static_cast<size_t>(g_case % 5);
      std::vector<float> wf(rows * cols);
      Buf<float> w32(rows * cols, g_case % 3);
      Buf<uint16_t> w16(rows * cols, g_case % 3);
      for (size_t i = 0; i < rows * cols; ++i) {
        w16[i] = to_half(rand_normal(0.1f));
        wf[i] = ref_half(w16[i]);
        w32[i] = wf[i];
      }
      for (const PathKernels* k : paths) {
        test_float_one(k, "f16", w16.data(), wf, rows, cols, batch);
        test_float_one(k, "f32", w32.data(), wf, rows, cols, batch);
      }
    }
  // Every half value decoded exactly (cols = 1, x = 1), NaNs as NaNs.
  std::vector<uint16_t> all(65536);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i);
  const float one = 1.0f;
  for (const PathKernels* k : paths) {
    std::vector<float> y(all.size());
    bitnet::f16_matmul(k, all.data(), all.size(), 1, &one, 1, 1, y.data(), all.size());
    bool ok = true;
    for (size_t i = 0; i < all.size(); ++i) {
      const float want = ref_half(all[i]);
      ok &= std::isnan(want) ? std::isnan(y[i]) : y[i] == want;
    }
    check(ok, fmt("%s f16 decodes all 65536 halves", k->name));
  }
}

}  // namespace

int main() {
  try {
    std::vector<const PathKernels*> paths;
    std::string names;
    for (const std::string& n : bitnet::available_paths()) {
      paths.push_back(bitnet::path_by_name(n));
      names += " " + n;
    }
    std::printf("kernel_tests: paths%s\n", names.c_str());
    const int threads = bitnet::get_threads();
    test_pack_all_trits();
    test_quantize(paths);
    test_float(paths);
    test_ternary(paths);
    // The AVX-512 path runs batches from 16 tokens on AMX tiles where it can: run its
    // ternary cases again on the VNNI kernels alone.
    if (bitnet::amx_ready()) {
      std::printf("kernel_tests: AMX tiles in use; ternary cases again without them\n");
      bitnet::set_amx_enabled(false);
      std::vector<const PathKernels*> avx512;
      for (const PathKernels* k : paths)
        if (std::string(k->name) == "avx512") avx512.push_back(k);
      test_ternary(avx512);
      bitnet::set_amx_enabled(true);
    }
    run_binary_tests(paths, g_passed, g_failed);
    bitnet::set_threads(threads);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kernel_tests: unexpected exception: %s\n", e.what());
    ++g_failed;
  }
  std::printf("kernel_tests: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
