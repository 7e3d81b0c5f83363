#include "runtime/task.h"

#include <utility>

#include "runtime/blocking.h"
#include "runtime/internal/core.h"
#include "runtime/internal/current.h"
#include "runtime/internal/task_state.h"

namespace umcg_rpc::runtime {

TaskHandle::TaskHandle(std::shared_ptr<internal::TaskState> state)
    : state_(std::move(state)) {}

void TaskHandle::Cancel() const {
  // Notify takes the token's mutex: do not get preempted holding it.
  internal::NoPreemptScope no_preempt(internal::CurrentWorker());
  state_->options.cancellation.Cancel();
}

bool TaskHandle::done() const { return state_->done.HasBeenNotified(); }

absl::Status TaskHandle::Wait() const {
  if (!done()) {
    BlockingScope scope;
    state_->done.Wait();
  }
  return state_->status;
}

absl::Status TaskHandle::WaitUntil(absl::Time deadline) const {
  if (!done()) {
    BlockingScope scope;
    if (!state_->done.WaitUntil(deadline)) {
      return absl::DeadlineExceededError("task not finished by deadline");
    }
  }
  return state_->status;
}

}  // namespace umcg_rpc::runtime
