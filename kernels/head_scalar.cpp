// The runtime's op kernels (head.h), scalar reference, and the dispatch to the SIMD ones.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "head.h"

namespace bitnet {

float half_bits_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal half: renormalise into a normal float
      exp = 113;
      while (!(mant & 0x400u)) { mant <<= 1; --exp; }
      bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint16_t float_to_half_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (x > 0x7f800000u ? 0x200u : 0u));
  const uint32_t e = x >> 23;
  if (e > 142) return static_cast<uint16_t>(sign | 0x7c00u);  // beyond 65520: infinity
  if (e < 113) {                                               // a half subnormal (or zero)
    if (e < 102) return static_cast<uint16_t>(sign);
    const uint32_t m = (x & 0x7fffffu) | 0x800000u, shift = 126 - e;
    uint32_t r = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t h = ((e - 112) << 10) | ((x & 0x7fffffu) >> 13);
  const uint32_t rem = x & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into infinity
  return static_cast<uint16_t>(sign | h);
}

namespace {

void i8_rows(const int8_t* w, size_t cols, const int8_t* xq, size_t x_stride, size_t batch,
             size_t r0, size_t r1, float* y, size_t y_stride, const float* scale, const float* s_x) {
  for (size_t r = r0; r < r1; ++r) {
    const int8_t* row = w + r * cols;
    for (size_t b = 0; b < batch; ++b) {
      const int8_t* x = xq + b * x_stride;
      int32_t acc = 0;
      for (size_t c = 0; c < cols; ++c) acc += static_cast<int32_t>(row[c]) * x[c];
      y[b * y_stride + r] = static_cast<float>(acc) * (scale[r] * (1.0f / s_x[b]));
    }
  }
}

void q4_rows(const uint8_t* w, const uint16_t* d, size_t cols, const int8_t* xq, size_t x_stride,
             size_t batch, size_t r0, size_t r1, float* y, size_t y_stride, const float* s_x) {
  const size_t nb = q4_cols(cols) / kQ4Block, rb = q4_row_bytes(cols);
  for (size_t r = r0; r < r1; ++r) {
    for (size_t b = 0; b < batch; ++b) {
      const int8_t* x = xq + b * x_stride;
      float acc = 0.0f;
      for (size_t k = 0; k < nb; ++k) {
        const uint8_t* blk = w + r * rb + k * 16;
        const int8_t* xb = x + k * kQ4Block;
        int32_t s = 0;
        for (int j = 0; j < 16; ++j) {
          s += (static_cast<int32_t>(blk[j] & 15) - 8) * xb[j];
          s += (static_cast<int32_t>(blk[j] >> 4) - 8) * xb[j + 16];
        }
        acc += half_bits_to_float(d[r * nb + k]) * static_cast<float>(s);
      }
      y[b * y_stride + r] = acc * (1.0f / s_x[b]);
    }
  }
}

float kv_at(const void* base, bool f16, size_t i) {
  return f16 ? half_bits_to_float(static_cast<const uint16_t*>(base)[i]) : static_cast<const float*>(base)[i];
}

// q . row j of a float32 / fp16 cache: eight independent partial sums (the association
// of the SIMD versions' lanes), read in place.
float dot_kv(const float* q, const void* k, bool f16, size_t off, size_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += q[i + j] * kv_at(k, f16, off + i + j);
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < n; ++i) s += q[i] * kv_at(k, f16, off + i);
  return s;
}

float attn_scores(const float* q, const void* k, bool f16, size_t len, size_t hd, float scale, float* sc) {
  float mx = -std::numeric_limits<float>::infinity();
  for (size_t j = 0; j < len; ++j) {
    sc[j] = dot_kv(q, k, f16, j * hd, hd) * scale;
    mx = std::max(mx, sc[j]);
  }
  return mx;
}

void attn_wsum(const float* p, const void* v, bool f16, size_t len, size_t hd, float* out) {
  std::fill(out, out + hd, 0.0f);
  for (size_t j = 0; j < len; ++j)
    for (size_t i = 0; i < hd; ++i) out[i] += p[j] * kv_at(v, f16, j * hd + i);
}

void attn_scores4(const float* q, size_t qs, const void* k, bool f16, size_t len, size_t hd, float scale,
                  float* sc, size_t ss) {
  for (size_t g = 0; g < 4; ++g) attn_scores(q + g * qs, k, f16, len, hd, scale, sc + g * ss);
}

void attn_wsum4(const float* p, size_t ps, const void* v, bool f16, size_t len, size_t hd, float* out,
                size_t os) {
  for (size_t g = 0; g < 4; ++g) attn_wsum(p + g * ps, v, f16, len, hd, out + g * os);
}

float exp_sum(float* x, size_t n, float mx) {
  float sum = 0.0f;
  for (size_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  return sum;
}

void silu_mul(float* g, const float* u, size_t n) {
  for (size_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void to_f16(const float* x, uint16_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = float_to_half_bits(x[i]);
}

const OpKernels kScalar{"scalar", i8_rows, q4_rows, attn_scores, attn_wsum, attn_scores4, attn_wsum4,
                         exp_sum, silu_mul, to_f16};

}  // namespace

const OpKernels* ops_scalar() { return &kScalar; }

#ifndef BITNET_HAVE_AVX2
const OpKernels* ops_avx2() { return nullptr; }
#endif
#ifndef BITNET_HAVE_AVX512
const OpKernels* ops_avx512() { return nullptr; }
#endif

const OpKernels* op_kernels(const PathKernels* k) {
  const std::string name = k ? k->name : "scalar";
  const OpKernels* h = nullptr;
  if (name == "avx512") h = ops_avx512();
  if (name == "avx2" || name == "avxvnni") h = ops_avx2();
  return h ? h : ops_scalar();
}

}  // namespace bitnet
