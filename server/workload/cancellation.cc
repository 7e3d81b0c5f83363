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
  // Under mu_: the sleeper cannot return, and its call be freed, while
  // this still uses the condition variable.
  woken_.notify_all();
  // Run under mu_ so that ~ScopedCallback() cannot return while the
  // callback still runs: the callback may touch the step's locals.
  if (callback_) callback_();
}

absl::Status Cancellation::reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reason_;
}

bool Cancellation::SleepUntil(absl::Time deadline) {
  // On a runtime worker, give up the CPU while asleep (a no-op elsewhere and
  // on the kernel backend, which notices the futex wait by itself). The
  // scope outlives the lock, so the CPU is queued for after mu_ is released.
  runtime::BlockingScope blocking;
  std::unique_lock<std::mutex> lock(mu_);
  while (!cancelled_.load(std::memory_order_relaxed)) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    // Relative, so on the monotonic clock: a wall-clock step during a
    // wait is seen when that wait ends (it lasts the time left when it
    // began), not at once. A day at most per wait, so an infinite
    // deadline converts safely.
    woken_.wait_for(lock,
                    absl::ToChronoNanoseconds(std::min(left, absl::Hours(24))));
  }
  return false;
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
