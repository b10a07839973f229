// Extra nanobind bindings, one file per concern, all registered by module.cpp.
#pragma once
#include <nanobind/nanobind.h>

void bind_bandwidth(nanobind::module_& m);  // bind_bandwidth.cpp: memory read bandwidth probe
void bind_runtime(nanobind::module_& m);    // bind_runtime.cpp: the native decode runtime
void bind_binary(nanobind::module_& m);     // bind_binary.cpp: the 1-bit (binary) kernels
