#include "server/rpc/thread_pool.h"

#include <pthread.h>

#include <utility>

namespace umcg_rpc {

ThreadPool::ThreadPool(int threads) {
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "handler-pool");
      Loop();
    });
  }
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

absl::Status ThreadPool::Execute(absl::AnyInvocable<void() &&> handler) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    return absl::FailedPreconditionError("the thread pool is stopping");
  }
  queue_.push_back(std::move(handler));
  return absl::OkStatus();
}

void ThreadPool::Loop() {
  for (;;) {
    absl::AnyInvocable<void() &&> handler;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // Stopping, and nothing left to run.
      handler = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(handler)();
  }
}

}  // namespace umcg_rpc
