// The AVX2 + FMA + F16C path.
//
// Ternary: one 32-byte block is exactly one 256-bit register, and code n of byte j
// pairs with activation j + 32n of the block, so the activations are used in their
// natural order (no permutation). Codes are unsigned {0,1,2}, so
//   dot(w, x) = dot(code, x) - sum(x)
// and dot(code, x) is `maddubs` (u8 x s8 -> s16 pair sums) followed by `madd` with
// ones (s16 -> s32). maddubs saturates at +-32767; the bounds are given per kernel.
//
// Three kernels, by batch size:
// * batch 1, I2: i2_gemv, the decode trimmed to one shift per block (see there);
// * small batches: a tile of R rows x T tokens keeps R*T int32 accumulators and decodes
//   each block once per tile;
// * from kGemmMinBatch tokens on: path_avx2_gemm.cpp (a panel unpacked once, reused by
//   every token).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "avx2_decode.h"
#include "kernels.h"
#include "ternary_gemm.h"

namespace bitnet {
namespace {

// Software prefetch into L2, 16 KiB ahead of each row stream: demand misses alone keep
// too few lines in flight for a streaming GEMV (measured on Zen 4 with the AVX-512
// path: cold GEMV went from 11 to ~25 GB/s on one core). Once per 64-byte line, not per
// 32-byte block: the second prefetch of a line is not free (it takes a load slot and
// looks up a line already on its way). Measured cold on one SPR core, 2B4T shapes:
// AVX-VNNI GEMV 68-78% -> 77-91% of the read bandwidth, AVX2 66-76% -> 69-80%.
constexpr size_t kPrefetch = 16384;

// Batch size from which the unpacked-panel GEMM beats decoding per token tile (warm, one
// core, us per token, tiles -> GEMM: batch 4: 640x2560 24.4 -> 18.3, 2560x6912 268 -> 316;
// batch 64: 26.7 -> 15.5, 282 -> 171), and the rows per batch-1 I2 tile (they share the
// activation loads).
constexpr size_t kGemmMinBatch = 8;
constexpr int kGemvRows = 2;

// R rows x T tokens over all blocks. Blocks are BC = 32 * NC activations wide.
template <class D, int R, int T>
void ternary_tile(const uint8_t* w, size_t rb, size_t nblocks, const int8_t* const* xs,
                  const int32_t* sums, int32_t* out, size_t out_stride) {
  constexpr int NC = D::NC;
  constexpr int BC = 32 * NC;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_si256();
  for (size_t b = 0; b < nblocks; ++b) {
    __m256i s16[R][T];
    D dec[R];
    for (int r = 0; r < R; ++r) {
      const uint8_t* src = w + r * rb + b * 32;
      dec[r] = D(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(src)));
      if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(src + kPrefetch), _MM_HINT_T1);
    }
    for (int n = 0; n < NC; ++n) {
      __m256i c[R];
      for (int r = 0; r < R; ++r) c[r] = dec[r].next(n);
      for (int t = 0; t < T; ++t) {
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs[t] + b * BC + 32 * n));
        for (int r = 0; r < R; ++r) {
          const __m256i p = _mm256_maddubs_epi16(c[r], a);
          s16[r][t] = n == 0 ? p : _mm256_add_epi16(s16[r][t], p);
        }
      }
    }
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t)
        acc[r][t] = _mm256_add_epi32(acc[r][t], _mm256_madd_epi16(s16[r][t], ones));
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[t * out_stride + r] = hsum_i32(acc[r][t]) - sums[t];
}

// I2, one token, R rows. Plane n of a block masked in place is 4^(n mod 2) * code_n once
// the block is shifted right by 4 for planes 2 and 3: one shift and four ANDs decode a
// block (the tile kernel needs three shifts). Planes 0 and 2 (x1) add up in one int16
// accumulator, planes 1 and 3 (x4) in another: pair sums in [-512, 508] and [-2048, 2032],
// so over kGemvGroup = 6 blocks at most 6 * 2 * 2048 = 24576 in int16. Widening takes
// madd with 4 (x1 planes) and 1 (x4 planes): 4 * dot(code, x), divided by 4 (exact) at the
// end. 13 vector uops per 32 bytes and row; one shared accumulator (lo * 4 + hi per
// block) took 14: cold 1-3% faster, warm -2% to +8% over five rounds on one Sapphire Rapids core.
constexpr size_t kGemvGroup = 6;

