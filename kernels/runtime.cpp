// The runtime's forward pass: validation, scratch, prefill in chunks, decode.
#include "runtime.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "binary.h"
#include "head.h"
#include "thread_pool.h"

namespace bitnet {

namespace {

void fail(const std::string& what) { throw std::invalid_argument(what); }

void check_weight(const Weight& w, const std::string& name, size_t rows, size_t cols,
                  bool allow_ternary) {
  if (w.data == nullptr) fail(name + ": missing");
  if (w.rows != rows || w.cols != cols)
    fail(name + ": shape (" + std::to_string(w.rows) + ", " + std::to_string(w.cols) +
         ") does not match the configuration (" + std::to_string(rows) + ", " +
         std::to_string(cols) + ")");
  if (w.type == WType::TERNARY) {
    if (!allow_ternary) fail(name + ": ternary storage is not supported here");
    if (w.scale == nullptr || (w.n_scales != 1 && w.n_scales != rows))
      fail(name + ": a ternary weight needs 1 or rows scales");
  }
  if (w.type == WType::BINARY) {
    if (!allow_ternary) fail(name + ": binary storage is not supported here");
    if (w.scale == nullptr || (w.n_scales != 1 && w.n_scales != rows * binary_blocks(cols)))
      fail(name + ": a binary weight needs 1 or rows * ceil(cols / 128) scales");
  }
  if (w.type == WType::I8 && (w.scale == nullptr || w.n_scales != rows))
    fail(name + ": an int8 weight needs one scale per row");
  if (w.type == WType::Q4 &&
      (w.block_scale == nullptr || w.n_scales != rows * (q4_cols(cols) / kQ4Block)))
    fail(name + ": a 4-bit weight needs one fp16 scale per 32-column block");
}

void need(const float* p, const std::string& name) {
  if (p == nullptr) fail(name + ": missing");
}

// A buffer that is not value-initialised: the KV cache is large and mostly unused
// for short conversations, and untouched pages of a big allocation stay out of RSS.
template <typename T>
std::unique_ptr<T[]> raw_buffer(size_t n) {
  return std::unique_ptr<T[]>(new T[std::max<size_t>(n, 1)]);
}

}  // namespace

struct Runtime::Scratch {
  size_t kv_floats = 0, floats = 0, xq_bytes = 0;
  size_t kv_elem = 4;                           // bytes per cached value: 4 or 2 (fp16)
  std::unique_ptr<uint8_t[]> k_cache, v_cache;  // (layers, n_kv, n_ctx, head_dim)
  std::vector<float> x, xn, q, k, v, att, tmp, g, u, scores, cos_t, sin_t, s_x;
  std::vector<int8_t> xq;
  size_t xq_stride = 0;
};

Runtime::Runtime(RuntimeConfig cfg, ModelView weights) : cfg_(std::move(cfg)), w_(std::move(weights)) {
  const RuntimeConfig& c = cfg_;
  if (c.vocab == 0 || c.hidden == 0 || c.intermediate == 0 || c.n_layers == 0 || c.head_dim == 0)
    fail("model sizes must be positive");
  if (c.n_heads == 0 || c.n_kv_heads == 0 || c.n_heads % c.n_kv_heads)
    fail("n_heads must be a positive multiple of n_kv_heads");
  if (c.head_dim % 2) fail("head_dim must be even for RoPE");
  if (c.inv_freq.size() != c.head_dim / 2) fail("inv_freq must have head_dim / 2 entries");
  if (c.n_ctx == 0) fail("n_ctx must be positive");
  if (c.chunk == 0) fail("chunk must be positive");
  if (w_.layers.size() != c.n_layers) fail("the number of layers does not match the configuration");
  const size_t qdim = c.n_heads * c.head_dim, kvdim = c.n_kv_heads * c.head_dim;

  check_weight(w_.embed, "embed_tokens", c.vocab, c.hidden, false);
  if (w_.embed.type == WType::Q4) fail("embed_tokens: 4-bit embeddings are not supported");
  check_weight(w_.head, "lm_head", c.vocab, c.hidden, false);
  need(w_.final_norm, "norm");
  for (size_t i = 0; i < c.n_layers; ++i) {
    const LayerWeights& l = w_.layers[i];
    const std::string p = "layers." + std::to_string(i) + ".";
    need(l.attn_norm, p + "input_layernorm");
    need(l.ffn_norm, p + "post_attention_layernorm");
    check_weight(l.q, p + "self_attn.q_proj", qdim, c.hidden, true);
    check_weight(l.k, p + "self_attn.k_proj", kvdim, c.hidden, true);
    check_weight(l.v, p + "self_attn.v_proj", kvdim, c.hidden, true);
    check_weight(l.o, p + "self_attn.o_proj", c.hidden, qdim, true);
    check_weight(l.gate, p + "mlp.gate_proj", c.intermediate, c.hidden, true);
    check_weight(l.up, p + "mlp.up_proj", c.intermediate, c.hidden, true);
    check_weight(l.down, p + "mlp.down_proj", c.hidden, c.intermediate, true);
    if (c.bitnet) {
      need(l.attn_sub_norm, p + "attn_sub_norm");
      need(l.ffn_sub_norm, p + "ffn_sub_norm");
    }
  }

  s_ = std::make_unique<Scratch>();
  Scratch& s = *s_;
  const size_t C = c.chunk;
  s.kv_floats = c.n_layers * kvdim * c.n_ctx;
  s.kv_elem = c.kv_f16 ? 2 : 4;
  s.k_cache = raw_buffer<uint8_t>(s.kv_floats * s.kv_elem);
  s.v_cache = raw_buffer<uint8_t>(s.kv_floats * s.kv_elem);
  s.x.resize(C * c.hidden);
  s.xn.resize(C * c.hidden);
  s.q.resize(C * qdim);
  s.k.resize(C * kvdim);
  s.v.resize(C * kvdim);
  s.att.resize(C * qdim);
  s.tmp.resize(C * c.hidden);
  s.g.resize(C * c.intermediate);
  s.u.resize(C * c.intermediate);
  s.scores.resize(4 * c.n_heads * c.n_ctx);  // four query rows per head (prefill)
  s.cos_t.resize(C * c.head_dim / 2);
  s.sin_t.resize(C * c.head_dim / 2);
  s.s_x.resize(C);
  // int8 activations: wide enough for every input width in every layout.
  for (size_t width : {c.hidden, qdim, c.intermediate})
    s.xq_stride = std::max({s.xq_stride, width, padded_cols(Layout::I2, width),
                            padded_cols(Layout::B3, width), q4_cols(width),
                            binary_padded_cols(width)});
  s.xq.resize(C * s.xq_stride);
  s.floats = s.x.size() + s.xn.size() + s.q.size() + s.k.size() + s.v.size() + s.att.size() +
             s.tmp.size() + s.g.size() + s.u.size() + s.scores.size() + s.cos_t.size() +
             s.sin_t.size() + s.s_x.size();
  s.xq_bytes = s.xq.size();
}

Runtime::~Runtime() = default;

size_t Runtime::kv_bytes() const { return 2 * s_->kv_floats * s_->kv_elem; }
size_t Runtime::scratch_bytes() const { return s_->floats * sizeof(float) + s_->xq_bytes; }

void Runtime::truncate(size_t n) {
  std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
  if (!lock.owns_lock()) throw std::runtime_error("the model is busy with another call");
  if (n > n_past_) fail("cannot truncate the context to more tokens than it holds");
  n_past_ = n;
}

void Runtime::check_abort() {
  if (abort_.exchange(false, std::memory_order_relaxed)) throw Aborted();
}

void Runtime::prefill(const int32_t* tokens, size_t n, bool all_logits, float* logits) {
  std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
  if (!lock.owns_lock()) throw std::runtime_error("the model is busy with another call");
  if (n == 0) fail("no tokens to process");
  for (size_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || static_cast<size_t>(tokens[i]) >= cfg_.vocab)
      fail("token id " + std::to_string(tokens[i]) + " is outside the vocabulary (size " +
           std::to_string(cfg_.vocab) + ")");
  if (n_past_ + n > cfg_.n_ctx)
    fail("context overflow: " + std::to_string(n_past_) + " cached + " + std::to_string(n) +
         " new tokens exceed the context of " + std::to_string(cfg_.n_ctx));
  // An abort requested before this call belongs to an earlier generation.
  abort_.store(false, std::memory_order_relaxed);
  for (size_t c0 = 0; c0 < n; c0 += cfg_.chunk) {
    const size_t m = std::min(cfg_.chunk, n - c0);
    const bool last = c0 + m == n;
    float* out = all_logits ? logits + c0 * cfg_.vocab : (last ? logits : nullptr);
    forward_chunk(tokens + c0, m, n_past_, out, all_logits);
    n_past_ += m;  // only whole chunks count: an abort leaves a consistent cache
  }
}

void Runtime::forward_chunk(const int32_t* tokens, size_t n, size_t pos0, float* logits,
                            bool all_logits) {
  const RuntimeConfig& c = cfg_;
  Scratch& s = *s_;
  const PathKernels* k = active_path();
  const size_t H = c.hidden, I = c.intermediate, hd = c.head_dim, half = hd / 2;
  const size_t qdim = c.n_heads * hd, kvdim = c.n_kv_heads * hd;
  const LinearScratch ls{s.xq.data(), s.xq_stride, s.s_x.data()};

  for (size_t t = 0; t < n; ++t) {
    embed_row(w_.embed, static_cast<size_t>(tokens[t]), s.x.data() + t * H);
    // RoPE angles as the float32 reference forms them: position * inv_freq, rounded.
    const float pos = static_cast<float>(pos0 + t);
    for (size_t i = 0; i < half; ++i) {
      const float a = pos * c.inv_freq[i];
      s.cos_t[t * half + i] = std::cos(a);
      s.sin_t[t * half + i] = std::sin(a);
    }
  }

  for (size_t li = 0; li < c.n_layers; ++li) {
    check_abort();
    const LayerWeights& L = w_.layers[li];
    per_tokens(n, [&](size_t t0, size_t t1) {
      for (size_t t = t0; t < t1; ++t) rms_norm(s.x.data() + t * H, L.attn_norm, H, c.eps, s.xn.data() + t * H);
    });
    const LinearJob qkv[3] = {{&L.q, s.q.data(), qdim}, {&L.k, s.k.data(), kvdim}, {&L.v, s.v.data(), kvdim}};
    run_linears(k, s.xn.data(), H, n, qkv, 3, ls);

    const size_t es = s.kv_elem;
    uint8_t* kc = s.k_cache.get() + li * kvdim * c.n_ctx * es;
    uint8_t* vc = s.v_cache.get() + li * kvdim * c.n_ctx * es;
    per_tokens(n, [&](size_t t0, size_t t1) {
    for (size_t t = t0; t < t1; ++t) {
      float* q = s.q.data() + t * qdim;
      float* kk = s.k.data() + t * kvdim;
      float* vv = s.v.data() + t * kvdim;
      if (L.q_bias) for (size_t i = 0; i < qdim; ++i) q[i] += L.q_bias[i];
      if (L.k_bias) for (size_t i = 0; i < kvdim; ++i) kk[i] += L.k_bias[i];
      if (L.v_bias) for (size_t i = 0; i < kvdim; ++i) vv[i] += L.v_bias[i];
      if (L.q_norm) for (size_t h = 0; h < c.n_heads; ++h) rms_norm(q + h * hd, L.q_norm, hd, c.eps, q + h * hd);
      if (L.k_norm) for (size_t h = 0; h < c.n_kv_heads; ++h) rms_norm(kk + h * hd, L.k_norm, hd, c.eps, kk + h * hd);
      rope(q, c.n_heads, hd, s.cos_t.data() + t * half, s.sin_t.data() + t * half);
      rope(kk, c.n_kv_heads, hd, s.cos_t.data() + t * half, s.sin_t.data() + t * half);
      const size_t p = pos0 + t;
      for (size_t h = 0; h < c.n_kv_heads; ++h) {
        store_kv(k, c.kv_f16, kk + h * hd, kc + (h * c.n_ctx + p) * hd * es, hd);
        store_kv(k, c.kv_f16, vv + h * hd, vc + (h * c.n_ctx + p) * hd * es, hd);
      }
    }
    });
    attention(k, c, s.q.data(), kc, vc, n, pos0, s.att.data(), s.scores.data());
    if (c.bitnet)
      per_tokens(n, [&](size_t t0, size_t t1) {
        for (size_t t = t0; t < t1; ++t)
          rms_norm(s.att.data() + t * qdim, L.attn_sub_norm, qdim, c.eps, s.att.data() + t * qdim);
      });
    const LinearJob o{&L.o, s.tmp.data(), H};
    run_linears(k, s.att.data(), qdim, n, &o, 1, ls);
    per_tokens(n, [&](size_t t0, size_t t1) {
      for (size_t i = t0 * H; i < t1 * H; ++i) s.x[i] += s.tmp[i];
      for (size_t t = t0; t < t1; ++t) rms_norm(s.x.data() + t * H, L.ffn_norm, H, c.eps, s.xn.data() + t * H);
    });
    const LinearJob gu[2] = {{&L.gate, s.g.data(), I}, {&L.up, s.u.data(), I}};
    run_linears(k, s.xn.data(), H, n, gu, 2, ls);
    per_tokens(n, [&](size_t t0, size_t t1) {
      if (c.relu2) {
        for (size_t i = t0 * I; i < t1 * I; ++i) {
          const float r = s.g[i] > 0.0f ? s.g[i] : 0.0f;
          s.g[i] = r * r * s.u[i];
        }
      } else {
        op_kernels(k)->silu_mul(s.g.data() + t0 * I, s.u.data() + t0 * I, (t1 - t0) * I);
      }
      if (c.bitnet)
        for (size_t t = t0; t < t1; ++t) rms_norm(s.g.data() + t * I, L.ffn_sub_norm, I, c.eps, s.g.data() + t * I);
    });
    const LinearJob d{&L.down, s.tmp.data(), H};
    run_linears(k, s.g.data(), I, n, &d, 1, ls);
    per_tokens(n, [&](size_t t0, size_t t1) {
      for (size_t i = t0 * H; i < t1 * H; ++i) s.x[i] += s.tmp[i];
    });
  }

  if (logits == nullptr) return;  // a non-final prefill chunk: no head needed
  check_abort();
  const size_t first = all_logits ? 0 : n - 1, rows = n - first;
  for (size_t t = first; t < n; ++t)
    rms_norm(s.x.data() + t * H, w_.final_norm, H, c.eps, s.xn.data() + t * H);
  const LinearJob head{&w_.head, logits, c.vocab};
  run_linears(k, s.xn.data() + first * H, H, rows, &head, 1, ls);
}

}  // namespace bitnet
