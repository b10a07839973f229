// AMX int8 batched ternary product (prefill) for the AVX-512 path on CPUs with AMX
// (Sapphire Rapids and later). One `tdpbusd` multiplies a 16 x 64 tile of u8 codes by a
// 64 x 16 tile of s8 activations into 16 x 16 int32: 16384 multiply-adds, where one
// vpdpbusd does 64. The structure is the AVX2 panel GEMM's (path_avx2_gemm.cpp):
//   A tile: 16 weight rows of unpacked codes {0,1,2}, 64 columns (row stride = panel's);
//   B tile: 16 tokens x 64 columns of activations in the VNNI layout
//           B[k][4n + i] = x[token n][4k + i]  (repacked once per call);
//   C tile: C[m][n] += sum_k A[m][k] * x[n][k], exact in int32; dot = C - sum(x).
// Rows past the end of the matrix and tokens past the batch are zero-padded, not skipped.
//
// Safety: Linux hands out the AMX register state only on request
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)); without it the first tile
// instruction faults. amx_ready() checks cpuid (AMX-TILE, AMX-INT8), XCR0 (XTILECFG,
// XTILEDATA) and makes the request once; when any of it fails the callers keep the VNNI
// kernels. The tile configuration is per thread and other libraries in the process
// (oneDNN under torch) may change it, so every call loads its own and releases the tiles
// when done. BITNET_STUDIO_AMX=0 turns the AMX kernel off.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <cpuid.h>

#include "avx2_decode.h"
#include "kernels.h"
#include "ternary_gemm.h"

namespace bitnet {
namespace {

constexpr int kArchGetXcompPerm = 0x1022, kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;

bool detect_amx() {
  const char* env = std::getenv("BITNET_STUDIO_AMX");
  if (env && std::string(env) == "0") return false;
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool tile = d & (1u << 24), int8 = d & (1u << 25);
  if (!tile || !int8) return false;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  const unsigned long long xcr0 = (static_cast<unsigned long long>(hi) << 32) | lo;
  if ((xcr0 & (3ull << 17)) != (3ull << 17)) return false;
#if defined(__linux__) && defined(SYS_arch_prctl)
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) return false;
  unsigned long long perm = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &perm) != 0) return false;
  return (perm & (1ull << kXfeatureXtiledata)) != 0;
#else
  return false;
#endif
}

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tiles 0..3: C for up to 4 token groups; 4: A (codes); 5: B (activations).
void load_config() {
  TileConfig cfg;
  for (int t = 0; t < 6; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
}

// C tile g += A x B for the token group g. GCC's tile intrinsics paste their tile
// numbers into the asm text, so they must be literal numbers, hence the macros.
#define BITNET_GROUP_STEP(G, b) \
  do {                          \
    _tile_loadd(5, (b), 64);    \
    _tile_dpbusd(G, 4, 5);      \
  } while (0)

// The panel (16 rows, stride ps, zero past the matrix) against `ng` (1..4) token groups
// starting at group g0; results minus the token sums into out.
template <int NG>
void panel_groups(const uint8_t* panel, size_t ps, size_t nsteps, const int8_t* xpack, size_t g0,
                  size_t batch, size_t nrows, const int32_t* sums, int32_t* out, size_t out_stride) {
  if (NG > 0) _tile_zero(0);
  if (NG > 1) _tile_zero(1);
  if (NG > 2) _tile_zero(2);
  if (NG > 3) _tile_zero(3);
  for (size_t s = 0; s < nsteps; ++s) {
    _tile_loadd(4, panel + s * 64, static_cast<long>(ps));
    const int8_t* b = xpack + (g0 * nsteps + s) * 1024;
    if (NG > 0) BITNET_GROUP_STEP(0, b);
    if (NG > 1) BITNET_GROUP_STEP(1, b + nsteps * 1024);
    if (NG > 2) BITNET_GROUP_STEP(2, b + 2 * nsteps * 1024);
    if (NG > 3) BITNET_GROUP_STEP(3, b + 3 * nsteps * 1024);
  }
  alignas(64) int32_t c[4][16 * 16];
  if (NG > 0) _tile_stored(0, c[0], 64);
  if (NG > 1) _tile_stored(1, c[1], 64);
  if (NG > 2) _tile_stored(2, c[2], 64);
  if (NG > 3) _tile_stored(3, c[3], 64);
  for (int g = 0; g < NG; ++g)
    for (size_t n = 0; n < 16; ++n) {
      const size_t t = (g0 + g) * 16 + n;
      if (t >= batch) break;
      for (size_t m = 0; m < nrows; ++m) out[t * out_stride + m] = c[g][m * 16 + n] - sums[t];
    }
}

// r[k] <- (r[0][k], r[1][k], ..., r[15][k]) for 4-byte elements: unpack 32- and 64-bit
// pairs within 128-bit lanes, then two rounds of 128-bit lane shuffles.
inline void transpose16x16_epi32(__m512i* r) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int q = 0; q < 16; q += 4) {  // rows q..q+3: u[q + j] holds column 4L + j of them in lane L
    u[q] = _mm512_unpacklo_epi64(t[q], t[q + 2]);
    u[q + 1] = _mm512_unpackhi_epi64(t[q], t[q + 2]);
    u[q + 2] = _mm512_unpacklo_epi64(t[q + 1], t[q + 3]);
    u[q + 3] = _mm512_unpackhi_epi64(t[q + 1], t[q + 3]);
  }
  for (int j = 0; j < 4; ++j) {
    const __m512i v0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x88), v1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xdd);
    const __m512i v2 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x88), v3 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xdd);
    r[j] = _mm512_shuffle_i32x4(v0, v2, 0x88);
    r[8 + j] = _mm512_shuffle_i32x4(v0, v2, 0xdd);
    r[4 + j] = _mm512_shuffle_i32x4(v1, v3, 0x88);
    r[12 + j] = _mm512_shuffle_i32x4(v1, v3, 0xdd);
  }
}

