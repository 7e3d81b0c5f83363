#include "runtime/event.h"

#include <algorithm>
#include <chrono>

#include "absl/time/clock.h"

namespace umcg_rpc::runtime {

void Event::Notify() {
  std::lock_guard<std::mutex> lock(mu_);
  notified_.store(true, std::memory_order_release);
  // Under mu_: a waiter leaves cv_.wait() only after taking mu_, so it
  // cannot destroy the event (often on its own stack) while this call
  // still uses the condition variable.
  cv_.notify_all();
}

void Event::SyncWithNotifier() const { std::lock_guard<std::mutex> lock(mu_); }

void Event::Wait() const {
  if (HasBeenNotified()) {
    SyncWithNotifier();
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return HasBeenNotified(); });
}

bool Event::WaitUntil(absl::Time deadline) const {
  if (HasBeenNotified()) {
    SyncWithNotifier();
    return true;
  }
  if (deadline == absl::InfiniteFuture()) {
    Wait();
    return true;
  }
  // Bounded so the chrono conversion cannot overflow.
  const absl::Time capped =
      std::min(deadline, absl::Now() + absl::Hours(24 * 365));
  const auto until = absl::ToChronoTime(capped);
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, until, [this] { return HasBeenNotified(); });
}

}  // namespace umcg_rpc::runtime
