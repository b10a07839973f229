// A persistent thread pool: workers are started once and park between calls, so a
// small matrix pays a wake-up, not a thread start. The calling thread takes part.
#pragma once
#include <cstddef>
#include <functional>

namespace bitnet {

// Runs fn(task) for task in [0, n_tasks) on up to get_threads() threads and waits.
// Tasks are handed out dynamically (atomic counter). Nested calls run inline.
void parallel_for(size_t n_tasks, const std::function<void(size_t)>& fn);
int pool_threads();
void pool_resize(int n);

}  // namespace bitnet
