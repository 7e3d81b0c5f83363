#include "server/workload/cancellation.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "runtime/blocking.h"

namespace umcg_rpc::workload {

void Cancellation::Cancel(absl::Status reason) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_.load(std::memory_order_relaxed)) return;
  reason_ = reason.ok() ? absl::CancelledError("cancelled") : std::move(reason);
  cancelled_.store(true, std::memory_order_release);
  // Under mu_: the sleeper, woken, takes mu_ before it returns and its
  // call can be freed.
  woken_.Notify();
  // Run under mu_ so that ~ScopedCallback() cannot return while the
  // callback still runs: the callback may touch the step's locals.
  if (callback_) callback_();
}

absl::Status Cancellation::reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reason_;
}

bool Cancellation::SleepUntil(absl::Time deadline) {
  // Without holding a CPU on a runtime worker; on the fallback backend the
  // runtime ends the wait, so the thread wakes only once it has a CPU.
  const bool cancelled = runtime::WaitForEvent(woken_, deadline);
  // Cancel() may still hold mu_, running the callback after the
  // notification: our caller may free us once we return.
  std::lock_guard<std::mutex> lock(mu_);
  return !cancelled;
}

Cancellation::ScopedCallback::ScopedCallback(
    Cancellation& cancellation, absl::AnyInvocable<void()> on_cancel)
    : cancellation_(cancellation) {
  std::lock_guard<std::mutex> lock(cancellation_.mu_);
  if (cancellation_.cancelled_.load(std::memory_order_relaxed)) {
    on_cancel();
    return;
  }
  cancellation_.callback_ = std::move(on_cancel);
}

Cancellation::ScopedCallback::~ScopedCallback() {
  std::lock_guard<std::mutex> lock(cancellation_.mu_);
  cancellation_.callback_ = nullptr;
}

}  // namespace umcg_rpc::workload
