// nanobind surface of the native runtime: `NativeModel`.
//
// Weights arrive as NumPy arrays already in the runtime's layout (the Python side,
// bitnet_studio/engine/native_backend.py, converts and packs them). They are used in
// place, never copied: the model keeps a reference to every array it points into, so
// a memory-mapped fp16 file stays mapped for as long as the model lives.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <algorithm>
#include <string>
#include <vector>

#include "binary.h"
#include "bindings.h"
#include "head.h"
#include "runtime.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

template <typename T, typename... Extra>
using Arr = nb::ndarray<T, nb::c_contig, nb::device::cpu, Extra...>;


template <typename A>
A as_array(nb::handle h, const std::string& name, const char* want) {
  A a;
  // No conversion: a silent copy would defeat memory mapping and double the memory.
  if (!nb::try_cast(h, a, false))
    throw std::invalid_argument(name + ": expected a C-contiguous " + want + " NumPy array");
  return a;
}

class NativeModel {
 public:
  NativeModel(const nb::dict& config, const nb::dict& weights) {
    bitnet::RuntimeConfig c;
    auto get = [&](const char* key) -> nb::handle {
      require(config.contains(key), std::string("config is missing '") + key + "'");
      return config[key];
    };
    const std::string arch = nb::cast<std::string>(get("arch"));
    require(arch == "llama" || arch == "bitnet-b1.58" || arch == "qwen3",
            "unknown architecture '" + arch + "'");
    c.bitnet = arch == "bitnet-b1.58";
    const std::string act = nb::cast<std::string>(get("hidden_act"));
    require(act == "silu" || act == "relu2", "unknown hidden_act '" + act + "'");
    c.relu2 = act == "relu2";
    c.vocab = nb::cast<size_t>(get("vocab_size"));
    c.hidden = nb::cast<size_t>(get("hidden_size"));
    c.intermediate = nb::cast<size_t>(get("intermediate_size"));
    c.n_layers = nb::cast<size_t>(get("n_layers"));
    c.n_heads = nb::cast<size_t>(get("n_heads"));
    c.n_kv_heads = nb::cast<size_t>(get("n_kv_heads"));
    c.head_dim = nb::cast<size_t>(get("head_dim"));
    c.eps = nb::cast<float>(get("rms_norm_eps"));
    c.n_ctx = nb::cast<size_t>(get("n_ctx"));
    c.chunk = nb::cast<size_t>(get("chunk"));
    c.kv_f16 = config.contains("kv_f16") && nb::cast<bool>(config["kv_f16"]);
    auto inv = as_array<Arr<const float, nb::ndim<1>>>(get("inv_freq"), "inv_freq", "float32 1-D");
    c.inv_freq.assign(inv.data(), inv.data() + inv.shape(0));

    weights_ = weights;
    const size_t qdim = c.n_heads * c.head_dim, kvdim = c.n_kv_heads * c.head_dim;
    bitnet::ModelView v;
    v.embed = matrix("embed_tokens");
    v.head = weights.contains("lm_head") ? matrix("lm_head") : v.embed;
    tied_ = !weights.contains("lm_head");
    v.final_norm = vec("norm", c.hidden);
    for (size_t i = 0; i < c.n_layers; ++i) {
      const std::string p = "layers." + std::to_string(i) + ".";
      bitnet::LayerWeights l;
      l.attn_norm = vec(p + "input_layernorm", c.hidden);
      l.ffn_norm = vec(p + "post_attention_layernorm", c.hidden);
      l.q = matrix(p + "self_attn.q_proj");
      l.k = matrix(p + "self_attn.k_proj");
      l.v = matrix(p + "self_attn.v_proj");
      l.o = matrix(p + "self_attn.o_proj");
      l.q_bias = optional_vec(p + "self_attn.q_bias", qdim);
      l.k_bias = optional_vec(p + "self_attn.k_bias", kvdim);
      l.v_bias = optional_vec(p + "self_attn.v_bias", kvdim);
      l.q_norm = optional_vec(p + "self_attn.q_norm", c.head_dim);
      l.k_norm = optional_vec(p + "self_attn.k_norm", c.head_dim);
      if (arch == "qwen3") require(l.q_norm && l.k_norm, p + "self_attn.q_norm / k_norm missing (qwen3)");
      l.gate = matrix(p + "mlp.gate_proj");
      l.up = matrix(p + "mlp.up_proj");
      l.down = matrix(p + "mlp.down_proj");
      if (c.bitnet) {
        l.attn_sub_norm = vec(p + "attn_sub_norm", qdim);
        l.ffn_sub_norm = vec(p + "ffn_sub_norm", c.intermediate);
      }
      v.layers.push_back(l);
    }
    rt_ = std::make_unique<bitnet::Runtime>(std::move(c), std::move(v));
  }

