#include "bindings.h"

void bind_runtime(nanobind::module_& m) { (void)m; }
