// The AVX-512 (F/BW/VL) + VNNI path.
//
// Ternary: `vpdpbusd` multiplies unsigned bytes by signed bytes and adds groups of
// four into int32 lanes, which is exactly dot(code, x) for codes {0,1,2} = w + 1;
// dot(w, x) = dot(code, x) - sum(x), with sum(x) computed once per token.
//
// A 64-byte load of packed weights covers two consecutive 32-byte blocks. Code plane
// n of that load pairs with activations x[b*BC + 32n + 0..31] (low half) and
// x[(b+1)*BC + 32n + 0..31] (high half), so once per call the activations are
// permuted into that order: each code plane then meets one contiguous 64-byte
// activation vector. An odd trailing block is handled by the same code with
// masked (zero-filled) upper halves.
//
// Register tiling: a tile of R rows x T tokens keeps R*T accumulators; each weight
// vector is decoded once per tile and used for T tokens, so batched (prefill) calls
// amortise the decode and the weight traffic over the batch.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels.h"
#include "ternary_gemm.h"

// Constant-trip loops over rows/tokens/planes must be unrolled before GCC's scalar
// replacement of aggregates, or the accumulator arrays live on the stack.
#define BITNET_UNROLL _Pragma("GCC unroll 16")

namespace bitnet {
namespace {

// acc += dot4(u8 codes, s8 activations) per int32 lane. GCC 12 wraps its builtin in
// register copies on every use (the accumulator is copied in and out), which put a
// move on each accumulator's dependency chain and halved the GEMV throughput; the
// asm form ties the accumulator in place. Operands stay in registers: Zen 4 loads one
// zmm per cycle, and GCC otherwise re-reads the same activations for every row.
inline __m512i dpbusd(__m512i acc, __m512i u, __m512i s) {
#if defined(__GNUC__) && !defined(__clang__)
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
  return acc;
#else
  return _mm512_dpbusd_epi32(acc, u, s);
#endif
}

// Stops GCC from folding a load into every instruction that uses it (it would read
// the same 64 weight bytes once per code plane).
inline void keep_in_register(__m512i& v) {
#if defined(__GNUC__)
  __asm__("" : "+v"(v));
#else
  (void)v;
#endif
}

// ---------------------------------------------------------------------------------
// Ternary decoding: 64 packed bytes -> NC vectors of codes in {0,1,2}.

struct DecodeI2 {
  static constexpr int NC = 4;
  __m512i w;
  DecodeI2() = default;
  explicit DecodeI2(__m512i bytes) : w(bytes) {}
  // Plane n is bits 2n+1:2n of every byte; the 16-bit shift drags neighbouring
  // bits in, the mask removes them.
  __m512i next(int n) {
    const __m512i m3 = _mm512_set1_epi8(3);
    return n == 0 ? _mm512_and_si512(w, m3) : _mm512_and_si512(_mm512_srli_epi16(w, 2 * n), m3);
  }
};

// B3: trit n = floor(3 * q_n / 256) with q_n = byte * 3^n mod 256, which is
// (q_n > 85) + (q_n > 170); q is stepped with byte adds (3q mod 256 = q + q + q).
// Two unsigned compares into mask registers and two masked moves build the codes.
struct DecodeB3 {
  static constexpr int NC = 5;
  __m512i q;
  DecodeB3() = default;
  explicit DecodeB3(__m512i bytes) : q(bytes) {}
  __m512i next(int n) {
    if (n > 0) q = _mm512_add_epi8(_mm512_add_epi8(q, q), q);
    const __mmask64 gt1 = _mm512_cmpgt_epu8_mask(q, _mm512_set1_epi8(85));
    const __mmask64 gt2 = _mm512_cmpgt_epu8_mask(q, _mm512_set1_epi8(static_cast<char>(170)));
    const __m512i c = _mm512_maskz_mov_epi8(gt1, _mm512_set1_epi8(1));
    return _mm512_mask_mov_epi8(c, gt2, _mm512_set1_epi8(2));
  }
};

// Software prefetch into L2, 16 KiB ahead of each row stream. Demand misses alone
// keep too few lines in flight (the reorder buffer fills with ~14 instructions per
// 64 bytes long before the DRAM latency is covered) and the hardware prefetcher does
// not run far enough ahead: measured cold on Zen 4, one core, 2560x6912 I2 GEMV:
// no prefetch 11 GB/s, T0 at 4 KiB 11 GB/s, T1 at 8 KiB 24 GB/s, T1 at 16 KiB 25 GB/s
// (a plain streaming read: 27 GB/s).
constexpr size_t kPrefetch = 16384;

// Loads the 64 bytes of a block pair. When a row ends in a half pair (odd number of
// blocks) the load still reads 64 bytes: the upper 32 belong to the next row, but they
// meet zero activations (the permuted copy is zero there), so they add nothing. Only
// the matrix's very last row must not read past its end: tiles that contain it are
// instantiated with Safe = true and mask that one load. Keeping the hot loop free of
// per-step conditions also keeps GCC from splitting it and copying accumulators.
template <bool Safe>
inline __m512i load_pair(const uint8_t* src, bool last) {
  if (Safe && last) return _mm512_maskz_loadu_epi8(__mmask64(0xffffffffu), src);
  return _mm512_loadu_si512(src);
}

// R rows x T tokens over all block pairs. xp: permuted activations of token 0, token
// t at xp + t * xps. `npairs` full 64-byte pairs, then an optional half pair.
template <class D, int R, int T, bool Safe>
void ternary_tile(const uint8_t* w, size_t rb, size_t npairs, bool half, const int8_t* xp,
                  size_t xps, const int32_t* sums, int32_t* out, size_t out_stride) {
  constexpr int NC = D::NC;
  __m512i acc[R][T];
  BITNET_UNROLL
  for (int r = 0; r < R; ++r)
    BITNET_UNROLL
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_si512();
  const size_t nsteps = npairs + (half ? 1 : 0);
  for (size_t p = 0; p < nsteps; ++p) {
    D dec[R];
    BITNET_UNROLL
    for (int r = 0; r < R; ++r) {
      const uint8_t* src = w + r * rb + p * 64;
      __m512i v = load_pair<Safe>(src, r == R - 1 && p == npairs);
      keep_in_register(v);
      dec[r] = D(v);
      _mm_prefetch(reinterpret_cast<const char*>(src + kPrefetch), _MM_HINT_T1);
    }
    const int8_t* xb = xp + p * (NC * 64);
    BITNET_UNROLL
    for (int n = 0; n < NC; ++n) {
      __m512i c[R];
      BITNET_UNROLL
      for (int r = 0; r < R; ++r) c[r] = dec[r].next(n);
      BITNET_UNROLL
      for (int t = 0; t < T; ++t) {
        const __m512i a = _mm512_loadu_si512(xb + t * xps + n * 64);
        BITNET_UNROLL
        for (int r = 0; r < R; ++r) acc[r][t] = dpbusd(acc[r][t], c[r], a);
      }
    }
  }
  BITNET_UNROLL
  for (int r = 0; r < R; ++r)
    BITNET_UNROLL
    for (int t = 0; t < T; ++t) out[t * out_stride + r] = _mm512_reduce_add_epi32(acc[r][t]) - sums[t];
}

// I2 decode for a single token. Instead of shifting each code plane down, plane n is
// only masked in place (w & 3 << 2n = 4^n * code) and gets its own accumulator; the
// accumulators are scaled back with exact arithmetic shifts at the end. That drops
// three shifts per 64 bytes per row, and the AND-only decode leaves vpdpbusd as the
// only busy port: on Zen 4 (512-bit ops on 256-bit units) the shifting version was
// ALU bound well below the DRAM bandwidth. No overflow: |4^3 * 2 * 128| * 4 per lane
// per step, summed over at most cols/64 steps, stays far inside int32.
template <int R, bool Safe>
void i2_gemv_tile(const uint8_t* w, size_t rb, size_t npairs, bool half, const int8_t* xp,
                  int32_t sum, int32_t* out) {
  __m512i acc[R][4];
  BITNET_UNROLL
  for (int r = 0; r < R; ++r)
    BITNET_UNROLL
    for (int n = 0; n < 4; ++n) acc[r][n] = _mm512_setzero_si512();
  const size_t nsteps = npairs + (half ? 1 : 0);
  for (size_t p = 0; p < nsteps; ++p) {
    const int8_t* xb = xp + p * 256;
    const __m512i a0 = _mm512_loadu_si512(xb), a1 = _mm512_loadu_si512(xb + 64);
    const __m512i a2 = _mm512_loadu_si512(xb + 128), a3 = _mm512_loadu_si512(xb + 192);
    BITNET_UNROLL
    for (int r = 0; r < R; ++r) {
      const uint8_t* src = w + r * rb + p * 64;
      __m512i v = load_pair<Safe>(src, r == R - 1 && p == npairs);
      keep_in_register(v);
      _mm_prefetch(reinterpret_cast<const char*>(src + kPrefetch), _MM_HINT_T1);
      acc[r][0] = dpbusd(acc[r][0], _mm512_and_si512(v, _mm512_set1_epi8(0x03)), a0);
      acc[r][1] = dpbusd(acc[r][1], _mm512_and_si512(v, _mm512_set1_epi8(0x0c)), a1);
      acc[r][2] = dpbusd(acc[r][2], _mm512_and_si512(v, _mm512_set1_epi8(0x30)), a2);
      acc[r][3] = dpbusd(acc[r][3], _mm512_and_si512(v, _mm512_set1_epi8(static_cast<char>(0xc0))), a3);
    }
  }
  BITNET_UNROLL
  for (int r = 0; r < R; ++r) {
    __m512i t = _mm512_add_epi32(acc[r][0], _mm512_srai_epi32(acc[r][1], 2));
    t = _mm512_add_epi32(t, _mm512_add_epi32(_mm512_srai_epi32(acc[r][2], 4), _mm512_srai_epi32(acc[r][3], 6)));
    out[r] = _mm512_reduce_add_epi32(t) - sum;
  }
}

// The shared arguments of one call: matrix geometry and the permuted activations.
struct Args {
  size_t rb, npairs;
  bool half;
  const int8_t* xp;  // permuted activations, token t at xp + t * xps
  size_t xps;
  const int32_t* sums;
};

template <class D, int R, bool Safe>
void ternary_rows(const Args& a, const uint8_t* w, size_t batch, int32_t* out, size_t out_stride) {
  if (std::is_same<D, DecodeI2>::value && batch == 1) {
    i2_gemv_tile<R, Safe>(w, a.rb, a.npairs, a.half, a.xp, a.sums[0], out);
    return;
  }
  size_t t = 0;
  // R = 4: 4 x 4 accumulators + 4 decoders + 4 code vectors fit the 32 zmm.
  auto tile = [&](auto tn) {
    constexpr int T = decltype(tn)::value;
    ternary_tile<D, R, T, Safe>(w, a.rb, a.npairs, a.half, a.xp + t * a.xps, a.xps, a.sums + t,
                                out + t * out_stride, out_stride);
  };
  for (; t + 4 <= batch; t += 4) tile(std::integral_constant<int, 4>());
  switch (batch - t) {
    case 3: tile(std::integral_constant<int, 3>()); break;
    case 2: tile(std::integral_constant<int, 2>()); break;
    case 1: tile(std::integral_constant<int, 1>()); break;
    default: break;
  }
}

// Permutes one token's padded activations into pair order (see the file comment)
// and returns their sum.
template <int NC>
int32_t permute_token(const int8_t* x, size_t nblocks, int8_t* xp) {
  constexpr size_t BC = 32 * NC;
  __m512i sum = _mm512_setzero_si512();
  const __m512i ones = _mm512_set1_epi8(1);
  for (size_t b = 0; b < nblocks; b += 2) {
    const bool second = b + 1 < nblocks;
    BITNET_UNROLL
    for (int n = 0; n < NC; ++n) {
      const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + b * BC + 32 * n));
      const __m256i hi = second ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + (b + 1) * BC + 32 * n))
                                : _mm256_setzero_si256();
      const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      _mm512_storeu_si512(xp + (b / 2) * (NC * 64) + n * 64, v);
      sum = _mm512_dpbusd_epi32(sum, ones, v);  // 1 * x summed in groups of four
    }
  }
  return _mm512_reduce_add_epi32(sum);
}

