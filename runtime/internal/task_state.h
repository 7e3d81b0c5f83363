// Shared state of one submitted task (scheduler side and TaskHandle side).
#ifndef UMCG_RPC_RUNTIME_INTERNAL_TASK_STATE_H_
#define UMCG_RPC_RUNTIME_INTERNAL_TASK_STATE_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "runtime/event.h"
#include "runtime/task.h"

namespace umcg_rpc::runtime::internal {

// One task from Submit() to completion.
struct TaskState {
  Task fn;
  // Set by Submit(), then read-only: the queue counts the queued tasks that
  // have a deadline (Core::deadlined_tasks_).
  TaskOptions options;
  int64_t enqueue_ns = 0;

  // While queued: the queue's owning reference and its link (core mutex).
  // Moving `self` out hands ownership on without allocating or freeing,
  // which keeps the server path free of allocator locks.
  std::shared_ptr<TaskState> self;
  TaskState* next = nullptr;
  absl::Status status;  // Written once, before `done` is notified.
  Event done;

  // True if the task can expire while queued (a finite deadline).
  bool has_deadline() const {
    return options.deadline != absl::InfiniteFuture();
  }

  // Records the outcome and wakes waiters; call exactly once.
  void Complete(absl::Status s) {
    status = std::move(s);
    done.Notify();
  }
};

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_TASK_STATE_H_
