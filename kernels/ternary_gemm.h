// Batched (prefill) ternary products: unpack a panel of rows to int8 codes once, then an
// int8 x int8 micro-kernel (AVX2 registers, AMX tiles) reuses it for every token.
// Same contract as PathKernels::ternary_i32; the paths call these from a batch size on.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace bitnet {

void avx2_ternary_gemm(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch,
                       size_t r0, size_t r1, int32_t* out, size_t out_stride);

// AMX int8 tiles (path_amx_gemm.cpp, only in x86-64 builds with the AVX-512 path).
// amx_ready(): the CPU has AMX-INT8, the OS granted the tile state, BITNET_STUDIO_AMX is not
// "0" and set_amx_enabled(false) was not called (the tests use it to cover both kernels).
bool amx_ready();
void set_amx_enabled(bool on);
void amx_ternary_gemm(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch,
                      size_t r0, size_t r1, int32_t* out, size_t out_stride);

}  // namespace bitnet