template <class D>
void ternary_layout(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch,
                    size_t r0, size_t r1, int32_t* out, size_t out_stride) {
  constexpr int NC = D::NC;
  const size_t rb = row_bytes(m.layout, m.cols);
  const size_t nblocks = padded_cols(m.layout, m.cols) / (32 * NC);
  const size_t npairs = nblocks / 2;
  const bool half = nblocks % 2 != 0;
  const size_t xps = (npairs + (half ? 1 : 0)) * NC * 64;
  // Tokens are processed in chunks so that the permuted copy stays cache resident.
  constexpr size_t kChunk = 64;
  thread_local std::vector<int8_t> xbuf;
  thread_local std::vector<int32_t> sbuf;
  const size_t nchunk = std::min(kChunk, batch);
  if (xbuf.size() < nchunk * xps) xbuf.resize(nchunk * xps);
  if (sbuf.size() < nchunk) sbuf.resize(nchunk);
  for (size_t b0 = 0; b0 < batch; b0 += kChunk) {
    const size_t nb = std::min(kChunk, batch - b0);
    for (size_t t = 0; t < nb; ++t)
      sbuf[t] = permute_token<NC>(xq + (b0 + t) * x_stride, nblocks, xbuf.data() + t * xps);
    const Args args{rb, npairs, half, xbuf.data(), xps, sbuf.data()};
    int32_t* o = out + b0 * out_stride;
    // Tiles holding the matrix's last row must not over-read (see load_pair).
    auto rows = [&](auto rn, size_t r) {
      constexpr int R = decltype(rn)::value;
      if (half && r + R >= m.rows)
        ternary_rows<D, R, true>(args, m.data + r * rb, nb, o + (r - r0), out_stride);
      else
        ternary_rows<D, R, false>(args, m.data + r * rb, nb, o + (r - r0), out_stride);
    };
    size_t r = r0;
    // Four rows per tile share each activation load (Zen 4 loads one zmm per cycle); the
    // GEMV tile then holds 16 accumulators, the GEMM tile 4 x 4, within 32 registers.
    // Intel cores load two zmm per cycle, and there the batch-1 tile runs rows of 256 B to
    // 1 KiB (in I2, 897 to 3968 columns) two at a time: cold, one SPR core, us, four rows -> two:
    // 2560x2560 115.0 / 110.0 -> 99.5 / 107.8, 6912x2560 293.3 / 282.7 -> 244.4 / 275.0,
    // 576x1536 16.4 / 16.9 -> 14.5 / 15.3; 2560x6912 (1728-byte rows) and 576x576
    // (160-byte rows) were as fast or faster with four.
    // Matrices of 1 MiB and more are streamed from DRAM in decode: one row at a time, a
    // single stream, reads them faster there (cold, SPR, % of the read roof at 1 / 2 threads,
    // two rounds, against the tiles: 2560x2560 90, 90 / 77, 79 vs 89, 87 / 76, 73; 6912x2560
    // 96, 93 / 88, 88 vs 92, 92 / 85, 80; 2560x6912 94, 94 / 87, 89 vs 90, 83 / 83, 70), while
    // small cache-resident ones lose the shared activation loads (warm GB/s, SmolLM2's
    // 576x576 / 1536x576: 17.8 / 18.5 vs 21.0-21.2 / 25.1), so those keep their tiles.
    // Intel only: unmeasured on Zen 4, whose single zmm load per cycle the tiles spare.
    if (nb == 1 && m.rows * rb >= (size_t{1} << 20) && cpu_is_intel())
      for (; r < r1; ++r) rows(std::integral_constant<int, 1>(), r);
    if (nb == 1 && rb >= 256 && rb < 1024 && cpu_is_intel())
      for (; r + 2 <= r1; r += 2) rows(std::integral_constant<int, 2>(), r);
    for (; r + 4 <= r1; r += 4) rows(std::integral_constant<int, 4>(), r);
    for (; r < r1; ++r) rows(std::integral_constant<int, 1>(), r);
  }
}

