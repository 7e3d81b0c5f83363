// Runs RPC handlers as tasks on UMCG workers: the `umcg` mode.
#ifndef UMCG_RPC_SERVER_RPC_RUNTIME_EXECUTOR_H_
#define UMCG_RPC_SERVER_RPC_RUNTIME_EXECUTOR_H_

#include "runtime/scheduler.h"
#include "server/rpc/executor.h"

namespace umcg_rpc {

// Submits each handler to a runtime::Scheduler, which must outlive it.
class RuntimeExecutor final : public Executor {
 public:
  explicit RuntimeExecutor(runtime::Scheduler& scheduler)
      : scheduler_(scheduler) {}

  // Refused with the scheduler's status when it will not take the task
  // (shutting down, or its queue is full).
  absl::Status Execute(absl::AnyInvocable<void() &&> handler) override;

 private:
  runtime::Scheduler& scheduler_;
};

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_RPC_RUNTIME_EXECUTOR_H_
