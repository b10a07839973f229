// Binary GEMM on AMX-INT8 (Intel Sapphire Rapids and later): prefill-sized batches.
//
// `tdpbusd` multiplies a 16 x 64 tile of unsigned bytes (A) by a 64 x 16 tile of signed
// bytes (B, stored 4-byte interleaved: B[i][4n + j] = b[n][4i + j]) into 16 x 16 int32,
// 16 384 multiply-adds per instruction. Here A holds 16 tokens' activations biased to
// unsigned (u = x + 128, one xor per byte) and B 16 weight rows' bits as bytes {0, 1}:
//   C[t][r] = sum_k (x[t][k] + 128) * b[r][k] = S1 + 128 * popcount(row r)
// so dot = 2 * (C - 128 * popcount) - sum(x), exact in int32. B is built once per 16 rows
// and 64 columns (vpermt2b gathers each row's nibble into place, AND + min makes it 0/1)
// and used for up to 64 tokens (four C tiles).
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "binary.h"

// GCC 12's AVX-512 intrinsics fill unused mask operands from _mm512_undefined_*, which
// -Wuninitialized reports (falsely) at their inlined uses.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace bitnet {
namespace {

struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

bool request_tile_data() {
#if defined(__linux__) && defined(SYS_arch_prctl)
  constexpr int kArchReqXcompPerm = 0x1023;  // Linux: ask for permission to use AMX state
  constexpr int kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

// tdpbusd C_g += A * B with the tile numbers as compile-time constants.
inline void dp(int g) {
  switch (g) {
    case 0: _tile_dpbusd(0, 4, 5); break;
    case 1: _tile_dpbusd(1, 4, 5); break;
    case 2: _tile_dpbusd(2, 4, 5); break;
    default: _tile_dpbusd(3, 4, 5); break;
  }
}

inline void store_c(int g, int32_t* dst) {
  switch (g) {
    case 0: _tile_stored(0, dst, 64); break;
    case 1: _tile_stored(1, dst, 64); break;
    case 2: _tile_stored(2, dst, 64); break;
    default: _tile_stored(3, dst, 64); break;
  }
}

// B tile for rows w[0..15] (stride rb) and the 64 columns of chunk c.
inline void build_b(const uint8_t* w, size_t rb, size_t c, uint8_t* b) {
  alignas(64) uint64_t words[16];
  for (int r = 0; r < 16; ++r) std::memcpy(&words[r], w + r * rb + c * 8, 8);
  const __m512i lo = _mm512_load_si512(words), hi = _mm512_load_si512(words + 8);
  alignas(64) uint8_t idx0[64], sel0[64], sel1[64];
  for (int p = 0; p < 64; ++p) {
    idx0[p] = static_cast<uint8_t>((p / 4) * 8);  // byte 0 of row p / 4's word
    sel0[p] = static_cast<uint8_t>(1u << (p % 4));
    sel1[p] = static_cast<uint8_t>(1u << (4 + p % 4));
  }
  const __m512i base = _mm512_load_si512(idx0), one = _mm512_set1_epi8(1);
  const __m512i s0 = _mm512_load_si512(sel0), s1 = _mm512_load_si512(sel1);
  for (int i = 0; i < 16; ++i) {
    // Row i of B: columns 4i..4i+3 of each row, i.e. nibble i % 2 of byte i / 2.
    const __m512i idx = _mm512_add_epi8(base, _mm512_set1_epi8(static_cast<char>(i / 2)));
    const __m512i v = _mm512_permutex2var_epi8(lo, idx, hi);
    const __m512i bits = _mm512_and_si512(v, (i & 1) ? s1 : s0);
    _mm512_store_si512(b + 64 * i, _mm512_min_epu8(bits, one));
  }
}

// Activations biased to unsigned (u = x + 128) in 16-token groups, 64-byte aligned, in a
// per-thread buffer; missing tokens of the last group are x = 0 (u = 128).
const uint8_t* biased_activations(const int8_t* const* xs, size_t n, size_t padded) {
  thread_local std::vector<uint8_t> ubuf;
  const size_t ngroups = (n + 15) / 16;
  ubuf.resize(ngroups * 16 * padded + 64);
  uint8_t* u = ubuf.data() + ((64 - reinterpret_cast<uintptr_t>(ubuf.data()) % 64) % 64);
  const __m512i bias = _mm512_set1_epi8(-128);
  for (size_t t = 0; t < ngroups * 16; ++t)
    for (size_t k = 0; k < padded; k += 64) {
      const __m512i v = t < n ? _mm512_loadu_si512(xs[t] + k) : _mm512_setzero_si512();
      _mm512_store_si512(u + t * padded + k, _mm512_xor_si512(v, bias));
    }
  return u;
}

// Tiles 0-3: C (16 tokens x 16 int32), 4: A (16 tokens x 64 bytes), 5: B (16 x 64 bytes).
void configure_tiles() {
  TileConfig cfg;
  for (int t = 0; t < 6; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
}

void zero_c() {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
}

// C_g += A_g * B for chunk ch (B built from the 16 rows at w), g < gn.
inline void chunk_products(const uint8_t* w, size_t rb, size_t ch, const uint8_t* u, size_t padded,
                           size_t g0, int gn, uint8_t* b) {
  build_b(w, rb, ch, b);
  _tile_loadd(5, b, 64);
  for (int g = 0; g < gn; ++g) {
    _tile_loadd(4, u + (g0 + g) * 16 * padded + ch * 64, padded);
    dp(g);
  }
}

}  // namespace

bool binary_amx_available() {
  static const bool ok = cpu_features().amx_int8 && request_tile_data();
  return ok;
}

void binary_amx_i32(const BinaryMatrix& m, const int8_t* const* xs, const int32_t* sums, size_t n,
                    size_t r0, size_t r1, int32_t* out, size_t os) {
  const size_t rb = binary_row_bytes(m.cols), padded = binary_padded_cols(m.cols);
  const size_t nchunks = padded / 64, ngroups = (n + 15) / 16;
  const uint8_t* u = biased_activations(xs, n, padded);
  configure_tiles();
  alignas(64) uint8_t b[1024];
  alignas(64) int32_t c[256];
  for (size_t rg = r0; rg + 16 <= r1; rg += 16) {
    const uint8_t* w = m.data + rg * rb;
    int32_t pop[16];
    for (int r = 0; r < 16; ++r) {
      int32_t p = 0;
      for (size_t k = 0; k < rb; k += 8) {
        uint64_t word;
        std::memcpy(&word, w + r * rb + k, 8);
        p += __builtin_popcountll(word);
      }
      pop[r] = p;
    }
    for (size_t g0 = 0; g0 < ngroups; g0 += 4) {
      const int gn = static_cast<int>(std::min<size_t>(4, ngroups - g0));
      zero_c();
      for (size_t ch = 0; ch < nchunks; ++ch) chunk_products(w, rb, ch, u, padded, g0, gn, b);
      for (int g = 0; g < gn; ++g) {
        store_c(g, c);
        for (size_t t = 0; t < 16; ++t) {
          const size_t tok = (g0 + g) * 16 + t;
          if (tok >= n) break;
          for (int r = 0; r < 16; ++r)
            out[tok * os + (rg - r0) + r] = 2 * (c[t * 16 + r] - 128 * pop[r]) - sums[tok];
        }
      }
    }
  }
  _tile_release();
}

// Per-block scales: each block's C (2 chunks) becomes its exact integer partial sum
//   p = 2 * (C - 128 * P[r]) - X[t]   (P: the row's popcount in the block, X: the token's
//   activation sum over the block)
// before it is converted and scaled, so the float sums see no large biased terms.
void binary_amx_blocks_f32(const BinaryMatrix& m, const float* scale, const int8_t* const* xs,
                           const int32_t* block_sums, size_t n, size_t r0, size_t r1, float* y,
                           size_t os) {
  const size_t rb = binary_row_bytes(m.cols), padded = binary_padded_cols(m.cols);
  const size_t nb = binary_blocks(m.cols), ngroups = (n + 15) / 16;
  const uint8_t* u = biased_activations(xs, n, padded);
  thread_local std::vector<float> st, facc;
  thread_local std::vector<int32_t> pop128;
  st.resize(nb * 16);
  pop128.resize(nb * 16);
  facc.resize(64 * 16);
  // Plain pointers in the loops: each use of a thread_local vector may cost a TLS lookup.
  float* const stp = st.data();
  int32_t* const pop = pop128.data();
  configure_tiles();
  alignas(64) uint8_t b[1024];
  alignas(64) int32_t c[256];
  for (size_t rg = r0; rg + 16 <= r1; rg += 16) {
    const uint8_t* w = m.data + rg * rb;
    for (int r = 0; r < 16; ++r)
      for (size_t blk = 0; blk < nb; ++blk) {
        stp[blk * 16 + r] = scale[(rg + r) * nb + blk];
        uint64_t lo, hi;
        std::memcpy(&lo, w + r * rb + blk * 16, 8);
        std::memcpy(&hi, w + r * rb + blk * 16 + 8, 8);
        pop[blk * 16 + r] = 128 * (__builtin_popcountll(lo) + __builtin_popcountll(hi));
      }
    for (size_t g0 = 0; g0 < ngroups; g0 += 4) {
      const int gn = static_cast<int>(std::min<size_t>(4, ngroups - g0));
      std::fill(facc.begin(), facc.end(), 0.0f);
      for (size_t blk = 0; blk < nb; ++blk) {
        zero_c();
        chunk_products(w, rb, 2 * blk, u, padded, g0, gn, b);
        chunk_products(w, rb, 2 * blk + 1, u, padded, g0, gn, b);
        const __m512 sv = _mm512_loadu_ps(stp + blk * 16);
        const __m512i pv = _mm512_loadu_si512(pop + blk * 16);
        for (int g = 0; g < gn; ++g) {
          store_c(g, c);
          for (size_t t = 0; t < 16; ++t) {
            const size_t tok = (g0 + g) * 16 + t;
            if (tok >= n) break;
            const __m512i s1 = _mm512_sub_epi32(_mm512_load_si512(c + t * 16), pv);
            const __m512i part = _mm512_sub_epi32(_mm512_slli_epi32(s1, 1),
                                                  _mm512_set1_epi32(block_sums[tok * nb + blk]));
            float* f = facc.data() + (g * 16 + t) * 16;
            _mm512_storeu_ps(f, _mm512_fmadd_ps(_mm512_cvtepi32_ps(part), sv, _mm512_loadu_ps(f)));
          }
        }
      }
      for (int g = 0; g < gn; ++g)
        for (size_t t = 0; t < 16; ++t) {
          const size_t tok = (g0 + g) * 16 + t;
          if (tok >= n) break;
          _mm512_storeu_ps(y + tok * os + (rg - r0), _mm512_loadu_ps(facc.data() + (g * 16 + t) * 16));
        }
    }
  }
  _tile_release();
}

}  // namespace bitnet
