// Partial selection for sampling: the k largest logits of a 128k vocabulary in one pass.
//
// A min-heap of the k best seen so far; an element enters only when it beats the
// heap's smallest, which after the first few thousand elements is almost never, so
// the pass costs about one compare per logit. Ties go to the lower id (the order a
// stable sort of the whole array would give): ids are visited in increasing order and
// an equal value never displaces an earlier one.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime.h"

namespace bitnet {

namespace {
struct Entry {
  float v;
  int64_t id;
};
// "a ranks below b": smaller value, or the same value and a higher id.
inline bool below(const Entry& a, const Entry& b) { return a.v < b.v || (a.v == b.v && a.id > b.id); }
// std heap functions keep the "largest" on top; with `above` the worst entry is on top.
inline bool above(const Entry& a, const Entry& b) { return below(b, a); }
}  // namespace

size_t top_k(const float* x, size_t n, size_t k, int64_t* out) {
  k = std::min(k, n);
  if (k == 0) return 0;
  std::vector<Entry> heap;
  heap.reserve(k);
  size_t i = 0;
  for (; i < n && heap.size() < k; ++i) {
    if (x[i] != x[i]) continue;  // NaN never ranks
    heap.push_back({x[i], static_cast<int64_t>(i)});
    std::push_heap(heap.begin(), heap.end(), above);
  }
  float worst = heap.empty() ? 0.0f : heap.front().v;
  for (; i < n; ++i) {
    if (!(x[i] > worst)) continue;  // ties keep the earlier (lower) id; NaN fails too
    std::pop_heap(heap.begin(), heap.end(), above);
    heap.back() = {x[i], static_cast<int64_t>(i)};
    std::push_heap(heap.begin(), heap.end(), above);
    worst = heap.front().v;
  }
  std::sort(heap.begin(), heap.end(), above);  // best first, ties by lower id
  for (size_t j = 0; j < heap.size(); ++j) out[j] = heap[j].id;
  return heap.size();
}

}  // namespace bitnet
