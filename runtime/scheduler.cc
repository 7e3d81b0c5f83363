#include "runtime/scheduler.h"

#include <utility>

#include "runtime/internal/core.h"

namespace umcg_rpc::runtime {

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(Options options) {
  absl::StatusOr<std::unique_ptr<internal::Core>> core =
      internal::Core::Create(std::move(options));
  if (!core.ok()) return core.status();
  return std::unique_ptr<Scheduler>(new Scheduler(*std::move(core)));
}

Scheduler::Scheduler(std::unique_ptr<internal::Core> core)
    : core_(std::move(core)) {}

Scheduler::~Scheduler() = default;

absl::StatusOr<TaskHandle> Scheduler::Submit(Task task, TaskOptions options) {
  return core_->Submit(std::move(task), std::move(options));
}

absl::Status Scheduler::Shutdown(ShutdownMode mode) {
  return core_->Shutdown(mode);
}

MetricsSnapshot Scheduler::metrics() const { return core_->metrics(); }

std::string Scheduler::DebugState() const { return core_->DebugState(); }

BackendKind Scheduler::backend() const { return core_->backend_kind(); }

const std::string& Scheduler::backend_reason() const {
  return core_->backend_reason();
}

int Scheduler::servers() const { return core_->server_count(); }

}  // namespace umcg_rpc::runtime