  nb::object prefill(Arr<const int32_t, nb::ndim<1>> tokens, bool all_logits, nb::object out) {
    const size_t n = tokens.shape(0), vocab = rt_->config().vocab;
    require(n > 0, "prefill needs at least one token");
    Arr<float> o;
    if (out.is_none()) {
      out = all_logits ? new_array({n, vocab}) : new_array({vocab});
    }
    o = as_array<Arr<float>>(out, "out", "float32");
    const size_t want = all_logits ? n * vocab : vocab;
    require(o.size() == want, "out must hold " + std::to_string(want) + " float32 logits");
    const int32_t* tok = tokens.data();
    float* dst = o.data();
    {
      nb::gil_scoped_release nogil;
      rt_->prefill(tok, n, all_logits, dst);
    }
    return out;
  }

  nb::object decode(int64_t token, nb::object out) {
    const size_t vocab = rt_->config().vocab;
    require(token >= 0 && static_cast<size_t>(token) < vocab,
            "token id " + std::to_string(token) + " is outside the vocabulary (size " +
                std::to_string(vocab) + ")");
    if (out.is_none()) out = new_array({vocab});
    auto o = as_array<Arr<float>>(out, "out", "float32");
    require(o.size() == vocab, "out must hold vocab_size float32 logits");
    float* dst = o.data();
    {
      nb::gil_scoped_release nogil;
      rt_->decode(static_cast<int32_t>(token), dst);
    }
    return out;
  }

  nb::dict memory() const {
    const bitnet::ModelView& w = rt_->weights();
    size_t attn = 0, mlp = 0, norms = 0;
    const size_t H = rt_->config().hidden, I = rt_->config().intermediate;
    const size_t qdim = rt_->config().n_heads * rt_->config().head_dim;
    const size_t kvdim = rt_->config().n_kv_heads * rt_->config().head_dim;
    for (const auto& l : w.layers) {
      attn += l.q.nbytes() + l.k.nbytes() + l.v.nbytes() + l.o.nbytes();
      attn += 4 * ((l.q_bias ? qdim : 0) + (l.k_bias ? kvdim : 0) + (l.v_bias ? kvdim : 0));
      mlp += l.gate.nbytes() + l.up.nbytes() + l.down.nbytes();
      norms += 4 * (2 * H + (l.attn_sub_norm ? qdim : 0) + (l.ffn_sub_norm ? I : 0));
      norms += 4 * rt_->config().head_dim * ((l.q_norm ? 1 : 0) + (l.k_norm ? 1 : 0));
    }
    norms += 4 * H;
    nb::dict d;
    d["embeddings"] = w.embed.nbytes();
    d["attention"] = attn;
    d["mlp"] = mlp;
    d["norms"] = norms;
    d["head"] = tied_ ? size_t(0) : w.head.nbytes();  // a tied head is the embedding table
    d["kv_cache"] = rt_->kv_bytes();
    d["scratch"] = rt_->scratch_bytes();
    return d;
  }

  bitnet::Runtime& rt() { return *rt_; }
  bool tied() const { return tied_; }

 private:
  static nb::object new_array(std::initializer_list<size_t> shape) {
    nb::module_ np = nb::module_::import_("numpy");
    nb::tuple t = nb::steal<nb::tuple>(PyTuple_New(static_cast<Py_ssize_t>(shape.size())));
    Py_ssize_t i = 0;
    for (size_t s : shape) PyTuple_SET_ITEM(t.ptr(), i++, PyLong_FromSize_t(s));
    return np.attr("empty")(t, "dtype"_a = "float32");
  }

