// Path selection and the threaded drivers shared by every path.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "kernels.h"
#include "thread_pool.h"

namespace bitnet {
namespace {

bool supported(const std::string& name) {
  const CpuFeatures& f = cpu_features();
  if (name == "scalar") return true;
  if (name == "avx2") return f.avx2 && f.fma && f.f16c;
  if (name == "avx512") return f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni && f.f16c;
  if (name == "avxvnni") return f.avx2 && f.fma && f.f16c && f.avxvnni;
  if (name == "neon") return f.neon;
  return false;
}

const PathKernels* compiled(const std::string& name) {
  if (name == "scalar") return scalar_kernels();
  if (name == "avx2") return avx2_kernels();
  if (name == "avx512") return avx512_kernels();
  if (name == "avxvnni") return avxvnni_kernels();
  if (name == "neon") return neon_kernels();
  return nullptr;
}

const PathKernels* best_available() {
  for (const char* n : {"avx512", "avxvnni", "avx2", "neon"})
    if (compiled(n) && supported(n)) return compiled(n);
  return scalar_kernels();
}

const PathKernels* initial_path() {
  // BITNET_STUDIO_KERNEL_PATH forces one path (tests cover every path this way).
  const char* env = std::getenv("BITNET_STUDIO_KERNEL_PATH");
  if (env && *env && std::string(env) != "auto") {
    const PathKernels* k = compiled(env);
    if (k && supported(env)) return k;
  }
  return best_available();
}

std::atomic<const PathKernels*> g_active{nullptr};

// Rows per task. A task below ~256 KiB of weight traffic (times the batch; ~7 us on
// one core) is cheaper to run than to hand to a second thread: waking a worker costs
// microseconds, and on a busy machine a descheduled worker costs far more (measured
// here: 576x1536 ternary GEMV 6.5 us on one thread vs 10 us split in two). Larger
// matrices get up to 4 tasks per thread (the dynamic hand-out evens out a slower
// core), balanced and a multiple of 16 rows so SIMD paths work on whole row groups.
size_t rows_per_task(size_t rows, size_t bytes_per_row, size_t batch) {
  constexpr size_t kMinTaskBytes = 256 * 1024;
  const size_t t = static_cast<size_t>(get_threads());
  const size_t work = rows * std::max<size_t>(1, bytes_per_row) * std::max<size_t>(1, batch);
  const size_t tasks = std::max<size_t>(1, std::min(t * 4, work / kMinTaskBytes));
  const size_t per = (rows + tasks - 1) / tasks;
  return std::max<size_t>(16, (per + 15) / 16 * 16);
}

}  // namespace

std::vector<std::string> compiled_paths() {
  std::vector<std::string> out;
  for (const char* n : {"scalar", "avx2", "avxvnni", "avx512", "neon"})
    if (compiled(n)) out.emplace_back(n);
  return out;
}

std::vector<std::string> available_paths() {
  std::vector<std::string> out;
  for (const std::string& n : compiled_paths())
    if (supported(n)) out.push_back(n);
  return out;
}

const PathKernels* path_by_name(const std::string& name) {
  if (name == "auto") return best_available();
  const PathKernels* k = compiled(name);
  if (!k) throw std::invalid_argument("kernel path '" + name + "' is not compiled into this build");
  if (!supported(name)) throw std::invalid_argument("kernel path '" + name + "' is not supported by this CPU");
  return k;
}

const PathKernels* active_path() {
  const PathKernels* k = g_active.load();
  if (!k) {
    k = initial_path();
    g_active.store(k);
  }
  return k;
}

void set_path(const std::string& name) { g_active.store(path_by_name(name)); }
void set_threads(int n) {
  if (n < 1 || n > 1024) throw std::invalid_argument("threads must be between 1 and 1024");
  pool_resize(n);
}
int get_threads() { return pool_threads(); }

void ternary_matmul_i32(const PathKernels* k, const TernaryMatrix& m, const int8_t* xq,
                        size_t x_stride, size_t batch, int32_t* out, size_t out_stride) {
  const size_t per = rows_per_task(m.rows, row_bytes(m.layout, m.cols), batch);
  const size_t tasks = (m.rows + per - 1) / per;
  parallel_for(tasks, [&](size_t t) {
    const size_t r0 = t * per, r1 = std::min(m.rows, r0 + per);
    k->ternary_i32(m, xq, x_stride, batch, r0, r1, out + r0, out_stride);
  });
}

void quantize_rows(const PathKernels* k, const float* x, size_t x_stride, size_t batch,
                   size_t cols, size_t padded, int8_t* xq, float* s_x) {
  for (size_t b = 0; b < batch; ++b) s_x[b] = k->quantize_row(x + b * x_stride, cols, padded, xq + b * padded);
}

void ternary_matmul_f32(const PathKernels* k, const TernaryMatrix& m, const float* x,
                        size_t x_stride, size_t batch, const float* w_scale, size_t n_scales,
                        float* y, size_t y_stride) {
  const size_t padded = padded_cols(m.layout, m.cols);
  std::vector<int8_t> xq(batch * padded);
  std::vector<float> s_x(batch);
  quantize_rows(k, x, x_stride, batch, m.cols, padded, xq.data(), s_x.data());
  const size_t per = rows_per_task(m.rows, row_bytes(m.layout, m.cols), batch);
  const size_t tasks = (m.rows + per - 1) / per;
  parallel_for(tasks, [&](size_t t) {
    const size_t r0 = t * per, r1 = std::min(m.rows, r0 + per);
    std::vector<int32_t> acc(batch * (r1 - r0));
    const size_t n = r1 - r0;
    k->ternary_i32(m, xq.data(), padded, batch, r0, r1, acc.data(), n);
    for (size_t b = 0; b < batch; ++b) {
      const float inv_sx = 1.0f / s_x[b];
      for (size_t r = r0; r < r1; ++r) {
        const float ws = n_scales == 1 ? w_scale[0] : w_scale[r];
        y[b * y_stride + r] = static_cast<float>(acc[b * n + (r - r0)]) * (ws * inv_sx);
      }
    }
  });
}

void f16_matmul(const PathKernels* k, const uint16_t* w, size_t rows, size_t cols, const float* x,
                size_t x_stride, size_t batch, float* y, size_t y_stride) {
  const size_t per = rows_per_task(rows, cols * 2, batch);
  parallel_for((rows + per - 1) / per, [&](size_t t) {
    const size_t r0 = t * per, r1 = std::min(rows, r0 + per);
    k->f16_matmul(w, cols, x, x_stride, batch, r0, r1, y + r0, y_stride);
  });
}

void f32_matmul(const PathKernels* k, const float* w, size_t rows, size_t cols, const float* x,
                size_t x_stride, size_t batch, float* y, size_t y_stride) {
  const size_t per = rows_per_task(rows, cols * 4, batch);
  parallel_for((rows + per - 1) / per, [&](size_t t) {
    const size_t r0 = t * per, r1 = std::min(rows, r0 + per);
    k->f32_matmul(w, cols, x, x_stride, batch, r0, r1, y + r0, y_stride);
  });
}

}  // namespace bitnet
