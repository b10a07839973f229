// nanobind surface of the binary (1-bit) kernels; arrays are allocated and validated by
// bitnet_studio/kernels.py and never copied here.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <stdexcept>
#include <string>

#include "binary.h"
#include "bindings.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

template <typename T, typename... Extra>
using Arr = nb::ndarray<T, nb::c_contig, nb::device::cpu, Extra...>;



bitnet::BinaryMatrix matrix(const Arr<const uint8_t, nb::ndim<2>>& packed, size_t cols) {
  require(packed.shape(1) == bitnet::binary_row_bytes(cols), "packed row length does not match cols");
  return {packed.data(), packed.shape(0), cols};
}

}  // namespace

void bind_binary(nb::module_& m) {
  m.def("binary_padded_cols", &bitnet::binary_padded_cols, "cols"_a);
  m.def("binary_row_bytes", &bitnet::binary_row_bytes, "cols"_a);
  m.def("binary_amx_available", &bitnet::binary_amx_available,
        "Whether batched per-tensor binary products run on AMX-INT8 here");
  m.def("binary_path", [](const std::string& path) { return std::string(bitnet::binary_kernels_for(pick(path))->name); },
        "path"_a = "");

  m.def("pack_binary",
        [](Arr<const int8_t, nb::ndim<2>> signs, Arr<uint8_t, nb::ndim<2>> out) {
          require(out.shape(0) == signs.shape(0) && out.shape(1) == bitnet::binary_row_bytes(signs.shape(1)),
                  "output shape does not match the packed size");
          bitnet::pack_binary(signs.data(), signs.shape(0), signs.shape(1), out.data());
        },
        "signs"_a.noconvert(), "out"_a.noconvert());

  m.def("unpack_binary",
        [](Arr<const uint8_t, nb::ndim<2>> packed, Arr<int8_t, nb::ndim<2>> out) {
          const auto mat = matrix(packed, out.shape(1));
          require(out.shape(0) == mat.rows, "output rows do not match");
          bitnet::unpack_binary(mat.data, mat.rows, mat.cols, out.data());
        },
        "packed"_a.noconvert(), "out"_a.noconvert());

  m.def("binary_matmul_i32",
        [](Arr<const uint8_t, nb::ndim<2>> packed, size_t cols, Arr<const int8_t, nb::ndim<2>> xq,
           Arr<int32_t, nb::ndim<2>> out, const std::string& path) {
          const auto mat = matrix(packed, cols);
          require(xq.shape(1) == bitnet::binary_padded_cols(cols), "activations must be padded to binary_padded_cols");
          require(out.shape(0) == xq.shape(0) && out.shape(1) == mat.rows, "output shape must be (batch, rows)");
          const auto* k = bitnet::binary_kernels_for(pick(path));
          nb::gil_scoped_release nogil;
          bitnet::binary_matmul_i32(k, mat, xq.data(), xq.shape(1), xq.shape(0), out.data(), mat.rows);
        },
        "packed"_a.noconvert(), "cols"_a, "xq"_a.noconvert(), "out"_a.noconvert(), "path"_a = "");

  m.def("binary_matmul_f32",
        [](Arr<const uint8_t, nb::ndim<2>> packed, size_t cols, Arr<const float, nb::ndim<2>> x,
           Arr<const float, nb::ndim<1>> scale, Arr<float, nb::ndim<2>> out, const std::string& path) {
          const auto mat = matrix(packed, cols);
          require(x.shape(1) == cols, "input width does not match cols");
          require(scale.shape(0) == 1 || scale.shape(0) == mat.rows * bitnet::binary_blocks(cols),
                  "scale must have 1 or rows * ceil(cols / 128) entries");
          require(out.shape(0) == x.shape(0) && out.shape(1) == mat.rows, "output shape must be (batch, rows)");
          const auto* k = pick(path);
          nb::gil_scoped_release nogil;
          bitnet::binary_matmul_f32(k, mat, x.data(), cols, x.shape(0), scale.data(), scale.shape(0), out.data(),
                                    mat.rows);
        },
        "packed"_a.noconvert(), "cols"_a, "x"_a.noconvert(), "scale"_a.noconvert(), "out"_a.noconvert(),
        "path"_a = "");
}