  nb::handle entry(const std::string& name) const {
    require(weights_.contains(name.c_str()), "weights are missing '" + name + "'");
    return weights_[name.c_str()];
  }

  const float* vec(const std::string& name, size_t n) const {
    auto a = as_array<Arr<const float, nb::ndim<1>>>(entry(name), name, "float32 1-D");
    require(a.shape(0) == n, name + ": expected " + std::to_string(n) + " values, got " +
                                 std::to_string(a.shape(0)));
    return a.data();
  }

  const float* optional_vec(const std::string& name, size_t n) const {
    return weights_.contains(name.c_str()) ? vec(name, n) : nullptr;
  }

  // A matrix entry is a tuple (kind, data, scale or None, cols) with kind one of
  // f32, f16 (raw uint16 bits), i8 (per-row scale), i2 / b3 (packed ternary), q4 (uint8
  // (rows, q4_row_bytes) nibbles with uint16 fp16 block scales (rows, q4_cols / 32)),
  // q1 (packed binary, 1 or rows * blocks scales).
  bitnet::Weight matrix(const std::string& name) const {
    nb::handle h = entry(name);
    require(nb::isinstance<nb::tuple>(h) && nb::len(h) == 4,
            name + ": expected a (kind, data, scale, cols) tuple");
    nb::tuple t = nb::borrow<nb::tuple>(h);
    const std::string kind = nb::cast<std::string>(t[0]);
    bitnet::Weight w;
    w.cols = nb::cast<size_t>(t[3]);
    if (kind == "f32") {
      auto a = as_array<Arr<const float, nb::ndim<2>>>(t[1], name, "float32 2-D");
      w = {bitnet::WType::F32, a.data(), a.shape(0), a.shape(1)};
    } else if (kind == "f16") {
      auto a = as_array<Arr<const uint16_t, nb::ndim<2>>>(t[1], name, "uint16 (fp16 bits) 2-D");
      w = {bitnet::WType::F16, a.data(), a.shape(0), a.shape(1)};
    } else if (kind == "i8") {
      auto a = as_array<Arr<const int8_t, nb::ndim<2>>>(t[1], name, "int8 2-D");
      w = {bitnet::WType::I8, a.data(), a.shape(0), a.shape(1)};
    } else if (kind == "i2" || kind == "b3") {
      auto a = as_array<Arr<const uint8_t, nb::ndim<2>>>(t[1], name, "uint8 2-D");
      const bitnet::Layout l = kind == "i2" ? bitnet::Layout::I2 : bitnet::Layout::B3;
      require(a.shape(1) == bitnet::row_bytes(l, w.cols), name + ": packed row length does not match cols");
      w = {bitnet::WType::TERNARY, a.data(), a.shape(0), w.cols, l};
    } else if (kind == "q4") {
      auto a = as_array<Arr<const uint8_t, nb::ndim<2>>>(t[1], name, "uint8 2-D");
      auto d = as_array<Arr<const uint16_t, nb::ndim<2>>>(t[2], name + " scale", "uint16 2-D");
      require(a.shape(1) == bitnet::q4_row_bytes(w.cols), name + ": 4-bit row length does not match cols");
      require(d.shape(0) == a.shape(0) && d.shape(1) == bitnet::q4_cols(w.cols) / bitnet::kQ4Block,
              name + ": 4-bit scales must be (rows, cols / 32)");
      w = {bitnet::WType::Q4, a.data(), a.shape(0), w.cols};
      w.block_scale = d.data();
      w.n_scales = d.size();
      return w;
    } else if (kind == "q1") {
      auto a = as_array<Arr<const uint8_t, nb::ndim<2>>>(t[1], name, "uint8 2-D");
      require(a.shape(1) == bitnet::binary_row_bytes(w.cols), name + ": packed row length does not match cols");
      w = {bitnet::WType::BINARY, a.data(), a.shape(0), w.cols};
    } else {
      throw std::invalid_argument(name + ": unknown weight kind '" + kind + "'");
    }
    if (kind != "f32" && kind != "f16") {
      auto s = as_array<Arr<const float, nb::ndim<1>>>(t[2], name + " scale", "float32 1-D");
      w.scale = s.data();
      w.n_scales = s.shape(0);
    }
    require(kind == "i2" || kind == "b3" || kind == "q1" || w.cols == nb::cast<size_t>(t[3]), name + ": cols mismatch");
    return w;
  }

