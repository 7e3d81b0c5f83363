// A fixed pool of threads draining one FIFO queue: the `threadpool` mode.
#ifndef UMCG_RPC_SERVER_RPC_THREAD_POOL_H_
#define UMCG_RPC_SERVER_RPC_THREAD_POOL_H_

#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/rpc/executor.h"

namespace umcg_rpc {

// Starts `threads` threads at construction; the destructor runs every
// queued handler, then joins them. The queue itself is unbounded: callers
// bound it by admitting work first (see InflightLimiter).
class ThreadPool final : public Executor {
 public:
  explicit ThreadPool(int threads);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool() override;

  absl::Status Execute(absl::AnyInvocable<void() &&> handler) override;

  // Number of threads.
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_RPC_THREAD_POOL_H_