void ternary_i32(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch, size_t r0,
                 size_t r1, int32_t* out, size_t out_stride) {
  // From 16 tokens on, AMX tiles where the CPU and OS allow them (path_amx_gemm.cpp). A
  // VNNI panel GEMM like AVX2's (codes unpacked once, 4x6 vpdpbusd tile) lost to the tiles
  // below: warm, one core, us per token at batch 64 for 640x2560 / 576x1536 / 2560x6912:
  // panel 9.7 / 4.3 / 107, tiles 8.2 / 4.7 / 88, AMX 7.2 / 4.2 / 61 (both kernels do one
  // vpdpbusd per 64 multiply-adds; the tiles' decode is hidden behind it).
  if (batch >= 16 && amx_ready()) {
    amx_ternary_gemm(m, xq, x_stride, batch, r0, r1, out, out_stride);
    return;
  }
  if (m.layout == Layout::I2)
    ternary_layout<DecodeI2>(m, xq, x_stride, batch, r0, r1, out, out_stride);
  else
    ternary_layout<DecodeB3>(m, xq, x_stride, batch, r0, r1, out, out_stride);
}

// ---------------------------------------------------------------------------------
// Activation quantization, bit-identical to the scalar reference. max_ps returns its
// second operand when the first is NaN: that matches fmax ignoring NaNs (amax) and
// fmax(-128, NaN) = -128 (clamp). x * s is a plain float multiply (no FMA).