template <int R>
void i2_gemv(const uint8_t* w, size_t rb, size_t nblocks, const int8_t* x, int32_t sum, int32_t* out) {
  const __m256i m03 = _mm256_set1_epi8(0x03), m0c = _mm256_set1_epi8(0x0c);
  const __m256i ones = _mm256_set1_epi16(1), fours = _mm256_set1_epi16(4);
  __m256i acc32[R];
  for (int r = 0; r < R; ++r) acc32[r] = _mm256_setzero_si256();
  for (size_t b0 = 0; b0 < nblocks; b0 += kGemvGroup) {
    const size_t b1 = std::min(nblocks, b0 + kGemvGroup);
    __m256i lo[R], hi[R];
    for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_si256();
    for (size_t b = b0; b < b1; ++b) {
      const int8_t* xb = x + b * 128;
      const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb));
      const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 32));
      const __m256i x2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 64));
      const __m256i x3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb + 96));
      for (int r = 0; r < R; ++r) {
        const uint8_t* src = w + r * rb + b * 32;
        if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(src + kPrefetch), _MM_HINT_T1);
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
        const __m256i v4 = _mm256_srli_epi16(v, 4);
        lo[r] = _mm256_add_epi16(lo[r], _mm256_maddubs_epi16(_mm256_and_si256(v, m03), x0));
        hi[r] = _mm256_add_epi16(hi[r], _mm256_maddubs_epi16(_mm256_and_si256(v, m0c), x1));
        lo[r] = _mm256_add_epi16(lo[r], _mm256_maddubs_epi16(_mm256_and_si256(v4, m03), x2));
        hi[r] = _mm256_add_epi16(hi[r], _mm256_maddubs_epi16(_mm256_and_si256(v4, m0c), x3));
      }
    }
    for (int r = 0; r < R; ++r)
      acc32[r] = _mm256_add_epi32(acc32[r], _mm256_add_epi32(_mm256_madd_epi16(lo[r], fours), _mm256_madd_epi16(hi[r], ones)));
  }
  for (int r = 0; r < R; ++r) out[r] = (hsum_i32(acc32[r]) >> 2) - sum;
}

template <class D, int R>
void ternary_rows(const uint8_t* w, size_t rb, size_t nblocks, const int8_t* const* xs,
                  const int32_t* sums, size_t batch, int32_t* out, size_t out_stride) {
  // Up to 4 tokens per tile: with R = 2 that is 8 accumulators + 2 decoders + 2 code
  // vectors, about what 16 ymm registers hold.
  size_t t = 0;
  for (; t + 4 <= batch; t += 4)
    ternary_tile<D, R, 4>(w, rb, nblocks, xs + t, sums + t, out + t * out_stride, out_stride);
  switch (batch - t) {
    case 3: ternary_tile<D, R, 3>(w, rb, nblocks, xs + t, sums + t, out + t * out_stride, out_stride); break;
    case 2: ternary_tile<D, R, 2>(w, rb, nblocks, xs + t, sums + t, out + t * out_stride, out_stride); break;
    case 1: ternary_tile<D, R, 1>(w, rb, nblocks, xs + t, sums + t, out + t * out_stride, out_stride); break;
    default: break;
  }
}

template <class D>
void ternary_layout(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch,
                    size_t r0, size_t r1, int32_t* out, size_t out_stride) {
  const size_t rb = row_bytes(m.layout, m.cols);
  const size_t padded = padded_cols(m.layout, m.cols);
  const size_t nblocks = padded / (32 * D::NC);
  // Token pointers and activation sums, once per call (not per row).
  constexpr size_t kChunk = 64;
  const int8_t* xs[kChunk];
  int32_t sums[kChunk];
  for (size_t b0 = 0; b0 < batch; b0 += kChunk) {
    const size_t nb = std::min(kChunk, batch - b0);
    for (size_t t = 0; t < nb; ++t) {
      xs[t] = xq + (b0 + t) * x_stride;
      sums[t] = sum_i8(xs[t], padded);
    }
    int32_t* o = out + b0 * out_stride;
    size_t r = r0;
    for (; r + 2 <= r1; r += 2)
      ternary_rows<D, 2>(m.data + r * rb, rb, nblocks, xs, sums, nb, o + (r - r0), out_stride);
    if (r < r1) ternary_rows<D, 1>(m.data + r * rb, rb, nblocks, xs, sums, nb, o + (r - r0), out_stride);
  }
}

void i2_gemv_rows(const TernaryMatrix& m, const int8_t* x, size_t r0, size_t r1, int32_t* out) {
  const size_t rb = row_bytes(m.layout, m.cols);
  const size_t padded = padded_cols(m.layout, m.cols);
  const size_t nblocks = padded / 128;
  const int32_t sum = sum_i8(x, padded);
  size_t r = r0;
  for (; r + kGemvRows <= r1; r += kGemvRows) i2_gemv<kGemvRows>(m.data + r * rb, rb, nblocks, x, sum, out + (r - r0));
  for (; r < r1; ++r) i2_gemv<1>(m.data + r * rb, rb, nblocks, x, sum, out + (r - r0));
}

void ternary_i32(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch, size_t r0,
                 size_t r1, int32_t* out, size_t out_stride) {
  if (batch >= kGemmMinBatch) {
    avx2_ternary_gemm(m, xq, x_stride, batch, r0, r1, out, out_stride);
    return;
  }
  if (m.layout == Layout::I2 && batch == 1) {
    i2_gemv_rows(m, xq, r0, r1, out);
    return;
  }
  if (m.layout == Layout::I2)
    ternary_layout<DecodeI2>(m, xq, x_stride, batch, r0, r1, out, out_stride);
  else
    ternary_layout<DecodeB3>(m, xq, x_stride, batch, r0, r1, out, out_stride);
}

