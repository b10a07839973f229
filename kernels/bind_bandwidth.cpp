#include "bindings.h"

void bind_bandwidth(nanobind::module_& m) { (void)m; }