float quantize_row(const float* x, size_t cols, size_t padded, int8_t* xq) {
  const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  __m512 vmax = _mm512_setzero_ps();
  size_t c = 0;
  for (; c + 16 <= cols; c += 16) vmax = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(x + c), absmask), vmax);
  if (c < cols) {
    const __mmask16 m = static_cast<__mmask16>((1u << (cols - c)) - 1);
    vmax = _mm512_max_ps(_mm512_and_ps(_mm512_maskz_loadu_ps(m, x + c), absmask), vmax);
  }
  const float amax = _mm512_reduce_max_ps(vmax);
  const float s = 127.0f / std::fmax(amax, 1e-5f);

  const __m512 vs = _mm512_set1_ps(s), lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
  auto q32 = [&](__m512 v) {
    __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(v, vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(q, lo), hi));
  };
  for (c = 0; c + 16 <= cols; c += 16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(xq + c), _mm512_cvtsepi32_epi8(q32(_mm512_loadu_ps(x + c))));
  if (c < cols) {
    const __mmask16 m = static_cast<__mmask16>((1u << (cols - c)) - 1);
    _mm512_mask_cvtsepi32_storeu_epi8(xq + c, m, q32(_mm512_maskz_loadu_ps(m, x + c)));
  }
  if (padded > cols) std::memset(xq + cols, 0, padded - cols);
  return s;
}