  nb::dict weights_;  // owns every array the runtime points into
  std::unique_ptr<bitnet::Runtime> rt_;
  bool tied_ = false;
};

}  // namespace

// The head kernels of one path on a (batch, stride) int8 activation block (tests, bench).
void head_rows(const std::string& kind, nb::handle data, nb::handle scale, size_t cols,
               Arr<const int8_t, nb::ndim<2>> xq, Arr<const float, nb::ndim<1>> s_x,
               Arr<float, nb::ndim<2>> y, const std::string& path) {
  const bitnet::OpKernels* ops = bitnet::op_kernels(pick(path));
  const size_t batch = xq.shape(0);
  require(s_x.shape(0) == batch && y.shape(0) == batch, "xq, s_x and y must share the batch");
  if (kind == "i8") {
    auto w = as_array<Arr<const int8_t, nb::ndim<2>>>(data, "w", "int8 2-D");
    auto s = as_array<Arr<const float, nb::ndim<1>>>(scale, "scale", "float32 1-D");
    require(w.shape(1) == cols && s.shape(0) == w.shape(0) && y.shape(1) == w.shape(0) &&
                xq.shape(1) >= cols, "i8: shapes do not agree");
    nb::gil_scoped_release nogil;
    ops->i8_rows(w.data(), cols, xq.data(), xq.shape(1), batch, 0, w.shape(0), y.data(),
                 y.shape(1), s.data(), s_x.data());
  } else if (kind == "q4") {
    auto w = as_array<Arr<const uint8_t, nb::ndim<2>>>(data, "w", "uint8 2-D");
    auto d = as_array<Arr<const uint16_t, nb::ndim<2>>>(scale, "scale", "uint16 2-D");
    require(w.shape(1) == bitnet::q4_row_bytes(cols) && d.shape(0) == w.shape(0) &&
                d.shape(1) == bitnet::q4_cols(cols) / bitnet::kQ4Block &&
                y.shape(1) == w.shape(0) && xq.shape(1) >= bitnet::q4_cols(cols),
            "q4: shapes do not agree");
    nb::gil_scoped_release nogil;
    ops->q4_rows(w.data(), d.data(), cols, xq.data(), xq.shape(1), batch, 0, w.shape(0), y.data(),
                 y.shape(1), s_x.data());
  } else {
    throw std::invalid_argument("unknown head kind '" + kind + "' (expected 'i8' or 'q4')");
  }
}

