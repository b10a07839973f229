// Building blocks of the runtime: grouped linears, attention, norms, RoPE, embeddings.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "binary.h"
#include "head.h"
#include "runtime.h"
#include "thread_pool.h"

// The runtime is compiled for the baseline ISA so that it loads on any CPU; the loops of
// its own that matter (int8 / 4-bit head, attention over the KV cache) are in head_*.cpp,
// one translation unit per ISA, picked with the active ternary path (op_kernels).

namespace bitnet {

size_t Weight::nbytes() const {
  size_t n = 0;
  switch (type) {
    case WType::F32: n = rows * cols * 4; break;
    case WType::F16: n = rows * cols * 2; break;
    case WType::I8: n = rows * cols; break;
    case WType::TERNARY: n = rows * row_bytes(layout, cols); break;
    case WType::Q4: return rows * q4_row_bytes(cols) + n_scales * sizeof(uint16_t);
    case WType::BINARY: n = rows * binary_row_bytes(cols); break;
  }
  return n + n_scales * sizeof(float);
}

namespace {

// One task of run_linears: rows [r0, r1) of job `job`.
struct Span {
  uint32_t job, r0, r1;
};
constexpr size_t kMaxSpans = 160;

size_t weight_row_bytes(const Weight& w) {
  switch (w.type) {
    case WType::F32: return w.cols * 4;
    case WType::F16: return w.cols * 2;
    case WType::I8: return w.cols;
    case WType::TERNARY: return row_bytes(w.layout, w.cols);
    case WType::Q4: return q4_row_bytes(w.cols) + q4_cols(w.cols) / kQ4Block * 2;
    case WType::BINARY: return binary_row_bytes(w.cols);
  }
  return w.cols;
}

constexpr size_t kMaxJobs = 4;

// Splits the rows of every job into tasks (see run_linears). Sizes are multiples of 16
// rows (SIMD paths take whole row groups), at least ~16 KiB of weight bytes per task so
// a small matrix is not drowned in scheduling; one task per job on one thread.
size_t guided_spans(const LinearJob* jobs, size_t n_jobs, size_t batch, Span* out) {
  const size_t t = static_cast<size_t>(get_threads());
  const size_t nb = std::max<size_t>(batch, 1);
  size_t left = 0;
  for (size_t j = 0; j < n_jobs; ++j) left += jobs[j].w->rows * weight_row_bytes(*jobs[j].w) * nb;
  size_t n = 0;
  for (size_t j = 0; j < n_jobs; ++j) {
    const Weight& w = *jobs[j].w;
    const size_t row_work = std::max<size_t>(1, weight_row_bytes(w) * nb);
    const size_t min_rows = std::max<size_t>(16, 16384 / row_work / 16 * 16);
    // Batched calls (prefill) keep four equal tasks per thread: a batched kernel packs the
    // activations once per task (AMX), so many small tasks would repeat that work.
    const size_t equal = std::max(min_rows, ((w.rows + 4 * t - 1) / (4 * t) + 15) / 16 * 16);
    for (size_t r = 0; r < w.rows;) {
      size_t rows = w.rows - r;
      if (t > 1 && n + (n_jobs - j) < kMaxSpans - 1) {  // out of room: the rest in one task
        const size_t want = (left / (2 * t) + row_work - 1) / row_work;
        rows = std::min(rows, batch > 1 ? equal : std::max(min_rows, (want + 15) / 16 * 16));
      }
      out[n++] = Span{static_cast<uint32_t>(j), static_cast<uint32_t>(r), static_cast<uint32_t>(r + rows)};
      r += rows;
      left -= std::min(left, rows * row_work);
    }
  }
  return n;
}

void linear_rows(const PathKernels& kk, const float* x, size_t x_stride, size_t batch,
                 const LinearJob& job, const LinearScratch& scratch, size_t r0, size_t r1) {
  const PathKernels* k = &kk;
  const Weight& w = *job.w;
  switch (w.type) {
    case WType::F16:
      k->f16_matmul(static_cast<const uint16_t*>(w.data), w.cols, x, x_stride, batch, r0, r1,
                    job.y + r0, job.y_stride);
      break;
    case WType::F32:
      k->f32_matmul(static_cast<const float*>(w.data), w.cols, x, x_stride, batch, r0, r1,
                    job.y + r0, job.y_stride);
      break;
    case WType::I8:
      op_kernels(k)->i8_rows(static_cast<const int8_t*>(w.data), w.cols, scratch.xq,
                             scratch.xq_stride, batch, r0, r1, job.y, job.y_stride, w.scale,
                             scratch.s_x);
      break;
    case WType::Q4:
      op_kernels(k)->q4_rows(static_cast<const uint8_t*>(w.data), w.block_scale, w.cols,
                             scratch.xq, scratch.xq_stride, batch, r0, r1, job.y, job.y_stride,
                             scratch.s_x);
      break;
    case WType::TERNARY: {
      // The int32 products land in the float output (same size) and are scaled in
      // place while still in cache: no extra accumulator buffer.
      const TernaryMatrix m{w.layout, static_cast<const uint8_t*>(w.data), w.rows, w.cols};
      auto* acc = reinterpret_cast<int32_t*>(job.y + r0);
      k->ternary_i32(m, scratch.xq, scratch.xq_stride, batch, r0, r1, acc, job.y_stride);
      for (size_t b = 0; b < batch; ++b) {
        const float inv_sx = 1.0f / scratch.s_x[b];
        float* yb = job.y + b * job.y_stride;
        for (size_t r = r0; r < r1; ++r) {
          int32_t v;
          std::memcpy(&v, yb + r, sizeof v);
          const float ws = w.n_scales == 1 ? w.scale[0] : w.scale[r];
          yb[r] = static_cast<float>(v) * (ws * inv_sx);
        }
      }
      break;
    }
    case WType::BINARY: {
      const BinaryMatrix m{static_cast<const uint8_t*>(w.data), w.rows, w.cols};
      binary_rows_f32(binary_kernels_for(k), m, w.scale, w.n_scales, scratch.xq, scratch.xq_stride,
                      scratch.s_x, batch, r0, r1, job.y + r0, job.y_stride);
      break;
    }
  }
}

}  // namespace

void run_linears(const PathKernels* k, const float* x, size_t x_stride, size_t batch,
                 const LinearJob* jobs, size_t n_jobs, const LinearScratch& scratch) {
  if (n_jobs == 0 || n_jobs > kMaxJobs || batch == 0) return;
  // Quantize the shared input once for every integer job; the padding of the widest
  // layout is zero-filled so each layout reads its own padded width.
  bool need_q = false;
  size_t padded = 0, cols = jobs[0].w->cols;
  for (size_t j = 0; j < n_jobs; ++j) {
    const Weight& w = *jobs[j].w;
    if (w.type == WType::TERNARY) {
      need_q = true;
      padded = std::max(padded, padded_cols(w.layout, w.cols));
    } else if (w.type == WType::BINARY) {
      need_q = true;
      padded = std::max(padded, binary_padded_cols(w.cols));
    } else if (w.type == WType::I8) {
      need_q = true;
      padded = std::max(padded, w.cols);
    } else if (w.type == WType::Q4) {
      need_q = true;
      padded = std::max(padded, q4_cols(w.cols));
    }
  }
  if (need_q)  // per token; a prefill chunk's tokens are split across the pool
    per_tokens(batch, [&](size_t b0, size_t b1) {
      for (size_t b = b0; b < b1; ++b)
        scratch.s_x[b] = k->quantize_row(x + b * x_stride, cols, padded, scratch.xq + b * scratch.xq_stride);
    });
  // Guided tasks: each claims a quarter of the work left (1/(2t)), down to ~16 KiB, never
  // across jobs. Equal tasks (four per thread) left one core idle for half a task at the
  // end of every call on average -- a few hundred calls per decoded token; big-to-small
  // tasks end within microseconds of each other and still balance a core that falls behind.
  Span spans[kMaxSpans];
  const size_t n_spans = guided_spans(jobs, n_jobs, batch, spans);
  struct Ctx {
    const PathKernels* k;
    const float* x;
    size_t x_stride, batch;
    const LinearJob* jobs;
    const LinearScratch* scratch;
    const Span* spans;
  } ctx{k, x, x_stride, batch, jobs, &scratch, spans};
  const Ctx* c = &ctx;  // one pointer captured: the std::function stays in its small buffer
  parallel_for(n_spans, [c](size_t t) {
    const Span& sp = c->spans[t];
    linear_rows(*c->k, c->x, c->x_stride, c->batch, c->jobs[sp.job], *c->scratch, sp.r0, sp.r1);
  });
}

// The largest score (NaNs skipped). Eight running maxima, not one: a single chain waits
// a max's latency per score, and at a 1,500-token prompt that loop was 5.7% of prefill on
// one SPR core. Max is exact, so only the sign of a zero maximum can differ, and softmax
// subtracts it from every score: s - 0 and s - (-0) are the same value. A/B, 2B4T shape,
// 1,500-token prompt: 106.6-112.0 -> 115.2-118.5 tok/s at 1 thread, 201.4-205.0 ->
// 209.7-212.2 at 2.
float row_max(const float* s, size_t n) {
  constexpr size_t kLanes = 8;
  float m[kLanes];
  std::fill(m, m + kLanes, -std::numeric_limits<float>::infinity());
  size_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (size_t l = 0; l < kLanes; ++l) m[l] = std::max(m[l], s[j + l]);
  for (; j < n; ++j) m[0] = std::max(m[0], s[j]);
  float mx = m[0];
  for (size_t l = 1; l < kLanes; ++l) mx = std::max(mx, m[l]);
  return mx;
}

namespace {

// Scores -> probabilities in place (mx: their maximum).
void softmax(const OpKernels& ops, float* s, size_t n, float mx) {
  const float inv = 1.0f / ops.exp_sum(s, n, mx);
  for (size_t j = 0; j < n; ++j) s[j] *= inv;
}

struct AttnCtx {
  const OpKernels* ops;
  const RuntimeConfig* cfg;
  const float* q;
  const void *k_cache, *v_cache;
  size_t n, pos0;
  float *out, *scores;
};

// Query head h for every new token: scores over the causal prefix, softmax, weighted V.
void attention_head(const AttnCtx& a, size_t h) {
  const RuntimeConfig& cfg = *a.cfg;
  const OpKernels& ops = *a.ops;
  const size_t hd = cfg.head_dim, qdim = cfg.n_heads * hd;
  const size_t kvh = h / (cfg.n_heads / cfg.n_kv_heads);  // GQA: consecutive heads share
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const size_t off = kvh * cfg.n_ctx * hd;
  const size_t esz = cfg.kv_f16 ? sizeof(uint16_t) : sizeof(float);
  const void* K = static_cast<const char*>(a.k_cache) + off * esz;
  const void* V = static_cast<const char*>(a.v_cache) + off * esz;
  const size_t ctx = cfg.n_ctx;
  float* sc = a.scores + 4 * h * ctx;  // four rows of n_ctx per head
  size_t t = 0;
  // A prefill chunk's tokens four at a time: every K / V row is read once for the four.
  // All four score the rows 0 .. len + 3 (the cache holds them all); token g keeps its own
  // len + g, and its later rows get probability 0, which adds exactly nothing to the sum:
  // each token's result is bit-identical to computing it alone (see attention_simd.h).
  for (; t + 4 <= a.n; t += 4) {
    const size_t len = a.pos0 + t + 1, rows = len + 3;
    const float* q0 = a.q + t * qdim + h * hd;
    ops.attn_scores4(q0, qdim, K, cfg.kv_f16, rows, hd, scale, sc, ctx);
    for (size_t g = 0; g < 4; ++g) {
      float* sg = sc + g * ctx;
      const size_t n = len + g;
      softmax(ops, sg, n, row_max(sg, n));
      for (size_t j = n; j < rows; ++j) sg[j] = 0.0f;
    }
    ops.attn_wsum4(sc, ctx, V, cfg.kv_f16, rows, hd, a.out + t * qdim + h * hd, qdim);
  }
  for (; t < a.n; ++t) {
    const size_t len = a.pos0 + t + 1;  // causal: this token sees itself and the past
    const float* qv = a.q + t * qdim + h * hd;
    const float mx = ops.attn_scores(qv, K, cfg.kv_f16, len, hd, scale, sc);
    softmax(ops, sc, len, mx);
    ops.attn_wsum(sc, V, cfg.kv_f16, len, hd, a.out + t * qdim + h * hd);
  }
}

// One decoded token, `cnt` (1..4) consecutive query heads h.. that share one KV head: the
// four-query kernels read each K / V row once for all of them (unused query slots repeat
// the first head and are dropped). The same arithmetic as attention_head per head, so the
// result is bit-identical to it.
void decode_heads(const AttnCtx& a, size_t h, size_t cnt) {
  const RuntimeConfig& cfg = *a.cfg;
  const OpKernels& ops = *a.ops;
  const size_t hd = cfg.head_dim, ctx = cfg.n_ctx, len = a.pos0 + 1;
  if (cnt == 1 || hd > 256) {
    for (size_t i = 0; i < cnt; ++i) attention_head(a, h + i);
    return;
  }
  const size_t kvh = h / (cfg.n_heads / cfg.n_kv_heads);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const size_t esz = cfg.kv_f16 ? sizeof(uint16_t) : sizeof(float), off = kvh * ctx * hd;
  const void* K = static_cast<const char*>(a.k_cache) + off * esz;
  const void* V = static_cast<const char*>(a.v_cache) + off * esz;
  alignas(64) float q[4 * 256], out[4 * 256];
  for (size_t g = 0; g < 4; ++g) std::memcpy(q + g * hd, a.q + (h + (g < cnt ? g : 0)) * hd, hd * sizeof(float));
  float* sc = a.scores + 4 * h * ctx;
  ops.attn_scores4(q, hd, K, cfg.kv_f16, len, hd, scale, sc, ctx);
  for (size_t g = 0; g < 4; ++g) {
    float* sg = sc + g * ctx;
    softmax(ops, sg, len, row_max(sg, len));
  }
  ops.attn_wsum4(sc, ctx, V, cfg.kv_f16, len, hd, out, hd);
  for (size_t g = 0; g < cnt; ++g) std::memcpy(a.out + (h + g) * hd, out + g * hd, hd * sizeof(float));
}

}  // namespace

void attention(const PathKernels* k, const RuntimeConfig& cfg, const float* q, const void* k_cache,
               const void* v_cache, size_t n, size_t pos0, float* out, float* scores) {
  const AttnCtx ctx{op_kernels(k), &cfg, q, k_cache, v_cache, n, pos0, out, scores};
  const AttnCtx* c = &ctx;  // one pointer captured: no std::function allocation
  // One task per thread, each a contiguous range of heads: GQA heads that share a KV head
  // are neighbours, so a range reads each of its KV heads from memory once and again from
  // its own L2 (a task per head let two cores fetch the same KV head at the same time).
  const size_t heads = cfg.n_heads, tasks = std::min<size_t>(heads, static_cast<size_t>(get_threads()));
  parallel_for(tasks, [c, heads, tasks](size_t t) {
    const size_t h1 = (t + 1) * heads / tasks;
    const size_t group = c->cfg->n_heads / c->cfg->n_kv_heads;
    for (size_t h = t * heads / tasks; h < h1;) {
      if (c->n == 1 && group > 1) {  // decode: up to four heads of one KV head in one pass
        const size_t kvh = h / group, end = std::min({h1, (kvh + 1) * group, h + 4});
        decode_heads(*c, h, end - h);
        h = end;
      } else {
        attention_head(*c, h++);
      }
    }
  });
}

void store_kv(const PathKernels* k, bool kv_f16, const float* x, void* dst, size_t n) {
  if (kv_f16)
    op_kernels(k)->to_f16(x, static_cast<uint16_t*>(dst), n);
  else
    std::memcpy(dst, x, n * sizeof(float));
}

void rms_norm(const float* x, const float* w, size_t n, float eps, float* out) {
  double ss = 0.0;  // double: the mean square is then correctly rounded to float
  for (size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float ms = static_cast<float>(ss / static_cast<double>(n));
  const float inv = 1.0f / std::sqrt(ms + eps);
  for (size_t i = 0; i < n; ++i) out[i] = w[i] * (x[i] * inv);
}

void rope(float* x, size_t heads, size_t head_dim, const float* cos_t, const float* sin_t) {
  const size_t half = head_dim / 2;
  for (size_t h = 0; h < heads; ++h) {
    float* v = x + h * head_dim;
    for (size_t i = 0; i < half; ++i) {
      const float x1 = v[i], x2 = v[i + half];
      v[i] = x1 * cos_t[i] - x2 * sin_t[i];
      v[i + half] = x2 * cos_t[i] + x1 * sin_t[i];
    }
  }
}

void embed_row(const Weight& e, size_t token, float* out) {
  const size_t n = e.cols;
  switch (e.type) {
    case WType::F32:
      std::memcpy(out, static_cast<const float*>(e.data) + token * n, n * sizeof(float));
      break;
    case WType::F16: {
      const uint16_t* row = static_cast<const uint16_t*>(e.data) + token * n;
      for (size_t i = 0; i < n; ++i) out[i] = half_bits_to_float(row[i]);
      break;
    }
    case WType::I8: {
      const int8_t* row = static_cast<const int8_t*>(e.data) + token * n;
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(row[i]) * e.scale[token];
      break;
    }
    case WType::TERNARY:
    case WType::Q4:
    case WType::BINARY:
      break;  // rejected at construction
  }
}

}  // namespace bitnet
