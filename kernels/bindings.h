// Extra nanobind bindings, one file per concern, all registered by module.cpp.
#pragma once
#include <nanobind/nanobind.h>

#include <stdexcept>
#include <string>

#include "kernels.h"

void bind_bandwidth(nanobind::module_& m);  // bind_bandwidth.cpp: memory read bandwidth probe
void bind_runtime(nanobind::module_& m);    // bind_runtime.cpp: the native decode runtime
void bind_binary(nanobind::module_& m);     // bind_binary.cpp: the 1-bit (binary) kernels

// Shared by the binding files: argument checks raise ValueError, and a "path" argument
// names a SIMD path ("" = the active one).
inline void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}
inline const bitnet::PathKernels* pick(const std::string& path) {
  return path.empty() ? bitnet::active_path() : bitnet::path_by_name(path);
}
