// Tasks submitted to a Scheduler: the callable, its options, its handle.
#ifndef UMCG_RPC_RUNTIME_TASK_H_
#define UMCG_RPC_RUNTIME_TASK_H_

#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "runtime/cancellation.h"

namespace umcg_rpc::runtime {

// The unit of work: runs once on a worker. Exceptions it throws are caught
// and reported as INTERNAL through its TaskHandle.
using Task = absl::AnyInvocable<void()>;

// Per-task scheduling options.
struct TaskOptions {
  // A task still queued at its deadline is failed with DEADLINE_EXCEEDED;
  // a running task sees it through CurrentDeadline() and the wrappers.
  absl::Time deadline = absl::InfiniteFuture();
  // Cancelling this token fails the task with CANCELLED if still queued and
  // makes the blocking wrappers return CANCELLED if it is running.
  CancellationToken cancellation;
};

namespace internal {
struct TaskState;
}  // namespace internal

// Handle to a submitted task: wait for it, cancel it, read its outcome.
class TaskHandle {
 public:
  // Wraps shared task state (created by Scheduler::Submit).
  explicit TaskHandle(std::shared_ptr<internal::TaskState> state);

  // Cancels the task's token (and so every task sharing that token).
  void Cancel() const;

  // Returns true once the task has finished, failed or been cancelled.
  bool done() const;

  // Blocks until done and returns the outcome: OK if it ran to completion,
  // CANCELLED or DEADLINE_EXCEEDED if it never ran, INTERNAL if it threw.
  // On a worker, the wait releases the CPU.
  absl::Status Wait() const;

  // Like Wait() but gives up at `deadline` with DEADLINE_EXCEEDED.
  absl::Status WaitUntil(absl::Time deadline) const;

 private:
  std::shared_ptr<internal::TaskState> state_;
};

}  // namespace umcg_rpc::runtime

#endif  // UMCG_RPC_RUNTIME_TASK_H_
