// Batch-1 ternary GEMV designs for AVX2, side by side: a measuring aid for the design
// choice of path_avx2.cpp's i2_gemv, not part of the product. Each design packs the same
// random ternary matrix its own way and multiplies one int8 activation row; every result is
// checked exact (int32) against a plain dot product.
//
//   ours          I2 (kernels.h), one shift + four masks per 32 bytes, planes 0/2 and 1/3
//                 summed in two int16 accumulators (x1 / x4), two rows share activations
//   I2_S-style    bitnet.cpp's plane order and decode: three shifts + four masks per 32 bytes,
//                 one row, or four rows per activation load ("activation-parallel")
//   psignb        codes -> {-1,0,1} bytes, x * w by vpsignb, summed by maddubs(1, .)
//   4-row R4      ik_llama.cpp IQ2_BN_R4's idea: four rows interleaved block by block, so
//                 the tile reads one sequential stream; decode as ours
//   LUT           T-MAC / TL-style lookup, exact: 32 rows in the lanes, per column pair a
//                 16-entry table of w0*x0 + w1*x1 split in low / high bytes for two pshufb,
//                 rebuilt to int16 by unpacking low with high bytes
//
// Warm: one matrix over and over (L2 / L3). Cold: cycling through copies that fill 1 GiB,
// against a plain read of the same buffer measured in the same run. One thread.
//   c++ -O3 -mavx2 -mfma kernels/bench/gemv_schemes.cpp -o gemv_schemes && ./gemv_schemes
// `--quick` runs small shapes over 64 MiB (the test suite uses it to check exactness). Shapes
// are multiples of 32 rows and 128 columns (no tails). Exits 1 if any result is not exact.
#include <immintrin.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <vector>
#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <sys/mman.h>
constexpr size_t PF = 16384;
static inline int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e)); s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}
static int32_t sum_i8(const int8_t* x, size_t n) { int32_t s = 0; for (size_t i = 0; i < n; ++i) s += x[i]; return s; }