void bind_runtime(nb::module_& m) {
  m.def("head_rows", &head_rows, "kind"_a, "data"_a, "scale"_a, "cols"_a, "xq"_a.noconvert(),
        "s_x"_a.noconvert(), "y"_a.noconvert(), "path"_a = "",
        "y (batch, rows) = the int8 ('i8') or 4-bit ('q4') head kernel of a path");
  m.def(
      "to_f16",
      [](Arr<const float, nb::ndim<1>> x, Arr<uint16_t, nb::ndim<1>> out, const std::string& path) {
        require(out.shape(0) == x.shape(0), "out must match x");
        const bitnet::OpKernels* ops = bitnet::op_kernels(pick(path));
        ops->to_f16(x.data(), out.data(), x.shape(0));
      },
      "x"_a.noconvert(), "out"_a.noconvert(), "path"_a = "",
      "fp16 bits of x as the fp16 KV cache stores them (round to nearest even)");
  m.def(
      "attn_head",
      [](Arr<const float, nb::ndim<1>> q, nb::ndarray<nb::c_contig, nb::device::cpu> k,
         nb::ndarray<nb::c_contig, nb::device::cpu> v, float scale, Arr<float, nb::ndim<1>> scores,
         Arr<float, nb::ndim<1>> out, const std::string& path) {
        // One KV head's rows (len, hd), float32 or fp16 bits; scores = scale * q . K_j
        // (returns their max), out = sum_j scores[j] * V_j: the two attention kernels.
        const bool f16 = k.dtype() == nb::dtype<uint16_t>();
        require(k.ndim() == 2 && v.ndim() == 2 && k.shape(0) == v.shape(0) && k.shape(1) == v.shape(1) &&
                    k.dtype() == v.dtype() && (f16 || k.dtype() == nb::dtype<float>()),
                "k and v: the same (len, hd) float32 or uint16 arrays");
        const size_t len = k.shape(0), hd = k.shape(1);
        require(q.shape(0) == hd && out.shape(0) == hd && scores.shape(0) >= len, "q, out: (hd,); scores: (len,)");
        const bitnet::OpKernels* ops = bitnet::op_kernels(pick(path));
        const float mx = ops->attn_scores(q.data(), k.data(), f16, len, hd, scale, scores.data());
        ops->attn_wsum(scores.data(), v.data(), f16, len, hd, out.data());
        return mx;
      },
      "q"_a.noconvert(), "k"_a, "v"_a, "scale"_a, "scores"_a.noconvert(), "out"_a.noconvert(), "path"_a = "",
      "the attention kernels of a path on one KV head (tests)");
  m.def(
      "attn_head4",
      [](Arr<const float, nb::ndim<2>> q, nb::ndarray<nb::c_contig, nb::device::cpu> k,
         nb::ndarray<nb::c_contig, nb::device::cpu> v, float scale, Arr<float, nb::ndim<2>> scores,
         Arr<float, nb::ndim<2>> out, const std::string& path) {
        // Four queries (4, hd) over one KV head's rows (len, hd): scores (4, >= len) and
        // out (4, hd) = scores @ V, the prefill kernels (scores are not normalised here).
        const bool f16 = k.dtype() == nb::dtype<uint16_t>();
        require(k.ndim() == 2 && v.ndim() == 2 && k.shape(0) == v.shape(0) && k.shape(1) == v.shape(1) &&
                    k.dtype() == v.dtype() && (f16 || k.dtype() == nb::dtype<float>()),
                "k and v: the same (len, hd) float32 or uint16 arrays");
        const size_t len = k.shape(0), hd = k.shape(1);
        require(q.shape(0) == 4 && q.shape(1) == hd && out.shape(0) == 4 && out.shape(1) == hd &&
                    scores.shape(0) == 4 && scores.shape(1) >= len,
                "q, out: (4, hd); scores: (4, >= len)");
        const bitnet::OpKernels* ops = bitnet::op_kernels(pick(path));
        ops->attn_scores4(q.data(), hd, k.data(), f16, len, hd, scale, scores.data(), scores.shape(1));
        ops->attn_wsum4(scores.data(), scores.shape(1), v.data(), f16, len, hd, out.data(), hd);
      },
      "q"_a.noconvert(), "k"_a, "v"_a, "scale"_a, "scores"_a.noconvert(), "out"_a.noconvert(), "path"_a = "",
      "the four-query attention kernels of a path on one KV head (tests)");
  m.def(
      "row_max", [](Arr<const float, nb::ndim<1>> s) { return bitnet::row_max(s.data(), s.shape(0)); },
      "s"_a.noconvert(), "the largest score, NaNs skipped (softmax's shift; tests)");
  m.def(
      "exp_sum",
      [](Arr<float, nb::ndim<1>> x, float mx, const std::string& path) {
        const bitnet::OpKernels* ops = bitnet::op_kernels(pick(path));
        return ops->exp_sum(x.data(), x.shape(0), mx);
      },
      "x"_a.noconvert(), "mx"_a, "path"_a = "", "x = exp(x - mx) in place, returns the sum (softmax kernel)");
  m.def(
      "silu_mul",
      [](Arr<float, nb::ndim<1>> g, Arr<const float, nb::ndim<1>> u, const std::string& path) {
        require(u.shape(0) == g.shape(0), "g and u must have the same length");
        const bitnet::OpKernels* ops = bitnet::op_kernels(pick(path));
        ops->silu_mul(g.data(), u.data(), g.shape(0));
      },
      "g"_a.noconvert(), "u"_a.noconvert(), "path"_a = "", "g = silu(g) * u in place (MLP kernel)");
  m.def(
      "top_k",
      [](Arr<const float, nb::ndim<1>> x, size_t k, Arr<int64_t, nb::ndim<1>> out) {
        require(out.shape(0) >= std::min<size_t>(k, x.shape(0)), "out is shorter than k");
        const float* src = x.data();
        int64_t* dst = out.data();
        const size_t n = x.shape(0);
        nb::gil_scoped_release nogil;
        return bitnet::top_k(src, n, k, dst);
      },
      "x"_a.noconvert(), "k"_a, "out"_a.noconvert(),
      "Writes the ids of the k largest values (best first, ties by lower id) into out; "
      "returns how many");
  m.def(
      "top_p_keep",
      [](Arr<const float, nb::ndim<1>> z, Arr<const float, nb::ndim<1>> e, double total, double top_p,
         double min_p, Arr<int64_t, nb::ndim<1>> out) {
        const size_t n = z.shape(0);
        require(e.shape(0) == n, "z and e must have the same length");
        require(out.shape(0) >= n, "out is shorter than z");
        require(total > 0.0, "total must be positive");
        const float* zp = z.data();
        const float* ep = e.data();
        int64_t* dst = out.data();
        nb::gil_scoped_release nogil;
        return bitnet::top_p_keep(zp, ep, n, total, top_p, min_p, dst);
      },
      "z"_a.noconvert(), "e"_a.noconvert(), "total"_a, "top_p"_a, "min_p"_a, "out"_a.noconvert(),
      "Writes the ids (ascending) of the top-p nucleus of z cut by min_p into out, given "
      "e = exp(z - max z) and its sum; returns how many");
  m.def(
      "top_p_draw",
      [](Arr<const float, nb::ndim<1>> z, Arr<const float, nb::ndim<1>> e, double total, double top_p,
         double min_p, double u) {
        const size_t n = z.shape(0);
        require(e.shape(0) == n, "z and e must have the same length");
        require(total > 0.0, "total must be positive");
        const float* zp = z.data();
        const float* ep = e.data();
        nb::gil_scoped_release nogil;
        return bitnet::top_p_draw(zp, ep, n, total, top_p, min_p, u);
      },
      "z"_a.noconvert(), "e"_a.noconvert(), "total"_a, "top_p"_a, "min_p"_a, "u"_a,
      "One draw from the top-p nucleus of z cut by min_p (as top_p_keep) with uniform u: "
      "its id, or -1 if the nucleus has no mass");
  nb::exception<bitnet::Aborted>(m, "Aborted", PyExc_RuntimeError);
  nb::class_<NativeModel>(m, "NativeModel",
                          "A whole Llama / BitNet b1.58 model run natively, one call per token")
      .def(nb::init<const nb::dict&, const nb::dict&>(), "config"_a, "weights"_a)
      .def("prefill", &NativeModel::prefill, "tokens"_a.noconvert(), "all_logits"_a = false,
           "out"_a = nb::none(),
           "Appends tokens; returns logits (n, vocab) if all_logits else the last row (vocab,)")
      .def("decode", &NativeModel::decode, "token"_a, "out"_a = nb::none(),
           "Appends one token; returns its logits (vocab,)")
      .def("reset", [](NativeModel& s) { s.rt().reset(); })
      .def("truncate", [](NativeModel& s, size_t n) { s.rt().truncate(n); }, "n"_a)
      .def("abort", [](NativeModel& s) { s.rt().abort(); },
           "Stops the running (or next) call at the next layer boundary")
      .def_prop_ro("n_past", [](NativeModel& s) { return s.rt().n_past(); })
      .def_prop_ro("n_ctx", [](NativeModel& s) { return s.rt().config().n_ctx; })
      .def_prop_ro("tied_head", &NativeModel::tied)
      .def_prop_ro("kv_f16", [](NativeModel& s) { return s.rt().config().kv_f16; })
      .def("memory", &NativeModel::memory, "Bytes by component");
}
