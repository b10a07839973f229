// The native decode runtime: a whole Llama / BitNet b1.58 forward pass in C++.
//
// The runtime never owns weights: it holds pointers into arrays that the caller
// (the nanobind wrapper) keeps alive, so a memory-mapped fp16 file or a packed
// ternary array is used in place. Everything a forward pass needs besides the
// weights (KV cache, activations, int8 buffers) is allocated once at construction,
// so prefill and decode never allocate.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels.h"
#include "thread_pool.h"

namespace bitnet {

// How a weight matrix is stored.
//   F32, F16  dense (rows, cols); F16 as raw IEEE half bits.
//   I8        int8 (rows, cols) with one float scale per row: W = q * scale[r]; the
//             input is quantized per token to int8 as well (like a Q8_0 head).
//   TERNARY   packed in `layout` (kernels.h) with 1 or rows scales:
//             y = (W_q . x_q) * scale / s_x (BitNet b1.58, activations int8 per token).
//   BINARY    1 bit per weight (binary.h) with 1 scale or rows * ceil(cols/128)
//             per-block scales (original BitNet / GGUF Q1_0), activations int8 per token.
//   Q4        4-bit blocks of 32 with fp16 block scales (head.h), int8 activations.
enum class WType : int { F32 = 0, F16 = 1, I8 = 2, TERNARY = 3, BINARY = 4, Q4 = 5 };

struct Weight {
  WType type = WType::F32;
  const void* data = nullptr;
  size_t rows = 0, cols = 0;
  Layout layout = Layout::I2;      // TERNARY only
  const float* scale = nullptr;    // TERNARY (1 or rows), I8 (rows), BINARY (1 or rows*blocks)
  const uint16_t* block_scale = nullptr;  // Q4: fp16 (rows, q4_cols(cols) / 32)
  size_t n_scales = 0;             // entries of scale, or of block_scale for Q4
  size_t nbytes() const;           // bytes of data + scales
  bool empty() const { return data == nullptr; }
};

struct LayerWeights {
  const float* attn_norm = nullptr;      // (hidden)
  Weight q, k, v, o;
  const float* q_bias = nullptr;         // optional (n_heads * head_dim)
  const float* k_bias = nullptr;         // optional (n_kv_heads * head_dim)
  const float* v_bias = nullptr;
  const float* q_norm = nullptr;         // optional, qwen3: per-head RMSNorm weight (head_dim)
  const float* k_norm = nullptr;         // applied to q / k after the bias, before RoPE
  const float* attn_sub_norm = nullptr;  // bitnet: (n_heads * head_dim)
  const float* ffn_norm = nullptr;       // (hidden)
  Weight gate, up, down;
  const float* ffn_sub_norm = nullptr;   // bitnet: (intermediate)
};

struct RuntimeConfig {
  bool bitnet = false;       // attn_sub_norm / ffn_sub_norm present
  bool relu2 = false;        // squared ReLU gate instead of SiLU
  size_t vocab = 0, hidden = 0, intermediate = 0, n_layers = 0;
  size_t n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float eps = 1e-5f;
  size_t n_ctx = 0;          // KV cache capacity in tokens
  size_t chunk = 64;         // prefill tokens per batched pass
  bool kv_f16 = false;       // KV cache in fp16 (half the bytes) instead of float32
  std::vector<float> inv_freq;  // head_dim / 2 RoPE frequencies (scaling already applied)
};

struct ModelView {
  Weight embed;              // (vocab, hidden): F32, F16 or I8 (rows dequantized on lookup)
  const float* final_norm = nullptr;
  Weight head;               // (vocab, hidden): F32, F16, I8 or Q4
  std::vector<LayerWeights> layers;
};

// Thrown when abort() interrupted a call; the KV cache keeps what was complete.
struct Aborted : std::runtime_error {
  Aborted() : std::runtime_error("generation aborted") {}
};

class Runtime {
 public:
  // Validates every shape; throws std::invalid_argument with the tensor's name.
  Runtime(RuntimeConfig cfg, ModelView weights);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Appends n tokens. logits: (n, vocab) when all_logits, else (vocab) for the last
  // token. Throws std::invalid_argument (bad token, context overflow) before any work.
  void prefill(const int32_t* tokens, size_t n, bool all_logits, float* logits);
  void decode(int32_t token, float* logits) { prefill(&token, 1, false, logits); }
  void reset() { truncate(0); }
  size_t n_past() const { return n_past_.load(std::memory_order_relaxed); }
  // Truncates the cache to n tokens (n <= n_past): regenerate from a shorter context.
  void truncate(size_t n);