// ---------- I2 layout (ours, = bitnet.cpp I2_S plane order): row = cols/128 blocks of 32 B, byte j: elems j+32n in bits 2n
static void pack_i2(const int8_t* w, size_t rows, size_t cols, uint8_t* out) {
  for (size_t r = 0; r < rows; ++r) for (size_t b = 0; b < cols / 128; ++b) for (int j = 0; j < 32; ++j) {
    uint8_t v = 0; for (int n = 0; n < 4; ++n) v |= uint8_t(w[r * cols + b * 128 + j + 32 * n] + 1) << (2 * n);
    out[r * cols / 4 + b * 32 + j] = v; }
}
// ours: 1 shift + 4 ands, x1 / x4 accumulators
template <int R> static void ours_rows(const uint8_t* w, size_t rb, size_t nb, const int8_t* x, int32_t sum, int32_t* out) {
  const __m256i m03 = _mm256_set1_epi8(3), m0c = _mm256_set1_epi8(12), ones = _mm256_set1_epi16(1), fours = _mm256_set1_epi16(4);
  __m256i acc[R]; for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_si256();
  for (size_t b0 = 0; b0 < nb; b0 += 6) {
    const size_t b1 = std::min(nb, b0 + 6);
    __m256i lo[R], hi[R]; for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_si256();
    for (size_t b = b0; b < b1; ++b) {
      const int8_t* xb = x + b * 128;
      const __m256i x0 = _mm256_loadu_si256((const __m256i*)xb), x1 = _mm256_loadu_si256((const __m256i*)(xb + 32));
      const __m256i x2 = _mm256_loadu_si256((const __m256i*)(xb + 64)), x3 = _mm256_loadu_si256((const __m256i*)(xb + 96));
      for (int r = 0; r < R; ++r) {
        const uint8_t* src = w + r * rb + b * 32;
        if ((b & 1) == 0) _mm_prefetch((const char*)src + PF, _MM_HINT_T1);
        const __m256i v = _mm256_loadu_si256((const __m256i*)src), v4 = _mm256_srli_epi16(v, 4);
        lo[r] = _mm256_add_epi16(lo[r], _mm256_maddubs_epi16(_mm256_and_si256(v, m03), x0));
        hi[r] = _mm256_add_epi16(hi[r], _mm256_maddubs_epi16(_mm256_and_si256(v, m0c), x1));
        lo[r] = _mm256_add_epi16(lo[r], _mm256_maddubs_epi16(_mm256_and_si256(v4, m03), x2));
        hi[r] = _mm256_add_epi16(hi[r], _mm256_maddubs_epi16(_mm256_and_si256(v4, m0c), x3));
      }
    }
    for (int r = 0; r < R; ++r) acc[r] = _mm256_add_epi32(acc[r], _mm256_add_epi32(_mm256_madd_epi16(lo[r], fours), _mm256_madd_epi16(hi[r], ones)));
  }
  for (int r = 0; r < R; ++r) out[r] = (hsum(acc[r]) >> 2) - sum;
}
template <int R> static void ours(const uint8_t* w, size_t rows, size_t cols, const int8_t* x, int32_t* out) {
  const size_t rb = cols / 4, nb = cols / 128; const int32_t s = sum_i8(x, cols);
  for (size_t r = 0; r < rows; r += R) ours_rows<R>(w + r * rb, rb, nb, x, s, out + r);
}
// bitnet.cpp I2_S style: every plane shifted (3 shifts) and masked, int16 sums widened per 32-block group
template <int R> static void i2s_rows(const uint8_t* w, size_t rb, size_t nb, const int8_t* x, int32_t sum, int32_t* out) {
  const __m256i m03 = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
  __m256i acc[R]; for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_si256();
  for (size_t b0 = 0; b0 < nb; b0 += 8) {
    const size_t b1 = std::min(nb, b0 + 8);
    __m256i s16[R]; for (int r = 0; r < R; ++r) s16[r] = _mm256_setzero_si256();
    for (size_t b = b0; b < b1; ++b) {
      const int8_t* xb = x + b * 128;
      const __m256i x0 = _mm256_loadu_si256((const __m256i*)xb), x1 = _mm256_loadu_si256((const __m256i*)(xb + 32));
      const __m256i x2 = _mm256_loadu_si256((const __m256i*)(xb + 64)), x3 = _mm256_loadu_si256((const __m256i*)(xb + 96));
      for (int r = 0; r < R; ++r) {
        const uint8_t* src = w + r * rb + b * 32;
        if ((b & 1) == 0) _mm_prefetch((const char*)src + PF, _MM_HINT_T1);
        const __m256i v = _mm256_loadu_si256((const __m256i*)src);
        __m256i p = _mm256_maddubs_epi16(_mm256_and_si256(v, m03), x0);
        p = _mm256_add_epi16(p, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 2), m03), x1));
        p = _mm256_add_epi16(p, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m03), x2));
        p = _mm256_add_epi16(p, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 6), m03), x3));
        s16[r] = _mm256_add_epi16(s16[r], p);
      }
    }
    for (int r = 0; r < R; ++r) acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(s16[r], ones));
  }
  for (int r = 0; r < R; ++r) out[r] = hsum(acc[r]) - sum;
}
template <int R> static void i2s(const uint8_t* w, size_t rows, size_t cols, const int8_t* x, int32_t* out) {
  const size_t rb = cols / 4, nb = cols / 128; const int32_t s = sum_i8(x, cols);
  for (size_t r = 0; r < rows; r += R) i2s_rows<R>(w + r * rb, rb, nb, x, s, out + r);
}
// psign: w = code - 1 as bytes, x * w by vpsignb, summed by maddubs(1, .)
template <int R> static void psign(const uint8_t* w, size_t rows, size_t cols, const int8_t* x, int32_t* out) {
  const size_t rb = cols / 4, nb = cols / 128;
  const __m256i m03 = _mm256_set1_epi8(3), one8 = _mm256_set1_epi8(1), ones = _mm256_set1_epi16(1);
  for (size_t r0 = 0; r0 < rows; r0 += R) {
    __m256i acc[R]; for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_si256();
    for (size_t b0 = 0; b0 < nb; b0 += 8) {
      const size_t b1 = std::min(nb, b0 + 8);
      __m256i s16[R]; for (int r = 0; r < R; ++r) s16[r] = _mm256_setzero_si256();
      for (size_t b = b0; b < b1; ++b) {
        const int8_t* xb = x + b * 128;
        __m256i xs[4]; for (int n = 0; n < 4; ++n) xs[n] = _mm256_loadu_si256((const __m256i*)(xb + 32 * n));
        for (int r = 0; r < R; ++r) {
          const uint8_t* src = w + (r0 + r) * rb + b * 32;
          if ((b & 1) == 0) _mm_prefetch((const char*)src + PF, _MM_HINT_T1);
          const __m256i v = _mm256_loadu_si256((const __m256i*)src);
          __m256i p = _mm256_setzero_si256();
          for (int n = 0; n < 4; ++n) {
            const __m256i c = _mm256_and_si256(n ? _mm256_srli_epi16(v, 2 * n) : v, m03);
            const __m256i sx = _mm256_sign_epi8(xs[n], _mm256_sub_epi8(c, one8));
            p = _mm256_add_epi16(p, _mm256_maddubs_epi16(one8, sx));
          }
          s16[r] = _mm256_add_epi16(s16[r], p);
        }
      }
      for (int r = 0; r < R; ++r) acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(s16[r], ones));
    }
    for (int r = 0; r < R; ++r) out[r0 + r] = hsum(acc[r]);
  }
}
// IQ2_BN_R4-like: 4 rows interleaved block by block (one sequential stream), ours' decode, 4 rows per tile
static void pack_r4(const int8_t* w, size_t rows, size_t cols, uint8_t* out) {
  std::vector<uint8_t> i2(rows * cols / 4); pack_i2(w, rows, cols, i2.data());
  const size_t rb = cols / 4, nb = cols / 128;
  for (size_t r0 = 0; r0 < rows; r0 += 4) for (size_t b = 0; b < nb; ++b) for (int r = 0; r < 4; ++r)
    memcpy(out + r0 * rb + (b * 4 + r) * 32, i2.data() + (r0 + r) * rb + b * 32, 32);
}
static void r4(const uint8_t* w, size_t rows, size_t cols, const int8_t* x, int32_t* out) {
  // same as ours<4> with row stride 32 and block stride 128
  const size_t rb = cols / 4, nb = cols / 128; const int32_t sum = sum_i8(x, cols);
  const __m256i m03 = _mm256_set1_epi8(3), m0c = _mm256_set1_epi8(12), ones = _mm256_set1_epi16(1), fours = _mm256_set1_epi16(4);
  for (size_t r0 = 0; r0 < rows; r0 += 4) {
    const uint8_t* wg = w + r0 * rb;
    __m256i acc[4]; for (int r = 0; r < 4; ++r) acc[r] = _mm256_setzero_si256();
    for (size_t b0 = 0; b0 < nb; b0 += 6) {
      const size_t b1 = std::min(nb, b0 + 6);
      __m256i lo[4], hi[4]; for (int r = 0; r < 4; ++r) lo[r] = hi[r] = _mm256_setzero_si256();
      for (size_t b = b0; b < b1; ++b) {
        const int8_t* xb = x + b * 128;
        const __m256i x0 = _mm256_loadu_si256((const __m256i*)xb), x1 = _mm256_loadu_si256((const __m256i*)(xb + 32));
        const __m256i x2 = _mm256_loadu_si256((const __m256i*)(xb + 64)), x3 = _mm256_loadu_si256((const __m256i*)(xb + 96));
        _mm_prefetch((const char*)(wg + b * 128) + PF, _MM_HINT_T1);
        _mm_prefetch((const char*)(wg + b * 128 + 64) + PF, _MM_HINT_T1);
        for (int r = 0; r < 4; ++r) {
          const __m256i v = _mm256_loadu_si256((const __m256i*)(wg + b * 128 + r * 32)), v4 = _mm256_srli_epi16(v, 4);
          lo[r] = _mm256_add_epi16(lo[r], _mm256_maddubs_epi16(_mm256_and_si256(v, m03), x0));
          hi[r] = _mm256_add_epi16(hi[r], _mm256_maddubs_epi16(_mm256_and_si256(v, m0c), x1));
          lo[r] = _mm256_add_epi16(lo[r], _mm256_maddubs_epi16(_mm256_and_si256(v4, m03), x2));
          hi[r] = _mm256_add_epi16(hi[r], _mm256_maddubs_epi16(_mm256_and_si256(v4, m0c), x3));
        }
      }
      for (int r = 0; r < 4; ++r) acc[r] = _mm256_add_epi32(acc[r], _mm256_add_epi32(_mm256_madd_epi16(lo[r], fours), _mm256_madd_epi16(hi[r], ones)));
    }
    for (int r = 0; r < 4; ++r) out[r0 + r] = (hsum(acc[r]) >> 2) - sum;
  }
}
// LUT (T-MAC / TL style, exact): 32 rows in the lanes; for each column pair a 16-entry table of
// w0*x0 + w1*x1 (index c0 + 4*c1) as int16, split in low / high byte tables for pshufb; unpacking
// low with high bytes rebuilds the int16. Layout: per 32 rows, per column pair, 16 bytes:
// byte i = nibble of row i (bits 3:0) | nibble of row 16 + i (bits 7:4).
static void pack_lut(const int8_t* w, size_t rows, size_t cols, uint8_t* out) {
  for (size_t r0 = 0; r0 < rows; r0 += 32) for (size_t k = 0; k < cols / 2; ++k) for (int i = 0; i < 16; ++i) {
    auto nib = [&](size_t r) { return uint8_t((w[r * cols + 2 * k] + 1) | ((w[r * cols + 2 * k + 1] + 1) << 2)); };
    out[(r0 / 32) * (cols / 2) * 16 + k * 16 + i] = nib(r0 + i) | (nib(r0 + 16 + i) << 4);
  }
}
static void lut(const uint8_t* w, size_t rows, size_t cols, const int8_t* x, int32_t* out) {
  const size_t np = cols / 2;
  struct Y { __m256i v; };  // (a vector of __m256i drops its alignment attribute)
  static thread_local std::vector<Y> tlv, thv;
  tlv.resize(np); thv.resize(np);
  Y* tl = tlv.data();
  Y* th = thv.data();
  for (size_t k = 0; k < np; ++k) {  // tables: entry c0 + 4 c1
    alignas(16) uint8_t lo[16], hi[16];
    for (int e = 0; e < 16; ++e) {
      const int c0 = e & 3, c1 = e >> 2;
      const int v = (c0 == 3 || c1 == 3) ? 0 : (c0 - 1) * x[2 * k] + (c1 - 1) * x[2 * k + 1];
      lo[e] = uint8_t(v & 0xff); hi[e] = uint8_t((v >> 8) & 0xff);
    }
    tl[k].v = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i*)lo));
    th[k].v = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i*)hi));
  }
  const __m256i m0f = _mm256_set1_epi8(0x0f);
  for (size_t g = 0; g < rows / 32; ++g) {
    const uint8_t* wg = w + g * np * 16;
    __m256i a32[4] = {};  // int32 totals: rows (0-7,16-23) lo / hi halves
    for (size_t k0 = 0; k0 < np; k0 += 64) {
      __m256i a16a = _mm256_setzero_si256(), a16b = a16a;  // int16: unpacklo rows / unpackhi rows
      const size_t k1 = std::min(np, k0 + 64);
      for (size_t k = k0; k < k1; k += 2) {
        if ((k & 3) == 0) _mm_prefetch((const char*)(wg + k * 16) + PF, _MM_HINT_T1);
        const __m256i v = _mm256_loadu_si256((const __m256i*)(wg + k * 16));  // two column pairs
        // column pair k: bytes 0..15 -> rows 0..15 (low nibble), 16..31 (high nibble)
        const __m256i vk = _mm256_permute2x128_si256(v, v, 0x00), vk1 = _mm256_permute2x128_si256(v, v, 0x11);
        const __m256i ik = _mm256_blend_epi32(_mm256_and_si256(vk, m0f), _mm256_and_si256(_mm256_srli_epi16(vk, 4), m0f), 0xf0);
        const __m256i ik1 = _mm256_blend_epi32(_mm256_and_si256(vk1, m0f), _mm256_and_si256(_mm256_srli_epi16(vk1, 4), m0f), 0xf0);
        const __m256i l0 = _mm256_shuffle_epi8(tl[k].v, ik), h0 = _mm256_shuffle_epi8(th[k].v, ik);
        const __m256i l1 = _mm256_shuffle_epi8(tl[k + 1].v, ik1), h1 = _mm256_shuffle_epi8(th[k + 1].v, ik1);
        a16a = _mm256_add_epi16(a16a, _mm256_add_epi16(_mm256_unpacklo_epi8(l0, h0), _mm256_unpacklo_epi8(l1, h1)));
        a16b = _mm256_add_epi16(a16b, _mm256_add_epi16(_mm256_unpackhi_epi8(l0, h0), _mm256_unpackhi_epi8(l1, h1)));
      }
      // widen: int16 lanes -> int32 (sign-extend halves)
      a32[0] = _mm256_add_epi32(a32[0], _mm256_cvtepi16_epi32(_mm256_castsi256_si128(a16a)));
      a32[1] = _mm256_add_epi32(a32[1], _mm256_cvtepi16_epi32(_mm256_extracti128_si256(a16a, 1)));
      a32[2] = _mm256_add_epi32(a32[2], _mm256_cvtepi16_epi32(_mm256_castsi256_si128(a16b)));
      a32[3] = _mm256_add_epi32(a32[3], _mm256_cvtepi16_epi32(_mm256_extracti128_si256(a16b, 1)));
    }
    alignas(32) int32_t t[4][8];
    for (int i = 0; i < 4; ++i) _mm256_store_si256((__m256i*)t[i], a32[i]);
    int32_t* o = out + g * 32;
    for (int i = 0; i < 8; ++i) { o[i] = t[0][i]; o[16 + i] = t[1][i]; o[8 + i] = t[2][i]; o[24 + i] = t[3][i]; }
  }
}
using Fn = void (*)(const uint8_t*, size_t, size_t, const int8_t*, int32_t*);
using Pack = void (*)(const int8_t*, size_t, size_t, uint8_t*);
static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
static double roof(uint8_t* buf, size_t n) {
  std::vector<double> ts;
  for (int rep = 0; rep < 3; ++rep) {
    double a = now();
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < n; i += 128) {
      s0 = _mm256_add_epi8(s0, _mm256_load_si256((const __m256i*)(buf + i)));
      s1 = _mm256_add_epi8(s1, _mm256_load_si256((const __m256i*)(buf + i + 32)));
      s2 = _mm256_add_epi8(s2, _mm256_load_si256((const __m256i*)(buf + i + 64)));
      s3 = _mm256_add_epi8(s3, _mm256_load_si256((const __m256i*)(buf + i + 96)));
    }
    __m256i s = _mm256_add_epi8(_mm256_add_epi8(s0, s1), _mm256_add_epi8(s2, s3));
    ts.push_back(now() - a + 1e-12 * _mm256_extract_epi8(s, 0));
  }
  std::sort(ts.begin(), ts.end());
  return n / ts[1] / 1e9;
}
static std::string cpu_model() {
  FILE* f = fopen("/proc/cpuinfo", "r");
  char line[512];
  std::string out = "unknown CPU";
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, "model name", 10)) {
      const char* p = strchr(line, ':');
      out = p ? p + 2 : line;
      out.erase(out.find_last_not_of("\n") + 1);
      break;
    }
  if (f) fclose(f);
  return out;
}
int main(int argc, char** argv) {
  const bool quick = argc > 1 && !strcmp(argv[1], "--quick");
  const size_t GiB = quick ? size_t(64) << 20 : size_t(1) << 30;
  printf("%s, 1 thread, cold buffer %zu MiB\n", cpu_model().c_str(), GiB >> 20);
  uint8_t* buf = (uint8_t*)mmap(nullptr, GiB + (4 << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  buf = (uint8_t*)(((uintptr_t)buf + (2 << 20) - 1) & ~uintptr_t((2 << 20) - 1));
  madvise(buf, GiB, MADV_HUGEPAGE); memset(buf, 1, GiB);
    struct V { const char* name; Pack pack; Fn fn; };
  V vs[] = {{"ours I2 (1 shift, R=2)", pack_i2, ours<2>}, {"I2_S-style (3 shifts, R=1)", pack_i2, i2s<1>},
            {"I2_S-style act-parallel R=4", pack_i2, i2s<4>}, {"psignb (R=2)", pack_i2, psign<2>},
            {"4-row interleave (R4)", pack_r4, r4}, {"LUT pshufb exact (32 rows)", pack_lut, lut}};
  const std::vector<std::pair<size_t, size_t>> shapes =
      quick ? std::vector<std::pair<size_t, size_t>>{{64, 256}, {96, 640}}
            : std::vector<std::pair<size_t, size_t>>{{2560, 2560}, {6912, 2560}, {2560, 6912}};
  bool all_exact = true;
  for (const auto& [rows, cols] : shapes) {
    const size_t bytes = rows * cols / 4;
    std::vector<int8_t> w(rows * cols); for (auto& v : w) v = rand() % 3 - 1;
    std::vector<int8_t> x(cols); for (auto& v : x) v = rand() % 255 - 127;
    std::vector<int32_t> ref(rows), o(rows);
    for (size_t r = 0; r < rows; ++r) { int32_t s = 0; for (size_t c = 0; c < cols; ++c) s += w[r * cols + c] * x[c]; ref[r] = s; }
    const double rf = roof(buf, GiB);
    printf("%zux%zu (%.2f MB), read roof %.2f GB/s  warm GB/s   cold us  cold GB/s  %% roof  exact\n", rows, cols,
           bytes / 1e6, rf);
    for (auto& v : vs) {
      const size_t copies = GiB / bytes;
      v.pack(w.data(), rows, cols, buf);
      for (size_t i = 1; i < copies; ++i) memcpy(buf + i * bytes, buf, bytes);
      v.fn(buf, rows, cols, x.data(), o.data());
      const bool ok = o == ref;
      all_exact = all_exact && ok;
      std::vector<double> tw, tc;  // warm: the first copy again and again
      for (int i = 0; i < 30; ++i) { double a = now(); v.fn(buf, rows, cols, x.data(), o.data()); tw.push_back(now() - a); }
      for (size_t i = 0; i < std::max<size_t>(copies, 50) && i < 400; ++i) { double a = now(); v.fn(buf + (i % copies) * bytes, rows, cols, x.data(), o.data()); tc.push_back(now() - a); }
      std::sort(tw.begin(), tw.end()); std::sort(tc.begin(), tc.end());
      const double cold = tc[tc.size() / 2];
      printf("  %-28s %8.1f  %8.1f  %8.2f  %5.0f%%  %s\n", v.name, bytes / tw[15] / 1e9, cold * 1e6, bytes / cold / 1e9, 100 * bytes / cold / 1e9 / rf, ok ? "yes" : "NO");
    }
  }
  return all_exact ? 0 : 1;
}
