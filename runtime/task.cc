#include "runtime/task.h"

#include <utility>

#include "runtime/blocking.h"
#include "runtime/internal/task_state.h"

namespace umcg_rpc::runtime {

TaskHandle::TaskHandle(std::shared_ptr<internal::TaskState> state)
    : state_(std::move(state)) {}

void TaskHandle::Cancel() const {
  // Not a no-preemption section: the token's mutex is also held briefly
  // by tasks waiting on it, which may be preempted holding it; and no
  // server, nor the monitor, takes it (docs/runtime.md, "Preemption
  // safety").
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
