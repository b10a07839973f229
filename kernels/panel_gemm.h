// The cache-blocked driver of the 256-bit panel GEMMs (prefill): the AVX2 and AVX-VNNI paths
// include it under their own ISA flags and bring their micro-kernel (Tile).
//
// The micro-kernel multiplies a panel of 2 rows' codes by 6 tokens' activations, both read
// per 32-column step: 2 + 6 loads per 12 multiply instructions. When every token group ran
// over whole rows, a group's activations (6 x 6912 bytes for down_proj) had left L1 by the
// time the next panel came back to them, so the 6 activation loads of every step came from
// L2 (192 of the 256 bytes a step reads).
//
// Blocked instead: codes of a row block (kRowBlockBytes, L2) are unpacked once per K block;
// one token group's activations for that K block (kTokenBlockBytes, L1) meet every panel of
// the row block before the next group starts. Only the panel's 64 bytes per step come from L2.
// A/B in one process on one Sapphire Rapids core, batch 64, us per token, whole rows ->
// blocked (640x2560 / 2560x6912 / 6912x2560): AVX-VNNI 10.7 / 144.6 / 131.4 -> 10.3 / 125.7
// / 120.0, AVX2 14.1 / 165.3 / 164.1 -> 13.9 / 161.3 / 162.1; cold (1 GiB of copies),
// 2560x6912 / 6912x2560: AVX-VNNI 154.0 / 152.0 -> 137.1 / 131.0, AVX2 176.5 / 175.6 ->
// 176.1 / 175.1. A software prefetch of the next rows while unpacking changed nothing
// measurable (1-2%, within noise). The AVX2 tile itself runs at
// ~1.1-1.2 maddubs per cycle (1.26 with no loads at all): it is bound by its two uops per
// 32 multiply-adds on the three vector ports, not by the caches.
// dot(w, x) = dot(code, x) - sum(x) with codes {0,1,2}; K blocks add up in `out`.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "avx2_decode.h"
#include "kernels.h"

namespace bitnet {
namespace {

constexpr int kPanelRows = 2, kPanelTokens = 6;
constexpr size_t kTokenBlockBytes = 24 * 1024;  // 6 tokens' activations of one K block (L1: 32-48 KiB)
constexpr size_t kRowBlockBytes = 160 * 1024;   // unpacked codes of a row block (Zen 3 L2: 512 KiB)

// Tile::run<R, T>(panel, ps, nk, x, x_stride, dots): dots[t * R + r] = dot(codes of row r,
// activations of token t) over nk 32-column steps; panel rows are ps bytes apart.
template <class Tile, int R>
void run_tokens(size_t nt, const uint8_t* panel, size_t ps, size_t nk, const int8_t* x, size_t x_stride,
                int32_t* dots) {
  static_assert(kPanelTokens == 6, "the cases below cover 1..6 tokens");
  switch (nt) {
    case 6: Tile::template run<R, 6>(panel, ps, nk, x, x_stride, dots); break;
    case 5: Tile::template run<R, 5>(panel, ps, nk, x, x_stride, dots); break;
    case 4: Tile::template run<R, 4>(panel, ps, nk, x, x_stride, dots); break;
    case 3: Tile::template run<R, 3>(panel, ps, nk, x, x_stride, dots); break;
    case 2: Tile::template run<R, 2>(panel, ps, nk, x, x_stride, dots); break;
    default: Tile::template run<R, 1>(panel, ps, nk, x, x_stride, dots); break;
  }
}

template <class D, class Tile>
void panel_gemm(const TernaryMatrix& m, const int8_t* xq, size_t x_stride, size_t batch, size_t r0,
                size_t r1, int32_t* out, size_t out_stride) {
  constexpr size_t BC = 32 * D::NC;  // columns per packed block
  const size_t rb = row_bytes(m.layout, m.cols), padded = padded_cols(m.layout, m.cols);
  const size_t nblocks = padded / BC;
  // As few K blocks as keep a token group's activations within kTokenBlockBytes, equal sized.
  const size_t most = std::max<size_t>(1, kTokenBlockBytes / (kPanelTokens * BC));
  const size_t n_kblocks = (nblocks + most - 1) / most;
  const size_t kb = (nblocks + n_kblocks - 1) / n_kblocks, kc = kb * BC;
  const size_t mc = std::max<size_t>(kPanelRows, kRowBlockBytes / kc / kPanelRows * kPanelRows);

  thread_local std::vector<uint8_t> codes;
  thread_local std::vector<int32_t> sums;
  if (codes.size() < mc * kc) codes.resize(mc * kc);
  if (sums.size() < batch) sums.resize(batch);
  for (size_t t = 0; t < batch; ++t) sums[t] = sum_i8(xq + t * x_stride, padded);

  for (size_t rr = r0; rr < r1; rr += mc) {
    const size_t nr = std::min(mc, r1 - rr);
    for (size_t b0 = 0; b0 < nblocks; b0 += kb) {
      const size_t nb = std::min(kb, nblocks - b0), nk = nb * BC / 32;
      const bool first = b0 == 0, last = b0 + nb == nblocks;
      for (size_t i = 0; i < nr; ++i) unpack_codes<D>(m.data + (rr + i) * rb + b0 * 32, nb, codes.data() + i * kc);
      for (size_t t0 = 0; t0 < batch; t0 += kPanelTokens) {
        const size_t nt = std::min<size_t>(kPanelTokens, batch - t0);
        const int8_t* x = xq + t0 * x_stride + b0 * BC;
        for (size_t p = 0; p < nr; p += kPanelRows) {
          const size_t np = std::min<size_t>(kPanelRows, nr - p);
          int32_t dots[kPanelRows * kPanelTokens];
          const uint8_t* panel = codes.data() + p * kc;
          if (np == 2)
            run_tokens<Tile, 2>(nt, panel, kc, nk, x, x_stride, dots);
          else
            run_tokens<Tile, 1>(nt, panel, kc, nk, x, x_stride, dots);
          for (size_t t = 0; t < nt; ++t)
            for (size_t r = 0; r < np; ++r) {
              int32_t& o = out[(t0 + t) * out_stride + (rr - r0 + p + r)];
              o = (first ? 0 : o) + dots[t * np + r] - (last ? sums[t0 + t] : 0);
            }
        }
      }
    }
  }
}

}  // namespace
}  // namespace bitnet
