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
#include <vector>

#include "kernels.h"

namespace bitnet {
namespace {

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

// How far ahead (bytes) each row stream prefetches. The hardware prefetcher follows
// the sequential streams too; the software prefetch only covers its ramp-up at the
// start of each row group.
constexpr size_t kPrefetch = 512;

// R rows x T tokens over all block pairs. xp: permuted activations of token 0, token
// t at xp + t * xps. `npairs` full 64-byte pairs, then an optional half pair.
template <class D, int R, int T>
void ternary_tile(const uint8_t* w, size_t rb, size_t npairs, bool half, const int8_t* xp,
                  size_t xps, const int32_t* sums, int32_t* out, size_t out_stride) {
  constexpr int NC = D::NC;
  __m512i acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_si512();
  auto step = [&](size_t p, __mmask64 m, bool masked) {
    D dec[R];
    for (int r = 0; r < R; ++r) {
      const uint8_t* src = w + r * rb + p * 64;
      dec[r] = D(masked ? _mm512_maskz_loadu_epi8(m, src) : _mm512_loadu_si512(src));
      if (!masked) _mm_prefetch(reinterpret_cast<const char*>(src + kPrefetch), _MM_HINT_T0);
    }
    const int8_t* xb = xp + p * (NC * 64);
    for (int n = 0; n < NC; ++n) {
      __m512i c[R];
      for (int r = 0; r < R; ++r) c[r] = dec[r].next(n);
      for (int t = 0; t < T; ++t) {
        const __m512i a = _mm512_loadu_si512(xb + t * xps + n * 64);
        for (int r = 0; r < R; ++r) acc[r][t] = _mm512_dpbusd_epi32(acc[r][t], c[r], a);
      }
    }
  };
  for (size_t p = 0; p < npairs; ++p) step(p, ~__mmask64(0), false);
  if (half) step(npairs, __mmask64(0xffffffffu), true);
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) out[t * out_stride + r] = _mm512_reduce_add_epi32(acc[r][t]) - sums[t];
}

template <class D, int R>
void ternary_rows(const uint8_t* w, size_t rb, size_t npairs, bool half, const int8_t* xp, size_t xps,
                  const int32_t* sums, size_t batch, int32_t* out, size_t out_stride) {
  size_t t = 0;
  // With R = 4: 4 x 4 accumulators + 4 decoders + 4 code vectors fit the 32 zmm.
  for (; t + 4 <= batch; t += 4)
    ternary_tile<D, R, 4>(w, rb, npairs, half, xp + t * xps, xps, sums + t, out + t * out_stride, out_stride);
  switch (batch - t) {
    case 3: ternary_tile<D, R, 3>(w, rb, npairs, half, xp + t * xps, xps, sums + t, out + t * out_stride, out_stride); break;
    case 2: ternary_tile<D, R, 2>(w, rb, npairs, half, xp + t * xps, xps, sums + t, out + t * out_stride, out_stride); break;
    case 1: ternary_tile<D, R, 1>(w, rb, npairs, half, xp + t * xps, xps, sums + t, out + t * out_stride, out_stride); break;
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
    int32_t* o = out + b0 * out_stride;
    size_t r = r0;
    for (; r + 4 <= r1; r += 4)
      ternary_rows<D, 4>(m.data + r * rb, rb, npairs, half, xbuf.data(), xps, sbuf.data(), nb, o + (r - r0), out_stride);
    for (; r < r1; ++r)
      ternary_rows<D, 1>(m.data + r * rb, rb, npairs, half, xbuf.data(), xps, sbuf.data(), nb, o + (r - r0), out_stride);
  }
}

void ternary_i32(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch, size_t r0,
                 size_t r1, int32_t* out, size_t out_stride) {
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
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  size_t c = 0;
  for (; c + 16 <= cols; c += 16) {
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load_w(w + r * cols + c);
    for (int t = 0; t < T; ++t) {
      const __m512 a = _mm512_loadu_ps(x + t * x_stride + c);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], a, acc[r][t]);
    }
  }
  if (c < cols) {
    const __mmask16 m = static_cast<__mmask16>((1u << (cols - c)) - 1);
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load_w(w + r * cols + c, m);
    for (int t = 0; t < T; ++t) {
      const __m512 a = _mm512_maskz_loadu_ps(m, x + t * x_stride + c);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], a, acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
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

template <class W>
void float_matmul(const W* w, size_t cols, const float* x, size_t x_stride, size_t batch, size_t r0,
                  size_t r1, float* y, size_t y_stride) {
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
