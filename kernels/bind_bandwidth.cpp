// Memory read bandwidth probe: streams a caller-owned buffer with wide loads, split into
// page-aligned chunks that the kernel thread pool hands out, and reports the best time
// of `repeats` passes. The benchmarks divide the buffer size by it to get GB/s.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "bindings.h"
#include "kernels.h"
#include "thread_pool.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define BITNET_BW_AVX2 1
#endif

namespace nb = nanobind;
using namespace nb::literals;

namespace {

// Folded into by every pass so that the loads cannot be optimised away.
std::atomic<uint64_t> g_sink{0};

uint64_t read_portable(const uint8_t* p, size_t n) {
  uint64_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    uint64_t v[8];
    std::memcpy(v, p + i, 64);
    for (int k = 0; k < 8; ++k) acc[k] ^= v[k];
  }
  uint64_t r = 0;
  for (int k = 0; k < 8; ++k) r ^= acc[k];
  for (; i < n; ++i) r += p[i];
  return r;
}

#ifdef BITNET_BW_AVX2
// 32-byte loads, four independent accumulators (128 bytes, two cache lines per step).
__attribute__((target("avx2"))) uint64_t read_avx2(const uint8_t* p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    a0 = _mm256_xor_si256(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_xor_si256(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    a2 = _mm256_xor_si256(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    a3 = _mm256_xor_si256(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), a);
  uint64_t r = lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3];
  return r + read_portable(p + i, n - i);
}

// The same loop with a software prefetch (into L2) `ahead` bytes ahead of every line,
// as the GEMV kernels do: on some machines demand misses plus the hardware prefetcher keep
// too few lines in flight, and the plain probe then reads slower than the kernels stream.
__attribute__((target("avx2"))) uint64_t read_avx2_prefetch(const uint8_t* p, size_t n, size_t ahead) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    _mm_prefetch(reinterpret_cast<const char*>(p + i + ahead), _MM_HINT_T1);
    _mm_prefetch(reinterpret_cast<const char*>(p + i + ahead + 64), _MM_HINT_T1);
    a0 = _mm256_xor_si256(a0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_xor_si256(a1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    a2 = _mm256_xor_si256(a2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    a3 = _mm256_xor_si256(a3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), a);
  uint64_t r = lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3];
  return r + read_portable(p + i, n - i);
}
#endif

// Reads [p, p + n); `ahead` is the prefetch distance (0: none).
uint64_t read_chunk(const uint8_t* p, size_t n, size_t ahead) {
#ifdef BITNET_BW_AVX2
  if (bitnet::cpu_features().avx2) return ahead ? read_avx2_prefetch(p, n, ahead) : read_avx2(p, n);
#endif
  (void)ahead;
  return read_portable(p, n);
}

// Restores the pool size on scope exit (also when an exception escapes).
struct PoolSize {
  int saved;
  explicit PoolSize(int want) : saved(bitnet::get_threads()) {
    if (want > 0 && want != saved) bitnet::set_threads(want);
  }
  ~PoolSize() {
    if (bitnet::get_threads() != saved) bitnet::set_threads(saved);
  }
};

double read_bandwidth(const uint8_t* data, size_t n, int threads, int repeats, size_t prefetch) {
  if (threads < 0 || threads > 1024) throw std::invalid_argument("threads must be 0..1024 (0 = pool size)");
  if (repeats < 1) throw std::invalid_argument("repeats must be at least 1");
  PoolSize pool(threads);
  const size_t t = static_cast<size_t>(bitnet::get_threads());
  // Several chunks per thread so that a thread that starts late does not leave the tail
  // to one core; chunk starts are page aligned relative to the buffer.
  const size_t page = 4096;
  size_t chunk = (n + t * 8 - 1) / (t * 8);
  chunk = std::max(page, (chunk + page - 1) / page * page);
  const size_t n_chunks = (n + chunk - 1) / chunk;
  auto pass = [&] {
    std::atomic<uint64_t> acc{0};
    bitnet::parallel_for(n_chunks, [&](size_t c) {
      const size_t begin = c * chunk;
      const size_t len = std::min(chunk, n - begin);
      acc.fetch_xor(read_chunk(data + begin, len, prefetch), std::memory_order_relaxed);
    });
    g_sink.fetch_xor(acc.load(), std::memory_order_relaxed);
  };
  pass();  // warm-up: wakes the workers and faults in any untouched pages
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pass();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

// One pass over the buffer in `chunk`-byte reads, each split over the pool the way one GEMV
// call splits its rows, and the seconds of each read. A kernel benchmark takes the median
// of its calls, which a busy machine's preemptions hardly move; the median chunk here is the
// matching roof (a whole pass of a large buffer is preempted in proportion to the load).
std::vector<double> chunk_times(const uint8_t* data, size_t n, int threads, size_t chunk, size_t prefetch) {
  if (threads < 0 || threads > 1024) throw std::invalid_argument("threads must be 0..1024 (0 = pool size)");
  if (chunk < 4096 || chunk > n) throw std::invalid_argument("chunk must be between 4096 bytes and the buffer size");
  PoolSize pool(threads);
  const size_t t = static_cast<size_t>(bitnet::get_threads());
  const size_t page = 4096;
  const size_t part = std::max(page, ((chunk + t - 1) / t + page - 1) / page * page);
  const size_t n_parts = (chunk + part - 1) / part;
  std::vector<double> out;
  out.reserve(n / chunk);
  for (size_t off = 0; off + chunk <= n; off += chunk) {
    std::atomic<uint64_t> acc{0};
    const auto t0 = std::chrono::steady_clock::now();
    bitnet::parallel_for(n_parts, [&](size_t c) {
      const size_t begin = c * part;
      const size_t len = std::min(part, chunk - begin);
      acc.fetch_xor(read_chunk(data + off + begin, len, prefetch), std::memory_order_relaxed);
    });
    const auto t1 = std::chrono::steady_clock::now();
    g_sink.fetch_xor(acc.load(), std::memory_order_relaxed);
    out.push_back(std::chrono::duration<double>(t1 - t0).count());
  }
  return out;
}

}  // namespace

void bind_bandwidth(nb::module_& m) {
  m.def(
      "read_chunk_times",
      [](nb::ndarray<const uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu> buffer, int threads,
         size_t chunk, size_t prefetch) {
        if (prefetch > (1u << 20)) throw std::invalid_argument("prefetch must be 0..1 MiB");
        const uint8_t* p = buffer.data();
        const size_t n = buffer.shape(0);
        std::vector<double> times;
        {
          nb::gil_scoped_release nogil;
          times = chunk_times(p, n, threads, chunk, prefetch);
        }
        nb::list out;
        for (double v : times) out.append(v);
        return out;
      },
      "buffer"_a.noconvert(), "threads"_a = 0, "chunk"_a = 4 << 20, "prefetch"_a = 0,
      "One pass over the uint8 buffer in `chunk`-byte reads, each split across the kernel\n"
      "thread pool (resized to `threads` for the call when > 0) like one GEMV call; returns\n"
      "the seconds of each read as a list. prefetch: as in read_bandwidth. Releases the GIL.");
  m.def(
      "read_bandwidth",
      [](nb::ndarray<const uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu> buffer, int threads,
         int repeats, size_t prefetch) {
        if (buffer.shape(0) == 0) throw std::invalid_argument("buffer is empty");
        if (prefetch > (1u << 20)) throw std::invalid_argument("prefetch must be 0..1 MiB");
        const uint8_t* p = buffer.data();
        const size_t n = buffer.shape(0);
        nb::gil_scoped_release nogil;
        return read_bandwidth(p, n, threads, repeats, prefetch);
      },
      "buffer"_a.noconvert(), "threads"_a = 0, "repeats"_a = 5, "prefetch"_a = 0,
      "Streams the uint8 buffer `repeats` times after one warm-up pass, split across the kernel\n"
      "thread pool (resized to `threads` for the call when > 0), and returns the best pass's\n"
      "seconds. prefetch > 0: the AVX2 reader also prefetches that many bytes ahead (into L2).\n"
      "Releases the GIL.");
}