template <class D>
void amx_layout(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch, size_t r0,
                size_t r1, int32_t* out, size_t out_stride) {
  const size_t rb = row_bytes(m.layout, m.cols);
  const size_t padded = padded_cols(m.layout, m.cols);
  const size_t nblocks = padded / (32 * D::NC);
  const size_t nsteps = (padded + 63) / 64, ps = nsteps * 64;
  const size_t ngroups = (batch + 15) / 16;
  thread_local std::vector<uint8_t> panel;
  thread_local std::vector<int8_t> xpack;
  thread_local std::vector<int32_t> sums;
  panel.assign(16 * ps, 0);
  if (xpack.size() < ngroups * nsteps * 1024) xpack.resize(ngroups * nsteps * 1024);
  if (sums.size() < batch) sums.resize(batch);
  // VNNI layout: group g, step s, row k holds x[16g + n][64s + 4k + i] at 4n + i, i.e.
  // each 16-token x 64-column block is a 16 x 16 transpose of 4-byte units, done in
  // registers (a scalar 4-byte copy loop here was over half of the AMX GEMM's time, and
  // it runs once per task).
  int32_t* sm = sums.data();
  for (size_t t = 0; t < batch; ++t) sm[t] = sum_i8(xq + t * x_stride, padded);
  for (size_t g = 0; g < ngroups; ++g)
    for (size_t s = 0; s < nsteps; ++s) {
      const size_t c0 = s * 64, w = std::min<size_t>(64, padded - c0);
      const __mmask64 m = w == 64 ? ~0ULL : (~0ULL >> (64 - w));
      __m512i r[16];
      for (size_t n = 0; n < 16; ++n) {
        const size_t t = g * 16 + n;
        r[n] = t < batch ? _mm512_maskz_loadu_epi8(m, xq + t * x_stride + c0) : _mm512_setzero_si512();
      }
      transpose16x16_epi32(r);
      int8_t* dst = xpack.data() + (g * nsteps + s) * 1024;
      for (int k = 0; k < 16; ++k) _mm512_storeu_si512(dst + 64 * k, r[k]);
    }
  load_config();
  for (size_t r = r0; r < r1; r += 16) {
    const size_t nrows = std::min<size_t>(16, r1 - r);
    for (size_t i = 0; i < nrows; ++i) unpack_codes<D>(m.data + (r + i) * rb, nblocks, panel.data() + i * ps);
    if (nrows < 16) std::memset(panel.data() + nrows * ps, 0, (16 - nrows) * ps);
    int32_t* o = out + (r - r0);
    for (size_t g0 = 0; g0 < ngroups; g0 += 4) {
      switch (std::min<size_t>(4, ngroups - g0)) {
        case 4: panel_groups<4>(panel.data(), ps, nsteps, xpack.data(), g0, batch, nrows, sums.data(), o, out_stride); break;
        case 3: panel_groups<3>(panel.data(), ps, nsteps, xpack.data(), g0, batch, nrows, sums.data(), o, out_stride); break;
        case 2: panel_groups<2>(panel.data(), ps, nsteps, xpack.data(), g0, batch, nrows, sums.data(), o, out_stride); break;
        default: panel_groups<1>(panel.data(), ps, nsteps, xpack.data(), g0, batch, nrows, sums.data(), o, out_stride); break;
      }
    }
  }
  _tile_release();
}

std::atomic<bool> g_amx_enabled{true};

}  // namespace

bool amx_ready() {
  static const bool ready = detect_amx();
  return ready && g_amx_enabled.load(std::memory_order_relaxed);
}

void set_amx_enabled(bool on) { g_amx_enabled.store(on); }

void amx_ternary_gemm(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch,
                      size_t r0, size_t r1, int32_t* out, size_t out_stride) {
  if (m.layout == Layout::I2)
    amx_layout<DecodeI2>(m, xq, x_stride, batch, r0, r1, out, out_stride);
  else
    amx_layout<DecodeB3>(m, xq, x_stride, batch, r0, r1, out, out_stride);
}

}  // namespace bitnet
