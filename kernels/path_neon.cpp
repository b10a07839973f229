// The aarch64 NEON path (with the dot-product extension).
//
// Ternary: a 32-byte block is two 16-byte registers; code plane n of byte j pairs with
// activation j + 32n of the block, so activations are used in their natural order.
// Codes are {0,1,2} = w + 1, small enough to be signed bytes, so
//   dot(w, x) = sdot(code, x) - sum(x)
// with `vdotq_s32` (four int8 products summed into each int32 lane) and sum(x) taken
// once per token. Each weight block is decoded once per tile of up to 4 tokens.
//
// This file is compiled with -march=armv8.2-a+dotprod+fp16 (kernels.cmake), so the
// compiler may use those instructions anywhere in it: neon_kernels() only hands the
// path out when the CPU reports both extensions, and dispatch falls back to scalar.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__linux__)
#include <sys/auxv.h>
#endif

#include "kernels.h"

namespace bitnet {
namespace {

// ---------------------------------------------------------------------------------
// Ternary decoding: one 16-byte half block -> NC vectors of codes in {0,1,2}.

template <int NC>
struct Decode;

template <>
struct Decode<4> {  // I2: plane n is bits 2n+1:2n
  static void run(uint8x16_t w, int8x16_t c[4]) {
    const uint8x16_t m3 = vdupq_n_u8(3);
    c[0] = vreinterpretq_s8_u8(vandq_u8(w, m3));
    c[1] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(w, 2), m3));
    c[2] = vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(w, 4), m3));
    c[3] = vreinterpretq_s8_u8(vshrq_n_u8(w, 6));
  }
};

template <>
struct Decode<5> {  // B3: trit n = floor(3 q / 256), q = byte * 3^n mod 256
  static void run(uint8x16_t w, int8x16_t c[5]) {
    const uint8x16_t t1 = vdupq_n_u8(85), t2 = vdupq_n_u8(170), three = vdupq_n_u8(3);
    uint8x16_t q = w;
    for (int n = 0; n < 5; ++n) {
      if (n > 0) q = vmulq_u8(q, three);  // wraps mod 256, as the layout wants
      // floor(3q / 256) = (q > 85) + (q > 170); each compare yields 0 or -1.
      const int8x16_t s = vaddq_s8(vreinterpretq_s8_u8(vcgtq_u8(q, t1)), vreinterpretq_s8_u8(vcgtq_u8(q, t2)));
      c[n] = vnegq_s8(s);
    }
  }
};

template <int NC, int T>
void ternary_tile(const uint8_t* row, size_t nblocks, const int8_t* const* xs, const int32_t* sums,
                  int32_t* out, size_t out_stride) {
  constexpr size_t BC = 32 * NC;
  int32x4_t acc[T];
  for (int t = 0; t < T; ++t) acc[t] = vdupq_n_s32(0);
  for (size_t b = 0; b < nblocks; ++b) {
    int8x16_t lo[NC], hi[NC];
    Decode<NC>::run(vld1q_u8(row + b * 32), lo);
    Decode<NC>::run(vld1q_u8(row + b * 32 + 16), hi);
    for (int n = 0; n < NC; ++n)
      for (int t = 0; t < T; ++t) {
        const int8_t* xb = xs[t] + b * BC + 32 * n;
        acc[t] = vdotq_s32(acc[t], lo[n], vld1q_s8(xb));
        acc[t] = vdotq_s32(acc[t], hi[n], vld1q_s8(xb + 16));
      }
  }
  for (int t = 0; t < T; ++t) out[t * out_stride] = vaddvq_s32(acc[t]) - sums[t];
}

int32_t sum_i8(const int8_t* x, size_t n) {  // n is a multiple of 32
  int32_t s = 0;
  for (size_t i = 0; i < n; i += 16) s += vaddlvq_s8(vld1q_s8(x + i));  // |16 * 128| fits int16
  return s;
}

template <int NC>
void ternary_layout(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch,
                    size_t r0, size_t r1, int32_t* out, size_t out_stride) {
  const size_t rb = row_bytes(m.layout, m.cols);
  const size_t nblocks = padded_cols(m.layout, m.cols) / (32 * NC);
  constexpr size_t kChunk = 64;
  const int8_t* xs[kChunk];
  int32_t sums[kChunk];
  for (size_t b0 = 0; b0 < batch; b0 += kChunk) {
    const size_t nb = std::min(kChunk, batch - b0);
    for (size_t t = 0; t < nb; ++t) {
      xs[t] = xq + (b0 + t) * x_stride;
      sums[t] = sum_i8(xs[t], nblocks * 32 * NC);
    }
    for (size_t r = r0; r < r1; ++r) {
      const uint8_t* row = m.data + r * rb;
      int32_t* o = out + b0 * out_stride + (r - r0);
      size_t t = 0;
      for (; t + 4 <= nb; t += 4) ternary_tile<NC, 4>(row, nblocks, xs + t, sums + t, o + t * out_stride, out_stride);
      switch (nb - t) {
        case 3: ternary_tile<NC, 3>(row, nblocks, xs + t, sums + t, o + t * out_stride, out_stride); break;
        case 2: ternary_tile<NC, 2>(row, nblocks, xs + t, sums + t, o + t * out_stride, out_stride); break;
        case 1: ternary_tile<NC, 1>(row, nblocks, xs + t, sums + t, o + t * out_stride, out_stride); break;
        default: break;
      }
    }
  }
}

