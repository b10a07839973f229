// BitNet Studio kernels: the internal C++ API shared by every SIMD path.
//
// Ternary layouts (weights w in {-1,0,+1}, stored as code = w + 1):
//   I2   2 bits/weight. A row is ceil(cols/128) blocks of 32 bytes; byte j of a
//        block holds block elements j, j+32, j+64, j+96 in bits 1:0, 3:2, 5:4, 7:6.
//        Padding columns hold code 1 (weight 0).
//   B3   1.6 bits/weight (base 3). A row is ceil(cols/160) blocks of 32 bytes; byte j
//        of a block holds elements j + 32n (n = 0..4) as trits t_n (code), packed as
//        v = sum t_n 3^(4-n) and stored as ceil(v * 256 / 243), so trit n is
//        ((b * 3^n) mod 256) * 3 >> 8 (the same trick as llama.cpp's TQ1_0).
// Activations are int8, per token, padded with zeros to the layout's column multiple.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bitnet {

enum class Layout : int { I2 = 0, B3 = 1 };

struct LayoutInfo {
  int block_cols;   // weights per block
  int block_bytes;  // bytes per block
};
LayoutInfo layout_info(Layout layout);
size_t padded_cols(Layout layout, size_t cols);
size_t row_bytes(Layout layout, size_t cols);

// Packing (portable; runs once at load time).
void pack_ternary(Layout layout, const int8_t* w, size_t rows, size_t cols, uint8_t* out);
void unpack_ternary(Layout layout, const uint8_t* packed, size_t rows, size_t cols, int8_t* out);

// One SIMD path: every function works on the row range [r0, r1) of one matrix.
struct TernaryMatrix {
  Layout layout;
  const uint8_t* data;  // rows * row_bytes(layout, cols)
  size_t rows, cols;
};

struct PathKernels {
  const char* name;
  // out[b * out_stride + (r - r0)] = sum_c w[r, c] * xq[b * x_stride + c], exact in int32.
  // (Output pointers always point at row r0 of the result.)
  // xq rows are padded to padded_cols(layout, cols) with zeros.
  void (*ternary_i32)(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch,
                      size_t r0, size_t r1, int32_t* out, size_t out_stride);
  // Per-token absmax quantization of x[cols] into xq[padded], returns s_x = 127 / max|x|.
  float (*quantize_row)(const float* x, size_t cols, size_t padded, int8_t* xq);
  // y[b * y_stride + (r - r0)] = sum_c W[r, c] x[b * x_stride + c], fp16 (raw uint16) / fp32 W.
  void (*f16_matmul)(const uint16_t* w, size_t cols, const float* x, size_t x_stride,
                     size_t batch, size_t r0, size_t r1, float* y, size_t y_stride);
  void (*f32_matmul)(const float* w, size_t cols, const float* x, size_t x_stride, size_t batch,
                     size_t r0, size_t r1, float* y, size_t y_stride);
};

// Paths compiled into this build, scalar first. Each TU defines its getter.
const PathKernels* scalar_kernels();
const PathKernels* avx2_kernels();    // nullptr when not compiled
const PathKernels* avx512_kernels();  // nullptr when not compiled
const PathKernels* avxvnni_kernels();  // nullptr when not compiled (AVX2 + AVX-VNNI)
const PathKernels* neon_kernels();    // nullptr when not compiled

// CPU features and dispatch.
struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false, avx512f = false, avx512bw = false,
       avx512vl = false, avx512vnni = false, avx512bf16 = false, amx_int8 = false, neon = false,
       avxvnni = false;
};
const CpuFeatures& cpu_features();
// The CPU's vendor is Intel (cpuid leaf 0): some tile shapes are tuned per vendor.
bool cpu_is_intel();
std::vector<std::string> compiled_paths();
std::vector<std::string> available_paths();  // compiled and supported by this CPU
const PathKernels* active_path();
// Selects a path by name ("auto" = best available); throws std::invalid_argument.
void set_path(const std::string& name);
const PathKernels* path_by_name(const std::string& name);  // throws if unavailable

// Threading (persistent pool).
void set_threads(int n);
int get_threads();

// Threaded drivers (what the Python module and the native runtime call).
void ternary_matmul_i32(const PathKernels* k, const TernaryMatrix& m, const int8_t* xq,
                        size_t x_stride, size_t batch, int32_t* out, size_t out_stride);
// y[b, r] = (W_q x_q)[b, r] * w_scale[r or 0] / s_x[b]; quantizes x internally.
// w_scale has `n_scales` entries: 1 (per tensor) or rows (per row).
void ternary_matmul_f32(const PathKernels* k, const TernaryMatrix& m, const float* x,
                        size_t x_stride, size_t batch, const float* w_scale, size_t n_scales,
                        float* y, size_t y_stride);
void quantize_rows(const PathKernels* k, const float* x, size_t x_stride, size_t batch,
                   size_t cols, size_t padded, int8_t* xq, float* s_x);
void f16_matmul(const PathKernels* k, const uint16_t* w, size_t rows, size_t cols, const float* x,
                size_t x_stride, size_t batch, float* y, size_t y_stride);
void f32_matmul(const PathKernels* k, const float* w, size_t rows, size_t cols, const float* x,
                size_t x_stride, size_t batch, float* y, size_t y_stride);

}  // namespace bitnet
