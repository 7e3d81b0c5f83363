// The baseline: a plain fixed-size thread pool (one mutex, one condvar,
// one FIFO), what a server without the runtime would use.
#ifndef UMCG_RPC_BENCH_RUNTIME_THREAD_POOL_H_
#define UMCG_RPC_BENCH_RUNTIME_THREAD_POOL_H_

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace umcg_rpc::bench {

// Fixed pool of `threads` threads draining one shared FIFO.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  // Drains the queue and joins the threads.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task`.
  void Submit(absl::AnyInvocable<void()> task);

 private:
  void Loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<absl::AnyInvocable<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace umcg_rpc::bench

#endif  // UMCG_RPC_BENCH_RUNTIME_THREAD_POOL_H_
