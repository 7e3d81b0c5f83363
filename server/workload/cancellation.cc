#include "server/workload/cancellation.h"

#include <utility>

#include "runtime/blocking.h"

namespace umcg_rpc::workload {

void Cancellation::Cancel(absl::Status reason) {
  absl::MutexLock lock(&mu_);
  if (cancelled_.load(std::memory_order_relaxed)) return;
  reason_ = reason.ok() ? absl::CancelledError("cancelled") : std::move(reason);
  cancelled_.store(true, std::memory_order_release);
  // Run under mu_ so that ~ScopedCallback() cannot return while the
  // callback still runs: the callback may touch the step's locals.
  if (callback_) callback_();
}

absl::Status Cancellation::reason() const {
  absl::MutexLock lock(&mu_);
  return reason_;
}

bool Cancellation::SleepUntil(absl::Time deadline) {
  // On a runtime worker, give up the CPU while asleep (a no-op elsewhere and
  // on the kernel backend, which notices the futex wait by itself). The
  // scope outlives the lock, so the CPU is queued for after mu_ is released.
  runtime::BlockingScope blocking;
  absl::MutexLock lock(&mu_);
  auto cancelled = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return cancelled_.load(std::memory_order_relaxed);
  };
  mu_.AwaitWithDeadline(absl::Condition(&cancelled), deadline);
  return !cancelled();
}

Cancellation::ScopedCallback::ScopedCallback(
    Cancellation& cancellation, absl::AnyInvocable<void()> on_cancel)
    : cancellation_(cancellation) {
  absl::MutexLock lock(&cancellation_.mu_);
  if (cancellation_.cancelled_.load(std::memory_order_relaxed)) {
    on_cancel();
    return;
  }
  cancellation_.callback_ = std::move(on_cancel);
}

Cancellation::ScopedCallback::~ScopedCallback() {
  absl::MutexLock lock(&cancellation_.mu_);
  cancellation_.callback_ = nullptr;
}

}  // namespace umcg_rpc::workload
