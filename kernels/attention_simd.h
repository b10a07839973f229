// Attention over one KV head, shared by the AVX2 and AVX-512 op kernels (each includes
// this header under its own ISA flags with its own vector traits `T`; internal linkage).
//
// Scores: q . K_j for four positions at a time, their accumulators reduced together (one
// horizontal reduction per four positions). Weighted
// sum: the output stays in registers -- up to four vectors of columns, even and odd rows
// in two accumulators -- for the whole pass over the positions, instead of a load/FMA/store of the
// output row per position (the store-to-load chain made that the costliest loop of a
// small model's decode). Head sizes that are not a multiple of the vector width take the
// plain per-position loops.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace bitnet {
namespace {

// Row j of a float32 or fp16 cache, as vector v of columns [c, c + T::VL).
template <class T, bool H>
inline typename T::V kv_load(const void* base, size_t off) {
  if (H) return T::load_h(static_cast<const uint16_t*>(base) + off);
  return T::load(static_cast<const float*>(base) + off);
}

// The cache is read from memory once per decoded token (1,500 positions of a 2B4T-shape
// model: 230 MB, a fifth of the token's bytes), in short runs of one KV head each, which
// the hardware prefetcher alone left at ~8.5 GB/s on one core. K is prefetched a few rows
// ahead of the scores, V a whole block ahead of the weighted sum (below): decode at 1,500
// positions 101-105 -> 96-98 ms per token on one Sapphire Rapids core, 56-57 -> 51-53 ms
// on two (A/B, four rounds; 128 positions: within noise).
constexpr size_t kKvPrefetchRows = 8;

// Into L1, every line of cache rows [r0, r1) (rb bytes each).
inline void prefetch_rows(const void* base, size_t r0, size_t r1, size_t rb) {
  const char* b = static_cast<const char*>(base);
  for (size_t o = r0 * rb; o < r1 * rb; o += 64) _mm_prefetch(b + o, _MM_HINT_T0);
}

// One accumulator per (query, row), summed in column order and reduced four at a time by
// the same tree whether the four are rows (decode) or queries (prefill) -- dot4 below --
// and the weighted sum split into even and odd rows the same way in both: a token's
// attention is bit-identical however its prompt was split into calls.
// Four dot products q_g . K[o0 + g * os], query g at q0 + g * qs, as scale * (four sums):
// rows of one query (qs = 0, os = hd; the query vector is then loaded once) or queries of
// one row (os = 0). The one place this arithmetic lives, so decode and prefill agree.
template <class T, bool H>
inline __m128 dot4(const float* q0, size_t qs, const void* k, size_t o0, size_t os, size_t hd) {
  typename T::V a0 = T::zero(), a1 = T::zero(), a2 = T::zero(), a3 = T::zero();
  for (size_t i = 0; i < hd; i += T::VL) {
    const typename T::V q = T::load(q0 + i);
    a0 = T::fmadd(q, kv_load<T, H>(k, o0 + i), a0);
    a1 = T::fmadd(qs ? T::load(q0 + qs + i) : q, kv_load<T, H>(k, o0 + os + i), a1);
    a2 = T::fmadd(qs ? T::load(q0 + 2 * qs + i) : q, kv_load<T, H>(k, o0 + 2 * os + i), a2);
    a3 = T::fmadd(qs ? T::load(q0 + 3 * qs + i) : q, kv_load<T, H>(k, o0 + 3 * os + i), a3);
  }
  return T::reduce4(a0, a1, a2, a3);
}

template <class T, bool H>
float attn_scores_t(const float* q, const void* k, size_t len, size_t hd, float scale, float* sc) {
  const size_t rb = hd * (H ? 2 : 4);
  size_t j = 0;
  for (; j + 4 <= len; j += 4) {
    if (j + kKvPrefetchRows + 4 <= len) prefetch_rows(k, j + kKvPrefetchRows, j + kKvPrefetchRows + 4, rb);
    T::store4(sc + j, dot4<T, H>(q, 0, k, j * hd, hd, hd), scale);
  }
  for (; j < len; ++j) {  // the last rows alone: the same sum four times, one kept
    alignas(16) float out[4];
    T::store4(out, dot4<T, H>(q, 0, k, j * hd, 0, hd), scale);
    sc[j] = out[0];
  }
  float mx = -std::numeric_limits<float>::infinity();
  for (j = 0; j < len; ++j) mx = std::max(mx, sc[j]);
  return mx;
}

// The weighted sums run over the positions in blocks of ~16 KiB of V rows: every column
// slice (its accumulators stay in registers) passes over a block, and the partial sums
// wait in `part` between blocks. The blocks are what lets V be prefetched a block ahead
// (one pass per slice over the whole cache reads each row in slices, 128 of every 512
// bytes per pass for float32 rows of 128; blocked without the prefetch it measured the
// same as unblocked). Blocks are an even number of rows, so every accumulator adds the same
// rows in the same order as one pass over everything: bit-identical to the unblocked loop.
constexpr size_t kWsumMaxHd = 512;  // larger heads take one block (no partial sums)

template <bool H>
inline size_t wsum_block_rows(size_t hd, size_t len) {
  if (hd > kWsumMaxHd) return len;
  return std::max<size_t>(2, 16384 / (hd * (H ? 2 : 4)) / 2 * 2);
}

// NV vectors of columns [c0, c0 + NV * VL) of out = sum_j p_j V_j, rows [j0, j1) of it:
// the even / odd row accumulators start at zero (first) or from part + 2 * c0, and end in
// out (last) or back in part.
template <class T, bool H, int NV>
void wsum_cols(const float* p, const void* v, size_t j0, size_t j1, size_t hd, size_t c0, float* part,
               bool first, bool last, float* out) {
  typename T::V a[NV], b[NV];  // even and odd rows (two FMA chains), added at the end
  float* pa = part + 2 * c0;
  for (int i = 0; i < NV; ++i) {
    a[i] = first ? T::zero() : T::load(pa + i * T::VL);
    b[i] = first ? T::zero() : T::load(pa + (NV + i) * T::VL);
  }
  size_t j = j0;
  for (; j + 2 <= j1; j += 2) {
    const typename T::V p0 = T::set1(p[j]), p1 = T::set1(p[j + 1]);
    for (int i = 0; i < NV; ++i) {
      a[i] = T::fmadd(p0, kv_load<T, H>(v, j * hd + c0 + i * T::VL), a[i]);
      b[i] = T::fmadd(p1, kv_load<T, H>(v, (j + 1) * hd + c0 + i * T::VL), b[i]);
    }
  }
  if (j < j1) {
    const typename T::V p0 = T::set1(p[j]);
    for (int i = 0; i < NV; ++i) a[i] = T::fmadd(p0, kv_load<T, H>(v, j * hd + c0 + i * T::VL), a[i]);
  }
  for (int i = 0; i < NV; ++i) {
    if (last) {
      T::store(out + c0 + i * T::VL, T::add(a[i], b[i]));
    } else {
      T::store(pa + i * T::VL, a[i]);
      T::store(pa + (NV + i) * T::VL, b[i]);
    }
  }
}

template <class T, bool H>
void attn_wsum_t(const float* p, const void* v, size_t len, size_t hd, float* out) {
  alignas(64) float part[2 * kWsumMaxHd];
  const size_t block = wsum_block_rows<H>(hd, len);
  size_t j0 = 0;
  do {  // len 0 still writes the zero sum
    const size_t j1 = std::min(len, j0 + block);
    const bool first = j0 == 0, last = j1 == len;
    prefetch_rows(v, j1, std::min(len, j1 + block), hd * (H ? 2 : 4));  // the next block
    size_t c = 0;
    for (; c + 4 * T::VL <= hd; c += 4 * T::VL) wsum_cols<T, H, 4>(p, v, j0, j1, hd, c, part, first, last, out);
    switch ((hd - c) / T::VL) {
      case 3: wsum_cols<T, H, 3>(p, v, j0, j1, hd, c, part, first, last, out); break;
      case 2: wsum_cols<T, H, 2>(p, v, j0, j1, hd, c, part, first, last, out); break;
      case 1: wsum_cols<T, H, 1>(p, v, j0, j1, hd, c, part, first, last, out); break;
      default: break;
    }
    j0 = j1;
  } while (j0 < len);
}

// The OpKernels entries: vector loops when hd is a multiple of the width, else plain ones.
template <class T>
float attn_scores(const float* q, const void* k, bool f16, size_t len, size_t hd, float scale, float* sc) {
  if (hd % T::VL == 0)
    return f16 ? attn_scores_t<T, true>(q, k, len, hd, scale, sc) : attn_scores_t<T, false>(q, k, len, hd, scale, sc);
  float mx = -std::numeric_limits<float>::infinity();
  for (size_t j = 0; j < len; ++j) {
    float s = 0.0f;
    for (size_t i = 0; i < hd; ++i) s += q[i] * T::scalar(k, f16, j * hd + i);
    sc[j] = s * scale;
    mx = std::max(mx, sc[j]);
  }
  return mx;
}

template <class T>
void attn_wsum(const float* p, const void* v, bool f16, size_t len, size_t hd, float* out) {
  if (hd % T::VL == 0) {
    if (f16)
      attn_wsum_t<T, true>(p, v, len, hd, out);
    else
      attn_wsum_t<T, false>(p, v, len, hd, out);
    return;
  }
  std::fill(out, out + hd, 0.0f);
  for (size_t j = 0; j < len; ++j)
    for (size_t i = 0; i < hd; ++i) out[i] += p[j] * T::scalar(v, f16, j * hd + i);
}

// Four queries against RB rows at once: 4 x RB accumulators, so each vector of a row and
// of a query is loaded once per block instead of one query vector per FMA (dot4 with four
// queries loads five vectors per four FMAs and was load-bound: 18.7% of a 1,500-token
// prefill on one SPR core). Each (query, row) accumulator still adds its columns in order
// from zero and the four queries of a row are reduced by reduce4, exactly as dot4 does.
template <class T, bool H, int RB>
inline void dots4xrb(const float* q, size_t qs, const void* k, size_t j, size_t hd, float scale, float* sc,
                     size_t ss) {
  typename T::V a[RB][4];
  for (int r = 0; r < RB; ++r)
    for (int g = 0; g < 4; ++g) a[r][g] = T::zero();
  for (size_t i = 0; i < hd; i += T::VL) {
    const typename T::V q0 = T::load(q + i), q1 = T::load(q + qs + i);
    const typename T::V q2 = T::load(q + 2 * qs + i), q3 = T::load(q + 3 * qs + i);
    for (int r = 0; r < RB; ++r) {
      const typename T::V kv = kv_load<T, H>(k, (j + r) * hd + i);
      a[r][0] = T::fmadd(q0, kv, a[r][0]);
      a[r][1] = T::fmadd(q1, kv, a[r][1]);
      a[r][2] = T::fmadd(q2, kv, a[r][2]);
      a[r][3] = T::fmadd(q3, kv, a[r][3]);
    }
  }
  for (int r = 0; r < RB; ++r) {
    alignas(16) float out[4];
    T::store4(out, T::reduce4(a[r][0], a[r][1], a[r][2], a[r][3]), scale);
    for (size_t g = 0; g < 4; ++g) sc[g * ss + j + r] = out[g];
  }
}

// Four queries against the same K rows: blocks of rows as above (4 with 32 registers, 2
// with 16), then the last rows one at a time through dot4 (the same sums). A/B on one SPR
// core, 2B4T shape, 1,500-token prompt: prefill 103.8-108.5 -> 108.5-111.6 tok/s at 1
// thread, 194.3-198.4 -> 201.0-204.2 at 2; decode after it 99.5-100.8 -> 97.3-99.0 ms;
// the AVX2 path (two rows a block) within noise: 97.3-100.9 vs 95.8-101.7 tok/s.
template <class T, bool H>
void scores4_t(const float* q, size_t qs, const void* k, size_t len, size_t hd, float scale, float* sc,
               size_t ss) {
  constexpr int RB = T::VL == 16 ? 4 : 2;
  const size_t rb = hd * (H ? 2 : 4);  // bytes per cached row
  size_t j = 0;
  for (; j + RB <= len; j += RB) {
    if (j + kKvPrefetchRows + RB <= len) prefetch_rows(k, j + kKvPrefetchRows, j + kKvPrefetchRows + RB, rb);
    dots4xrb<T, H, RB>(q, qs, k, j, hd, scale, sc, ss);
  }
  for (; j < len; ++j) {
    alignas(16) float r[4];
    T::store4(r, dot4<T, H>(q, qs, k, j * hd, 0, hd), scale);
    for (size_t g = 0; g < 4; ++g) sc[g * ss + j] = r[g];
  }
}

template <class T>
void attn_scores4(const float* q, size_t qs, const void* k, bool f16, size_t len, size_t hd, float scale,
                  float* sc, size_t ss) {
  if (hd % T::VL == 0) {
    if (f16)
      scores4_t<T, true>(q, qs, k, len, hd, scale, sc, ss);
    else
      scores4_t<T, false>(q, qs, k, len, hd, scale, sc, ss);
    return;
  }
  for (size_t g = 0; g < 4; ++g) attn_scores<T>(q + g * qs, k, f16, len, hd, scale, sc + g * ss);
}

// NV vectors of columns [c0, c0 + NV * VL) of four outputs, each V vector loaded once;
// per query the arithmetic of wsum_cols (even and odd rows in two accumulators, rows
// [j0, j1), partial sums in part + 8 * c0 between blocks).
template <class T, bool H, int NV>
void wsum4_cols(const float* p, size_t ps, const void* v, size_t j0, size_t j1, size_t hd, size_t c0,
                float* part, bool first, bool last, float* out, size_t os) {
  typename T::V a[4][NV], b[4][NV];
  float* pa = part + 8 * c0;
  for (int g = 0; g < 4; ++g)
    for (int i = 0; i < NV; ++i) {
      a[g][i] = first ? T::zero() : T::load(pa + (2 * g * NV + i) * T::VL);
      b[g][i] = first ? T::zero() : T::load(pa + ((2 * g + 1) * NV + i) * T::VL);
    }
  size_t j = j0;
  for (; j + 2 <= j1; j += 2)
    for (int i = 0; i < NV; ++i) {
      const typename T::V v0 = kv_load<T, H>(v, j * hd + c0 + i * T::VL);
      const typename T::V v1 = kv_load<T, H>(v, (j + 1) * hd + c0 + i * T::VL);
      for (int g = 0; g < 4; ++g) {
        a[g][i] = T::fmadd(T::set1(p[g * ps + j]), v0, a[g][i]);
        b[g][i] = T::fmadd(T::set1(p[g * ps + j + 1]), v1, b[g][i]);
      }
    }
  if (j < j1)
    for (int i = 0; i < NV; ++i) {
      const typename T::V v0 = kv_load<T, H>(v, j * hd + c0 + i * T::VL);
      for (int g = 0; g < 4; ++g) a[g][i] = T::fmadd(T::set1(p[g * ps + j]), v0, a[g][i]);
    }
  for (int g = 0; g < 4; ++g)
    for (int i = 0; i < NV; ++i) {
      if (last) {
        T::store(out + g * os + c0 + i * T::VL, T::add(a[g][i], b[g][i]));
      } else {
        T::store(pa + (2 * g * NV + i) * T::VL, a[g][i]);
        T::store(pa + ((2 * g + 1) * NV + i) * T::VL, b[g][i]);
      }
    }
}

template <class T, bool H>
void wsum4_t(const float* p, size_t ps, const void* v, size_t len, size_t hd, float* out, size_t os) {
  constexpr int NV = T::VL == 16 ? 2 : 1;  // 4 queries x 2 rows x NV accumulators
  alignas(64) float part[8 * kWsumMaxHd];
  const size_t block = wsum_block_rows<H>(hd, len);
  size_t j0 = 0;
  do {
    const size_t j1 = std::min(len, j0 + block);
    const bool first = j0 == 0, last = j1 == len;
    prefetch_rows(v, j1, std::min(len, j1 + block), hd * (H ? 2 : 4));  // the next block
    size_t c = 0;
    for (; c + NV * T::VL <= hd; c += NV * T::VL)
      wsum4_cols<T, H, NV>(p, ps, v, j0, j1, hd, c, part, first, last, out, os);
    for (; c < hd; c += T::VL) wsum4_cols<T, H, 1>(p, ps, v, j0, j1, hd, c, part, first, last, out, os);
    j0 = j1;
  } while (j0 < len);
}

template <class T>
void attn_wsum4(const float* p, size_t ps, const void* v, bool f16, size_t len, size_t hd, float* out,
                size_t os) {
  if (hd % T::VL == 0) {
    if (f16)
      wsum4_t<T, true>(p, ps, v, len, hd, out, os);
    else
      wsum4_t<T, false>(p, ps, v, len, hd, out, os);
    return;
  }
  for (size_t g = 0; g < 4; ++g) attn_wsum<T>(p + g * ps, v, f16, len, hd, out + g * os);
}

// exp over a vector: Cephes' single-precision polynomial (1-2 ulp) after n = round(x /
// ln 2), 2^n built in the exponent bits. x is clamped to [-87.33, 88.02] so that 2^n
// stays a normal float (below: tiny instead of 0; above: 1.6e38 instead of inf); a NaN
// passes the clamps (max/min return their second operand) and comes out NaN. The
// runtime's SiLU and softmax were scalar std::exp calls: ~8% of a SmolLM2 decode.
template <class T>
inline typename T::V vexp(typename T::V x) {
  x = T::min(T::set1(88.02f), T::max(T::set1(-87.33f), x));
  const typename T::V n = T::round(T::mul(x, T::set1(1.44269504088896341f)));
  typename T::V r = T::fnmadd(n, T::set1(0.693359375f), x);
  r = T::fnmadd(n, T::set1(-2.12194440e-4f), r);
  typename T::V y = T::set1(1.9875691500e-4f);
  y = T::fmadd(y, r, T::set1(1.3981999507e-3f));
  y = T::fmadd(y, r, T::set1(8.3334519073e-3f));
  y = T::fmadd(y, r, T::set1(4.1665795894e-2f));
  y = T::fmadd(y, r, T::set1(1.6666665459e-1f));
  y = T::fmadd(y, r, T::set1(5.0000001201e-1f));
  y = T::fmadd(y, T::mul(r, r), T::add(r, T::set1(1.0f)));
  return T::mul(y, T::pow2(n));
}

template <class T>
float exp_sum(float* x, size_t n, float mx) {
  typename T::V s = T::zero();
  const typename T::V m = T::set1(mx);
  size_t i = 0;
  for (; i + T::VL <= n; i += T::VL) {
    const typename T::V e = vexp<T>(T::sub(T::load(x + i), m));
    T::store(x + i, e);
    s = T::add(s, e);
  }
  float sum = T::reduce1(s);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  return sum;
}

template <class T>
void silu_mul(float* g, const float* u, size_t n) {
  const typename T::V one = T::set1(1.0f);
  size_t i = 0;
  for (; i + T::VL <= n; i += T::VL) {
    const typename T::V gv = T::load(g + i);
    const typename T::V e = vexp<T>(T::sub(T::zero(), gv));
    T::store(g + i, T::mul(T::div(gv, T::add(one, e)), T::load(u + i)));
  }
  for (; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

}  // namespace
}  // namespace bitnet
