#include "server/rpc/runtime_executor.h"

#include <utility>

namespace umcg_rpc {

absl::Status RuntimeExecutor::Execute(absl::AnyInvocable<void() &&> handler) {
  // No task deadline or cancellation: a task the scheduler dropped unrun
  // would leave its call unanswered. The handler itself watches the call's
  // deadline and cancellation, and answers either way.
  return scheduler_
      .Submit(
          [handler = std::move(handler)]() mutable { std::move(handler)(); })
      .status();
}

}  // namespace umcg_rpc
