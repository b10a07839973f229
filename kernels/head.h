// The runtime's own SIMD kernels besides the linears: the output head -- int8 rows (one
// scale per row) and 4-bit Q4 blocks, both against int8 activations (one scale per
// token) -- and the attention's dot products / weighted sums over a float32 or fp16 KV
// cache (kernels/attention_simd.h). A scalar reference plus AVX2 and AVX-512 VNNI versions, each in its own
// translation unit compiled with only its own ISA flags; op_kernels() picks the one that
// matches the active ternary path (BITNET_STUDIO_KERNEL_PATH forces both).
//
// Q4 layout (like llama.cpp's Q4_0, scales apart): a row is cols32 / 32 blocks of 16
// bytes, cols32 = cols rounded up to 32; byte j of a block holds q[j] in its low nibble
// and q[j + 16] in its high nibble, q = w / d + 8 in 0..15 (padding columns hold 8). The
// block scales d are fp16, (rows, cols32 / 32), in their own array.
//   y[b, r] = sum_blocks d * sum_i (q_i - 8) * xq[b, i] / s_x[b]
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace bitnet {

constexpr size_t kQ4Block = 32;
inline size_t q4_cols(size_t cols) { return (cols + kQ4Block - 1) / kQ4Block * kQ4Block; }
inline size_t q4_row_bytes(size_t cols) { return q4_cols(cols) / 2; }

struct OpKernels {
  const char* name;
  // Rows [r0, r1) of y[b * y_stride + r] (pointers at row 0), batch tokens of xq.
  void (*i8_rows)(const int8_t* w, size_t cols, const int8_t* xq, size_t x_stride, size_t batch,
                  size_t r0, size_t r1, float* y, size_t y_stride, const float* scale,
                  const float* s_x);
  // xq rows hold q4_cols(cols) values, zero-padded.
  void (*q4_rows)(const uint8_t* w, const uint16_t* d, size_t cols, const int8_t* xq,
                  size_t x_stride, size_t batch, size_t r0, size_t r1, float* y, size_t y_stride,
                  const float* s_x);
  // Attention over one KV head's cache rows 0..len (row j at j * hd; float32, or fp16 as
  // raw IEEE half bits when f16): sc[j] = scale * q . K_j, returning max_j sc[j] ...
  float (*attn_scores)(const float* q, const void* k, bool f16, size_t len, size_t hd, float scale,
                       float* sc);
  // ... and out[0..hd) = sum_j p[j] * V_j (overwritten).
  void (*attn_wsum)(const float* p, const void* v, bool f16, size_t len, size_t hd, float* out);
  // The same two for four queries at once (a prefill chunk's consecutive tokens) over one
  // KV head's rows 0..len: query g at q + g * qs, its scores at sc + g * ss (no max), its
  // output at out + g * os. Each K / V row is read once for the four.
  void (*attn_scores4)(const float* q, size_t qs, const void* k, bool f16, size_t len, size_t hd,
                       float scale, float* sc, size_t ss);
  void (*attn_wsum4)(const float* p, size_t ps, const void* v, bool f16, size_t len, size_t hd,
                     float* out, size_t os);
  // Softmax numerators: x[i] = exp(x[i] - mx) in place, returning their sum.
  float (*exp_sum)(float* x, size_t n, float mx);
  // SiLU-gated product of the MLP: g[i] = g[i] / (1 + exp(-g[i])) * u[i].
  void (*silu_mul)(float* g, const float* u, size_t n);
  // float32 -> fp16 bits, round to nearest even (what the fp16 KV cache stores).
  void (*to_f16)(const float* x, uint16_t* out, size_t n);
};

const OpKernels* ops_scalar();
const OpKernels* ops_avx2();    // nullptr when not compiled
const OpKernels* ops_avx512();  // nullptr when not compiled
// The kernels of the same ISA as ternary path `k` (scalar for paths without any).
const OpKernels* op_kernels(const PathKernels* k);

// IEEE half bits <-> float (portable, round to nearest even).
float half_bits_to_float(uint16_t h);
uint16_t float_to_half_bits(float f);

}  // namespace bitnet