// ---------------------------------------------------------------------------------
// Activation quantization: bit-identical to the scalar reference. max_ps returns its
// second operand when the first is NaN, which matches fmax ignoring NaNs (amax) and
// fmax(-128, NaN) = -128 (clamp). The product x * s is a plain float multiply.

float quantize_row(const float* x, size_t cols, size_t padded, int8_t* xq) {
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 vmax = _mm256_setzero_ps();
  size_t c = 0;
  for (; c + 8 <= cols; c += 8) vmax = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + c), absmask), vmax);
  float tmp[8];
  _mm256_storeu_ps(tmp, vmax);
  float amax = 0.0f;
  for (float v : tmp) amax = std::fmax(amax, v);
  for (; c < cols; ++c) amax = std::fmax(amax, std::fabs(x[c]));
  const float s = 127.0f / std::fmax(amax, 1e-5f);

  const __m256 vs = _mm256_set1_ps(s), lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
  auto q8 = [&](const float* p) {
    __m256 q = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(p), vs), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm256_min_ps(_mm256_max_ps(q, lo), hi);
    return _mm256_cvtps_epi32(q);
  };
  c = 0;
  const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (; c + 32 <= cols; c += 32) {
    const __m256i ab = _mm256_packs_epi32(q8(x + c), q8(x + c + 8));
    const __m256i cd = _mm256_packs_epi32(q8(x + c + 16), q8(x + c + 24));
    // packs works per 128-bit lane; the permutation restores element order.
    const __m256i v = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd), perm);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(xq + c), v);
  }
  for (; c < cols; ++c) {
    float q = std::nearbyint(x[c] * s);
    q = std::fmin(127.0f, std::fmax(-128.0f, q));
    xq[c] = static_cast<int8_t>(q);
  }
  if (padded > cols) std::memset(xq + cols, 0, padded - cols);
  return s;
}

// ---------------------------------------------------------------------------------
// Float matmuls: R rows x T tokens of 8-wide FMA accumulators; the weight vector is
// converted (f16) or loaded (f32) once and reused for every token of the tile.

inline __m256 load_w(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline __m256 load_w(const float* p) { return _mm256_loadu_ps(p); }
inline float scalar_w(const uint16_t* p) { return _cvtsh_ss(*p); }
inline float scalar_w(const float* p) { return *p; }

inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <class W, int R, int T>
void float_tile(const W* w, size_t cols, const float* x, size_t x_stride, float* y, size_t y_stride) {
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  size_t c = 0;
  for (; c + 8 <= cols; c += 8) {
    __m256 wv[R];
    for (int r = 0; r < R; ++r) {
      wv[r] = load_w(w + r * cols + c);
      // one prefetch per 64-byte line (a step reads 16 or 32 bytes of it)
      if ((c * sizeof(W)) % 64 == 0)
        _mm_prefetch(reinterpret_cast<const char*>(w + r * cols + c) + kPrefetch, _MM_HINT_T1);
    }
    for (int t = 0; t < T; ++t) {
      const __m256 a = _mm256_loadu_ps(x + t * x_stride + c);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], a, acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) {
      float s = hsum_ps(acc[r][t]);
      for (size_t k = c; k < cols; ++k) s += scalar_w(w + r * cols + k) * x[t * x_stride + k];
      y[t * y_stride + r] = s;
    }
}

template <class W, int R>
void float_rows(const W* w, size_t cols, const float* x, size_t x_stride, size_t batch, float* y,
                size_t y_stride) {
  size_t t = 0;
  for (; t + 3 <= batch; t += 3) float_tile<W, R, 3>(w, cols, x + t * x_stride, x_stride, y + t * y_stride, y_stride);
  if (batch - t == 2) float_tile<W, R, 2>(w, cols, x + t * x_stride, x_stride, y + t * y_stride, y_stride);
  if (batch - t == 1) float_tile<W, R, 1>(w, cols, x + t * x_stride, x_stride, y + t * y_stride, y_stride);
}

// One token takes the 4-row tile here, not a single-row stream as on the AVX-512 path: in
// float_tile's order (needed so a token's result does not depend on its batch) one row is
// one FMA chain, 8 columns per FMA latency, and that bounds it. Cold, the 657 MB F16 head
// of a 2B model on one SPR core, GB/s: one row 12.3, the tile 15.6 (two threads: 25.5 vs
// 31.6); one row with four accumulators would read 14.5 / 32.6 but sums in another order.
template <class W>
void float_matmul(const W* w, size_t cols, const float* x, size_t x_stride, size_t batch, size_t r0,
                  size_t r1, float* y, size_t y_stride) {
  size_t r = r0;
  // 4 rows x 3 tokens = 12 accumulators + 4 weight vectors: within 16 ymm registers.
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

const PathKernels kAvx2 = {"avx2", ternary_i32, quantize_row, f16_matmul, f32_matmul};

}  // namespace

const PathKernels* avx2_kernels() { return &kAvx2; }

}  // namespace bitnet