// ---------------------------------------------------------------------------------
// Float matmuls: R rows x T tokens of 16-wide FMA accumulators; each weight vector
// is converted (f16) or loaded (f32) once per tile and reused for every token.
// Column tails use masked loads (zeros contribute nothing).

inline __m512 load_w(const uint16_t* p, __mmask16 m) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}
inline __m512 load_w(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512 load_w(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
inline __m512 load_w(const float* p) { return _mm512_loadu_ps(p); }

template <class W, int R, int T>
void float_tile(const W* w, size_t cols, const float* x, size_t x_stride, float* y, size_t y_stride) {
  __m512 acc[R][T];
  BITNET_UNROLL
  for (int r = 0; r < R; ++r)
    BITNET_UNROLL
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  size_t c = 0;
  for (; c + 16 <= cols; c += 16) {
    __m512 wv[R];
    BITNET_UNROLL
    for (int r = 0; r < R; ++r) {
      wv[r] = load_w(w + r * cols + c);
      _mm_prefetch(reinterpret_cast<const char*>(w + r * cols + c) + kPrefetch, _MM_HINT_T1);
    }
    BITNET_UNROLL
    for (int t = 0; t < T; ++t) {
      const __m512 a = _mm512_loadu_ps(x + t * x_stride + c);
      BITNET_UNROLL
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], a, acc[r][t]);
    }
  }
  if (c < cols) {
    const __mmask16 m = static_cast<__mmask16>((1u << (cols - c)) - 1);
    __m512 wv[R];
    BITNET_UNROLL
    for (int r = 0; r < R; ++r) wv[r] = load_w(w + r * cols + c, m);
    BITNET_UNROLL
    for (int t = 0; t < T; ++t) {
      const __m512 a = _mm512_maskz_loadu_ps(m, x + t * x_stride + c);
      BITNET_UNROLL
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], a, acc[r][t]);
    }
  }
  BITNET_UNROLL
  for (int r = 0; r < R; ++r)
    BITNET_UNROLL
    for (int t = 0; t < T; ++t) y[t * y_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
}