void ternary_i32(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch, size_t r0,
                 size_t r1, int32_t* out, size_t out_stride) {
  if (m.layout == Layout::I2)
    ternary_layout<4>(m, xq, x_stride, batch, r0, r1, out, out_stride);
  else
    ternary_layout<5>(m, xq, x_stride, batch, r0, r1, out, out_stride);
}

// ---------------------------------------------------------------------------------
// Activation quantization, bit-identical to the scalar reference. vmaxnm/vminnm
// return the number when one operand is NaN, like fmax/fmin: NaN inputs are ignored
// by the absmax and quantize to -128 (fmax(-128, NaN)). vrndn rounds half to even,
// like nearbyint in the default mode; x * s is a plain multiply (no fused op).

float quantize_row(const float* x, size_t cols, size_t padded, int8_t* xq) {
  float32x4_t vmax = vdupq_n_f32(0.0f);
  size_t c = 0;
  for (; c + 4 <= cols; c += 4) vmax = vmaxnmq_f32(vmax, vabsq_f32(vld1q_f32(x + c)));
  float amax = vmaxnmvq_f32(vmax);
  for (; c < cols; ++c) amax = std::fmax(amax, std::fabs(x[c]));
  const float s = 127.0f / std::fmax(amax, 1e-5f);

  const float32x4_t vs = vdupq_n_f32(s), lo = vdupq_n_f32(-128.0f), hi = vdupq_n_f32(127.0f);
  auto q4 = [&](const float* p) {
    const float32x4_t q = vrndnq_f32(vmulq_f32(vld1q_f32(p), vs));
    return vcvtq_s32_f32(vminnmq_f32(vmaxnmq_f32(q, lo), hi));  // exact: q is integral
  };
  for (c = 0; c + 8 <= cols; c += 8) {
    const int16x8_t h = vcombine_s16(vqmovn_s32(q4(x + c)), vqmovn_s32(q4(x + c + 4)));
    vst1_s8(xq + c, vqmovn_s16(h));
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
// Float matmuls: R rows x T tokens of 4-wide FMA accumulators; each weight vector is
// converted (f16, with the base-ISA fcvtl) or loaded once per tile and reused for every
// token. The column tail goes through a zero-padded copy of 4 elements.

inline float32x4_t load_w(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }
inline float32x4_t load_w(const float* p) { return vld1q_f32(p); }

template <class W>
inline float32x4_t load_w_tail(const W* p, size_t n) {
  W tmp[4] = {};
  std::memcpy(tmp, p, n * sizeof(W));
  return load_w(tmp);
}

inline float32x4_t load_x_tail(const float* p, size_t n) {
  float tmp[4] = {};
  std::memcpy(tmp, p, n * sizeof(float));
  return vld1q_f32(tmp);
}

template <class W, int R, int T>
void float_tile(const W* w, size_t cols, const float* x, size_t x_stride, float* y, size_t y_stride) {
  float32x4_t acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = vdupq_n_f32(0.0f);
  size_t c = 0;
  for (; c + 4 <= cols; c += 4) {
    float32x4_t wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load_w(w + r * cols + c);
    for (int t = 0; t < T; ++t) {
      const float32x4_t a = vld1q_f32(x + t * x_stride + c);
      for (int r = 0; r < R; ++r) acc[r][t] = vfmaq_f32(acc[r][t], wv[r], a);
    }
  }
  if (c < cols) {
    const size_t n = cols - c;
    float32x4_t wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load_w_tail(w + r * cols + c, n);
    for (int t = 0; t < T; ++t) {
      const float32x4_t a = load_x_tail(x + t * x_stride + c, n);
      for (int r = 0; r < R; ++r) acc[r][t] = vfmaq_f32(acc[r][t], wv[r], a);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t * y_stride + r] = vaddvq_f32(acc[r][t]);
}

template <class W, int R>
void float_rows(const W* w, size_t cols, const float* x, size_t x_stride, size_t batch, float* y,
                size_t y_stride) {
  size_t t = 0;
  // 4 rows x 4 tokens: 16 accumulators + 4 weight vectors of the 32 NEON registers.
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

const PathKernels kNeon = {"neon", ternary_i32, quantize_row, f16_matmul, f32_matmul};

bool cpu_has_dotprod_fp16() {
#if defined(__linux__)
  // Bit numbers from the arm64 <asm/hwcap.h>; spelled out for older headers.
  constexpr unsigned long kAsimdHp = 1ul << 10, kAsimdDp = 1ul << 20;
  const unsigned long hw = getauxval(AT_HWCAP);
  return (hw & kAsimdDp) && (hw & kAsimdHp);
#else
  return true;  // every arm64 Apple/Windows target we build for has both
#endif
}

}  // namespace

const PathKernels* neon_kernels() {
  static const bool ok = cpu_has_dotprod_fp16();
  return ok ? &kNeon : nullptr;
}

}  // namespace bitnet