  // Makes the running (or next) prefill/decode stop at the next layer boundary.
  void abort() { abort_.store(true, std::memory_order_relaxed); }

  const RuntimeConfig& config() const { return cfg_; }
  const ModelView& weights() const { return w_; }
  size_t kv_bytes() const;
  size_t scratch_bytes() const;

 private:
  struct Scratch;
  void forward_chunk(const int32_t* tokens, size_t n, size_t pos0, float* logits, bool all_logits);
  void check_abort();

  RuntimeConfig cfg_;
  ModelView w_;
  std::unique_ptr<Scratch> s_;
  std::atomic<size_t> n_past_{0};  // read by other threads while a call runs
  std::atomic<bool> abort_{false};
  std::mutex busy_;
};

// ---- building blocks shared by the runtime's translation units ----

// Rows of several matrices that read the same input, computed in one parallel_for.
struct LinearJob {
  const Weight* w;
  float* y;          // (batch, y_stride)
  size_t y_stride;
};

struct LinearScratch {
  int8_t* xq;        // (batch, xq_stride) int8 activations
  size_t xq_stride;  // >= every padded width used
  float* s_x;        // (batch)
};

// y_j = x @ W_j^T for every job (all W_j have cols == x width). x: (batch, x_stride).
void run_linears(const PathKernels* k, const float* x, size_t x_stride, size_t batch,
                 const LinearJob* jobs, size_t n_jobs, const LinearScratch& scratch);

// Causal attention of `n` new tokens at positions pos0.. over the cache of one layer.
// q: (n, n_heads*head_dim) already roped; k_cache / v_cache: (n_kv, n_ctx, head_dim),
// float32, or fp16 bits when cfg.kv_f16. out: (n, n_heads*head_dim). scores: 4 * n_heads *
// n_ctx floats of scratch.
void attention(const PathKernels* k, const RuntimeConfig& cfg, const float* q,
               const void* k_cache, const void* v_cache, size_t n, size_t pos0, float* out,
               float* scores);
// Stores n floats into a cache row (float32, or fp16 when kv_f16).
void store_kv(const PathKernels* k, bool kv_f16, const float* x, void* dst, size_t n);

// The largest of n scores, NaNs skipped (-inf when there is none); softmax's shift.
float row_max(const float* s, size_t n);
void rms_norm(const float* x, const float* w, size_t n, float eps, float* out);
// HF rotate-half RoPE on `heads` heads of one token in place.
void rope(float* x, size_t heads, size_t head_dim, const float* cos_t, const float* sin_t);
// Embedding row `token` as float32.
void embed_row(const Weight& e, size_t token, float* out);

// fn(t0, t1) over token ranges: split across the pool for a prefill chunk (the norms,
// RoPE, KV stores, residuals and activations of 64 tokens were serial work that left the
// other cores spinning), inline for a decoded token. Every token's arithmetic is the same
// either way, so the results do not depend on the thread count.
template <class F>
void per_tokens(size_t n, const F& fn) {
  const size_t t = static_cast<size_t>(get_threads());
  if (n < 4 || t < 2) {
    fn(size_t{0}, n);
    return;
  }
  const size_t parts = std::min(n, t);
  parallel_for(parts, [&](size_t i) { fn(i * n / parts, (i + 1) * n / parts); });
}

// Ids of the k largest of x[0..n) (NaN skipped) into out, best first, ties by lower id;
// returns how many were written (min(k, non-NaN count)). kernels/sampling.cpp.
size_t top_k(const float* x, size_t n, size_t k, int64_t* out);
// The ids (ascending) of the top-p nucleus of z, cut by min_p; e[i] = exp(z[i] - max z),
// total = sum of e (sampling.cpp). Returns how many were written to out (n entries long).
size_t top_p_keep(const float* z, const float* e, size_t n, double total, double top_p, double min_p,
                  int64_t* out);
// One draw from that nucleus (renormalised), by inverse CDF in id order with u in [0, 1):
// returns the id, -1 if the nucleus has no mass.
int64_t top_p_draw(const float* z, const float* e, size_t n, double total, double top_p, double min_p,
                   double u);

}  // namespace bitnet