template <class W, int R>
void float_rows(const W* w, size_t cols, const float* x, size_t x_stride, size_t batch, float* y,
                size_t y_stride) {
  size_t t = 0;
  for (; t + 4 <= batch; t += 4) float_tile<W, R, 4>(w, cols, x + t * x_stride, x_stride, y + t * y_stride, y_stride);
  switch (batch - t) {
    case 3: float_tile<W, R, 3>(w, cols, x + t * x_stride, x_stride, y + t * y_stride, y_stride); break;
    case 2: float_tile<W, R, 2>(w, cols, x + t * x_stride, x_stride, y + t * y_stride, y_stride); break;
    case 1: float_tile<W, R, 1>(w, cols, x + t * x_stride, x_stride, y + t * y_stride, y_stride); break;
    default: break;
  }
}

// One token: one row at a time, a single stream through memory with one L2 prefetch per
// 64-byte line; four interleaved rows kept fewer lines in flight. Cold, the F16 head of a
// 2B model (`bench kernels --shapes 128256x2560 --backends f16 --batch 1`), one SPR, two
// rounds, GB/s at 1 / 2 threads: the 4-row tile 15.86, 16.80 / 32.74, 33.32, one row
// 19.24, 19.41 / 39.06, 40.11 (the read roof 17.7-19.9 / 35.4-39.3). One accumulator: 16
// columns per FMA latency is ~33 GB/s a core, above the roof (AVX2's 8 are not; see there).
template <class W>
void float_row(const W* w, size_t cols, const float* x, float* y) {
  // One accumulator, columns in order, the tail masked: the same sums in the same order as
  // float_tile, so a token's result does not depend on the batch it came in.
  constexpr size_t kStep = 64 / sizeof(W);  // elements per cache line
  __m512 acc = _mm512_setzero_ps();
  size_t c = 0;
  for (; c + 32 <= cols; c += 32) {
    BITNET_UNROLL
    for (size_t o = 0; o < 32; o += kStep)
      _mm_prefetch(reinterpret_cast<const char*>(w + c + o) + kPrefetch, _MM_HINT_T1);
    acc = _mm512_fmadd_ps(load_w(w + c), _mm512_loadu_ps(x + c), acc);
    acc = _mm512_fmadd_ps(load_w(w + c + 16), _mm512_loadu_ps(x + c + 16), acc);
  }
  for (; c + 16 <= cols; c += 16) acc = _mm512_fmadd_ps(load_w(w + c), _mm512_loadu_ps(x + c), acc);
  if (c < cols) {
    const __mmask16 m = static_cast<__mmask16>((1u << (cols - c)) - 1);
    acc = _mm512_fmadd_ps(load_w(w + c, m), _mm512_maskz_loadu_ps(m, x + c), acc);
  }
  *y = _mm512_reduce_add_ps(acc);
}

template <class W>
void float_matmul(const W* w, size_t cols, const float* x, size_t x_stride, size_t batch, size_t r0,
                  size_t r1, float* y, size_t y_stride) {
  if (batch == 1) {
    for (size_t r = r0; r < r1; ++r) float_row(w + r * cols, cols, x, y + (r - r0));
    return;
  }
  size_t r = r0;
  for (; r + 4 <= r1; r += 4) float_rows<W, 4>(w + r * cols, cols, x, x_stride, batch, y + (r - r0), y_stride);
  for (; r < r1; ++r) float_rows<W, 1>(w + r * cols, cols, x, x_stride, batch, y + (r - r0), y_stride);
}

void f16_matmul(const uint16_t* w, size_t cols, const float* x, size_t x_stride, size_t batch, size_t r0,
                size_t r1, float* y, size_t y_stride) {
  float_matmul(w, cols, x, x_stride, batch, r0, r1, y, y_stride);
}

void f32_matmul(const float* w, size_t cols, const float* x, size_t x_stride, size_t batch, size_t r0,
                size_t r1, float* y, size_t y_stride) {
  float_matmul(w, cols, x, x_stride, batch, r0, r1, y, y_stride);
}

const PathKernels kAvx512 = {"avx512", ternary_i32, quantize_row, f16_matmul, f32_matmul};

}  // namespace

const PathKernels* avx512_kernels() { return &kAvx512; }

}  // namespace bitnet
