// Partial selection for sampling: the k largest logits of a 128k vocabulary in one pass
// (top_k), and the nucleus of top-p without sorting the vocabulary (top_p_keep).
//
// top_k: a min-heap of the k best seen so far; an element enters only when it beats the
// heap's smallest, which after the first few thousand elements is almost never, so
// the pass costs about one compare per logit. Ties go to the lower id (the order a
// stable sort of the whole array would give): ids are visited in increasing order and
// an equal value never displaces an earlier one.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
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

namespace {
// An unsigned key in the order of the float values (-0 just below +0; callers pass no NaN).
inline uint32_t order_key(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
}  // namespace

// The top-p nucleus: rank the vocabulary by value (ties by lower id), keep the shortest prefix
// whose mass reaches top_p of the total -- token j stays while the mass ranked before it is
// below top_p -- then drop tokens with e < min_p. A radix selection on the values' order keys
// finds where the prefix ends: a mass histogram over the top 11 key bits picks the bucket the
// cumulative mass crosses top_p in, the next 11 and then the last 10 bits narrow it down to
// one value, and among equal values the ids are walked in order. Three small passes instead
// of a sort of the whole vocabulary (the widening top-k loop this replaced sorted all 128k
// ids of a flat distribution: 42 ms a token).
namespace {

struct Nucleus {
  const uint32_t* keys;
  uint32_t cut_key = 0;  // a token stays if its key is above cut_key, or equal with id <= cut_id
  size_t cut_id = 0;
  double min_p = 0.0;
  double mass = 0.0;  // of the tokens that stay
  bool keeps(const float* e, size_t i) const {
    const uint32_t k = keys[i];
    return (k > cut_key || (k == cut_key && i <= cut_id)) && e[i] >= min_p;
  }
};

Nucleus find_nucleus(const float* z, const float* e, size_t n, double total, double top_p, double min_p) {
  // Scratch reused across calls; the loops use plain pointers (a thread_local indexed in a
  // loop costs a __tls_get_addr call per access in a shared library).
  thread_local std::vector<uint32_t> keys_tls, cand_tls;
  std::vector<uint32_t>& keys_v = keys_tls;
  std::vector<uint32_t>& cand_v = cand_tls;
  keys_v.resize(n);
  cand_v.resize(n);
  uint32_t* keys = keys_v.data();
  uint32_t* cand = cand_v.data();
  size_t ncand = 0;
  Nucleus nu;
  nu.keys = keys;
  nu.cut_id = n;
  nu.min_p = min_p;
  // Keys, the level-0 mass histogram (two interleaved copies: a flat distribution sends
  // almost every token to one bucket, and one chain of dependent adds would set the pace)
  // and the mass min_p keeps, in one pass.
  static constexpr int kShift[3] = {21, 10, 0};
  static constexpr int kWidth[3] = {11, 11, 10};
  double hist2[2][2048] = {};
  double minp_mass[2] = {0.0, 0.0};
  for (size_t i = 0; i < n; ++i) {
    const uint32_t k = order_key(z[i]);
    keys[i] = k;
    hist2[i & 1][k >> 21] += e[i];
    minp_mass[i & 1] += e[i] >= min_p ? e[i] : 0.0f;
  }
  const double kept_by_min_p = minp_mass[0] + minp_mass[1];
  nu.mass = kept_by_min_p;
  if (top_p >= 1.0 || n == 0) return nu;
  if (top_p <= 0.0) {  // nothing may precede: the best token alone
    size_t best = 0;
    for (size_t i = 1; i < n; ++i)
      if (keys[i] > keys[best]) best = i;
    nu.cut_key = keys[best];
    nu.cut_id = best;
    nu.mass = std::min(static_cast<double>(e[best]), kept_by_min_p);
    return nu;
  }
  double before = 0.0;  // mass ranked above the current candidates
  uint32_t prefix = 0;  // the key bits fixed so far
  for (int level = 0; level < 3; ++level) {
    const int sh = kShift[level];
    const uint32_t mask = (1u << kWidth[level]) - 1;
    if (level == 0) {
      for (int b = 0; b < 2048; ++b) hist2[0][b] += hist2[1][b];
    } else {
      std::fill(&hist2[0][0], &hist2[0][0] + 2 * 2048, 0.0);
      if (level == 1) {
        for (size_t i = 0; i < n; ++i) {
          cand[ncand] = static_cast<uint32_t>(i);
          ncand += (keys[i] >> 21) == prefix;
        }
      } else {
        size_t k = 0;
        for (size_t j = 0; j < ncand; ++j) {
          cand[k] = cand[j];
          k += (keys[cand[j]] >> 10) == prefix;
        }
        ncand = k;
      }
      for (size_t j = 0; j < ncand; ++j) hist2[j & 1][(keys[cand[j]] >> sh) & mask] += e[cand[j]];
      for (uint32_t b = 0; b <= mask; ++b) hist2[0][b] += hist2[1][b];
    }
    const double* hist = hist2[0];
    int b = static_cast<int>(mask);
    for (; b >= 0; --b) {
      if ((before + hist[b]) / total >= top_p) break;
      before += hist[b];
    }
    if (b < 0) {  // rounding left the crossing short: every candidate stays
      nu.cut_key = level == 0 ? 0 : prefix << (sh + kWidth[level]);
      nu.mass = std::min(before, kept_by_min_p);
      return nu;
    }
    prefix = (prefix << kWidth[level]) | static_cast<uint32_t>(b);
  }
  // One value is left (equal logits, so equal e): the first c of its ids in id order, c the
  // fewest that bring the mass to top_p -- counted, not added up one by one (a uniform
  // distribution has the whole vocabulary here).
  nu.cut_key = prefix;
  size_t members = 0, first = n;
  for (size_t j = 0; j < ncand; ++j)
    if (keys[cand[j]] == prefix) {
      first = std::min<size_t>(first, cand[j]);
      ++members;
    }
  const double ev = e[first];
  size_t c = members;
  if (ev > 0.0) {
    const double need = std::ceil((top_p * total - before) / ev);
    c = std::min(members, static_cast<size_t>(std::max(1.0, need)));
    while (c > 1 && (before + (c - 1) * ev) / total >= top_p) --c;  // rounding of the estimate
    while (c < members && (before + c * ev) / total < top_p) ++c;
  }
  before += c * ev;
  for (size_t j = 0, seen = 0; j < ncand; ++j)
    if (keys[cand[j]] == prefix && ++seen == c) {
      nu.cut_id = cand[j];
      break;
    }
  // Both cuts keep a prefix of the ranking, so together they keep the shorter one.
  nu.mass = std::min(before, kept_by_min_p);
  return nu;
}

}  // namespace

size_t top_p_keep(const float* z, const float* e, size_t n, double total, double top_p, double min_p,
                  int64_t* out) {
  const Nucleus nu = find_nucleus(z, e, n, total, top_p, min_p);
  size_t m = 0;
  for (size_t i = 0; i < n; ++i)
    if (nu.keeps(e, i)) out[m++] = static_cast<int64_t>(i);
  return m;
}

int64_t top_p_draw(const float* z, const float* e, size_t n, double total, double top_p, double min_p,
                   double u) {
  const Nucleus nu = find_nucleus(z, e, n, total, top_p, min_p);
  if (!(nu.mass > 0.0)) return -1;
  // Inverse CDF in id order: the first token whose cumulative mass exceeds u * mass, or the
  // last one with mass when rounding leaves the target beyond the end.
  const double target = u * nu.mass;
  double acc = 0.0;
  int64_t last = -1;
  for (size_t i = 0; i < n; ++i) {
    if (!nu.keeps(e, i) || e[i] <= 0.0f) continue;
    acc += e[i];
    last = static_cast<int64_t>(i);
    if (acc > target) break;
  }
  return last;
}

}  // namespace bitnet
