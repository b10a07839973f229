#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace bitnet {
namespace {

// Workers spin for a while after a job before parking on the condition variable:
// decode issues a few hundred calls per token with a few to a few tens of
// microseconds of serial work (norms, RoPE, attention setup) between them, and a
// parked worker costs ~16 us more per call to wake (measured on a 2-vCPU VM:
// parallel_for of 8 x 1 us tasks, 4-5 us while the worker spins, 21 us once it
// had parked). The old 20,000-iteration spin lasted only ~10 us, so most calls of
// a small model's decode paid the wake; 300 us covers every gap inside a token
// (the Python sampling loop between tokens included) and still parks an idle pool
// within a third of a millisecond.
constexpr auto kSpin = std::chrono::microseconds(300);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop_all(); }

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int n) {
    // Waits for a running job: resizing under a job would join workers mid-task.
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    n = std::max(1, n);
    if (n == threads()) return;
    stop_all();
    stop_ = false;
    // Workers start from the generation current now, not whenever their thread first runs:
    // a job submitted before a new thread is scheduled must still count it in.
    const uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int i = 0; i < n - 1; ++i) workers_.emplace_back([this, gen] { worker_loop(gen); });
  }

  void run(size_t n_tasks, const std::function<void(size_t)>& fn) {
    if (n_tasks == 0) return;
    if (workers_.empty() || n_tasks == 1 || in_job_) {
      for (size_t t = 0; t < n_tasks; ++t) fn(t);
      return;
    }
    std::lock_guard<std::mutex> run_lock(run_mutex_);  // one job at a time
    in_job_ = true;
    auto job = std::make_shared<Job>();
    job->fn = &fn;
    job->n_tasks = n_tasks;
    std::atomic_store_explicit(&job_, job, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    drain(*job);
    // Wait for the tasks, not for the workers: a worker that has not woken up yet (or
    // was descheduled on a busy machine) must not hold up a job the caller already
    // finished alone. A late worker finds every task taken and never touches fn.
    for (int spins = 0; job->done.load(std::memory_order_acquire) != n_tasks; ++spins) {
      if (spins < 4096) cpu_relax();  // the last task usually ends within microseconds
      else std::this_thread::yield();
    }
    in_job_ = false;
  }

 private:
  // One parallel_for call. Shared-owned so that a worker that picks it up late can still
  // look at its counters after the caller has returned.
  struct Job {
    const std::function<void(size_t)>* fn = nullptr;
    size_t n_tasks = 0;
    std::atomic<size_t> next{0}, done{0};
  };

  static void drain(Job& job) {
    for (;;) {
      const size_t t = job.next.fetch_add(1, std::memory_order_relaxed);
      if (t >= job.n_tasks) break;
      (*job.fn)(t);
      job.done.fetch_add(1, std::memory_order_release);
    }
  }

  void worker_loop(uint64_t seen) {
    in_job_ = true;  // work submitted from inside a task runs inline
    for (;;) {
      const auto spin_until = std::chrono::steady_clock::now() + kSpin;
      for (unsigned spins = 1; generation_.load(std::memory_order_acquire) == seen && !stop_.load(); ++spins) {
        cpu_relax();
        if (spins % 64 == 0 && std::chrono::steady_clock::now() > spin_until) {
          std::unique_lock<std::mutex> lock(mutex_);
          cv_.wait(lock, [&] { return generation_.load() != seen || stop_.load(); });
          break;
        }
      }
      if (stop_.load()) return;
      seen = generation_.load(std::memory_order_acquire);
      if (std::shared_ptr<Job> job = std::atomic_load_explicit(&job_, std::memory_order_acquire)) drain(*job);
    }
  }

  void stop_all() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_, run_mutex_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::shared_ptr<Job> job_;  // the latest job; accessed with std::atomic_load/store
  static thread_local bool in_job_;
};

thread_local bool Pool::in_job_ = false;

int default_threads() {
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

std::mutex g_pool_mutex;
std::unique_ptr<Pool> g_pool;

Pool& pool() {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  if (!g_pool) g_pool = std::make_unique<Pool>(default_threads());
  return *g_pool;
}

}  // namespace

void parallel_for(size_t n_tasks, const std::function<void(size_t)>& fn) { pool().run(n_tasks, fn); }
int pool_threads() { return pool().threads(); }
void pool_resize(int n) { pool().resize(n); }

}  // namespace bitnet
