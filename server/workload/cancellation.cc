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
  // Run under mu_ so that ~ScopedCallback() cannot return while the
  // callback still runs: the callback may touch the step's locals.
  if (callback_) callback_();
  // Last, and under mu_: the sleeper, woken, takes mu_ before it returns
  // and its call can be freed.
  woken_.Notify();
}

absl::Status Cancellation::reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reason_;
}

bool Cancellation::SleepUntil(absl::Time deadline) {
  // Without holding a CPU on a runtime worker, where the runtime ends the
  // wait, so the thread wakes only once it has a CPU.
  runtime::WaitForEvent(woken_, deadline);
  // Cancel() may still hold mu_: our caller may free us once we return.
  // Waited for off the CPU, as the sleep was.
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) {
    runtime::BlockingScope blocking;
    lock.lock();
  }
  return !cancelled_.load(std::memory_order_relaxed);
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
