// nanobind surface of the kernels: small and flat. Every function writes into an
// output array that the Python wrapper (bitnet_studio/kernels.py) allocated and
// validated; arrays are never converted or copied here (noconvert), and the GIL is
// released while a kernel runs so two models can generate at once.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <stdexcept>

#include "bindings.h"
#include "kernels.h"

namespace nb = nanobind;
using namespace nb::literals;
using bitnet::Layout;

template <typename T, typename... Extra>
using Arr = nb::ndarray<T, nb::c_contig, nb::device::cpu, Extra...>;

namespace {

Layout parse_layout(const std::string& name) {
  if (name == "i2") return Layout::I2;
  if (name == "b3") return Layout::B3;
  throw std::invalid_argument("unknown ternary layout '" + name + "' (expected 'i2' or 'b3')");
}



bitnet::TernaryMatrix matrix(const std::string& layout, const Arr<const uint8_t, nb::ndim<2>>& packed,
                             size_t cols) {
  const Layout l = parse_layout(layout);
  require(packed.shape(1) == bitnet::row_bytes(l, cols), "packed row length does not match cols");
  return {l, packed.data(), packed.shape(0), cols};
}

}  // namespace

NB_MODULE(_kernels, m) {
  m.doc() = "BitNet Studio compiled ternary / fp16 kernels";
  bind_bandwidth(m);
  bind_runtime(m);
  bind_binary(m);

  m.def("cpu_features", [] {
    const auto& f = bitnet::cpu_features();
    nb::dict d;
    d["avx2"] = f.avx2; d["fma"] = f.fma; d["f16c"] = f.f16c; d["avx512f"] = f.avx512f;
    d["avx512bw"] = f.avx512bw; d["avx512vl"] = f.avx512vl; d["avx512vnni"] = f.avx512vnni;
    d["avx512bf16"] = f.avx512bf16; d["amx_int8"] = f.amx_int8; d["avxvnni"] = f.avxvnni; d["neon"] = f.neon;
    return d;
  });
  m.def("compiled_paths", &bitnet::compiled_paths);
  m.def("available_paths", &bitnet::available_paths);
  m.def("active_path", [] { return std::string(bitnet::active_path()->name); });
  m.def("set_path", &bitnet::set_path, "name"_a);
  m.def("set_threads", &bitnet::set_threads, "n"_a);
  m.def("get_threads", &bitnet::get_threads);
  m.def("padded_cols", [](const std::string& l, size_t c) { return bitnet::padded_cols(parse_layout(l), c); });
  m.def("row_bytes", [](const std::string& l, size_t c) { return bitnet::row_bytes(parse_layout(l), c); });

  m.def("pack_ternary",
        [](const std::string& layout, Arr<const int8_t, nb::ndim<2>> w, Arr<uint8_t, nb::ndim<2>> out) {
          const Layout l = parse_layout(layout);
          require(out.shape(0) == w.shape(0) && out.shape(1) == bitnet::row_bytes(l, w.shape(1)),
                  "output shape does not match the packed size");
          bitnet::pack_ternary(l, w.data(), w.shape(0), w.shape(1), out.data());
        },
        "layout"_a, "w"_a.noconvert(), "out"_a.noconvert());

  m.def("unpack_ternary",
        [](const std::string& layout, Arr<const uint8_t, nb::ndim<2>> packed, Arr<int8_t, nb::ndim<2>> out) {
          auto mat = matrix(layout, packed, out.shape(1));
          require(out.shape(0) == mat.rows, "output rows do not match");
          bitnet::unpack_ternary(mat.layout, mat.data, mat.rows, mat.cols, out.data());
        },
        "layout"_a, "packed"_a.noconvert(), "out"_a.noconvert());

  m.def("quantize_rows",
        [](Arr<const float, nb::ndim<2>> x, Arr<int8_t, nb::ndim<2>> xq, Arr<float, nb::ndim<1>> s_x,
           const std::string& path) {
          require(xq.shape(0) == x.shape(0) && s_x.shape(0) == x.shape(0), "batch sizes differ");
          require(xq.shape(1) >= x.shape(1), "quantized rows are shorter than the input");
          const auto* k = pick(path);
          nb::gil_scoped_release nogil;
          bitnet::quantize_rows(k, x.data(), x.shape(1), x.shape(0), x.shape(1), xq.shape(1), xq.data(), s_x.data());
        },
        "x"_a.noconvert(), "xq"_a.noconvert(), "s_x"_a.noconvert(), "path"_a = "");

  m.def("ternary_matmul_i32",
        [](const std::string& layout, Arr<const uint8_t, nb::ndim<2>> packed, size_t cols,
           Arr<const int8_t, nb::ndim<2>> xq, Arr<int32_t, nb::ndim<2>> out, const std::string& path) {
          auto mat = matrix(layout, packed, cols);
          require(xq.shape(1) == bitnet::padded_cols(mat.layout, cols), "activations must be padded to padded_cols");
          require(out.shape(0) == xq.shape(0) && out.shape(1) == mat.rows, "output shape must be (batch, rows)");
          const auto* k = pick(path);
          nb::gil_scoped_release nogil;
          bitnet::ternary_matmul_i32(k, mat, xq.data(), xq.shape(1), xq.shape(0), out.data(), mat.rows);
        },
        "layout"_a, "packed"_a.noconvert(), "cols"_a, "xq"_a.noconvert(), "out"_a.noconvert(), "path"_a = "");

  m.def("ternary_matmul_f32",
        [](const std::string& layout, Arr<const uint8_t, nb::ndim<2>> packed, size_t cols,
           Arr<const float, nb::ndim<2>> x, Arr<const float, nb::ndim<1>> w_scale,
           Arr<float, nb::ndim<2>> out, const std::string& path) {
          auto mat = matrix(layout, packed, cols);
          require(x.shape(1) == cols, "input width does not match cols");
          require(w_scale.shape(0) == 1 || w_scale.shape(0) == mat.rows, "w_scale must have 1 or rows entries");
          require(out.shape(0) == x.shape(0) && out.shape(1) == mat.rows, "output shape must be (batch, rows)");
          const auto* k = pick(path);
          nb::gil_scoped_release nogil;
          bitnet::ternary_matmul_f32(k, mat, x.data(), cols, x.shape(0), w_scale.data(), w_scale.shape(0),
                                     out.data(), mat.rows);
        },
        "layout"_a, "packed"_a.noconvert(), "cols"_a, "x"_a.noconvert(), "w_scale"_a.noconvert(),
        "out"_a.noconvert(), "path"_a = "");

  m.def("f16_matmul",
        [](Arr<const uint16_t, nb::ndim<2>> w, Arr<const float, nb::ndim<2>> x, Arr<float, nb::ndim<2>> out,
           const std::string& path) {
          require(x.shape(1) == w.shape(1), "input width does not match the weight columns");
          require(out.shape(0) == x.shape(0) && out.shape(1) == w.shape(0), "output shape must be (batch, rows)");
          const auto* k = pick(path);
          nb::gil_scoped_release nogil;
          bitnet::f16_matmul(k, w.data(), w.shape(0), w.shape(1), x.data(), x.shape(1), x.shape(0), out.data(), w.shape(0));
        },
        "w"_a.noconvert(), "x"_a.noconvert(), "out"_a.noconvert(), "path"_a = "");

  m.def("f32_matmul",
        [](Arr<const float, nb::ndim<2>> w, Arr<const float, nb::ndim<2>> x, Arr<float, nb::ndim<2>> out,
           const std::string& path) {
          require(x.shape(1) == w.shape(1), "input width does not match the weight columns");
          require(out.shape(0) == x.shape(0) && out.shape(1) == w.shape(0), "output shape must be (batch, rows)");
          const auto* k = pick(path);
          nb::gil_scoped_release nogil;
          bitnet::f32_matmul(k, w.data(), w.shape(0), w.shape(1), x.data(), x.shape(1), x.shape(0), out.data(), w.shape(0));
        },
        "w"_a.noconvert(), "x"_a.noconvert(), "out"_a.noconvert(), "path"_a = "");
}
