#include "runtime/event.h"

#include <algorithm>
#include <chrono>

#include "absl/time/clock.h"
#include "runtime/internal/core.h"
#include "runtime/internal/current.h"
#include "runtime/internal/event_waiter.h"

namespace umcg_rpc::runtime {

void Event::Notify() {
  // mu_ first: waiting for it (its holder may be a preempted worker) is an
  // ordinary block, which the kernel backend reports only outside a
  // NoPreemptScope (UMCG_TF_LOCKED). Then, on a worker, not preempted while
  // holding mu_: a deferred preemption would run a waiter resumed below on
  // this CPU, only for it to sleep on mu_ there (EventListing::Unlist()).
  std::unique_lock<std::mutex> lock(mu_);
  internal::NoPreemptScope no_preempt(internal::CurrentWorker());
  notified_.store(true, std::memory_order_release);
  // Under mu_: a waiter leaves cv_.wait() only after taking mu_, so it
  // cannot destroy the event (often on its own stack) while this call
  // still uses the condition variable. Likewise a listed waiter unlists
  // itself under mu_ before it returns, so it outlives the Notified() call
  // below, and so does whatever that call touches (a suspended worker's
  // scheduler; lock order: an event's mu_, then the scheduler's).
  cv_.notify_all();
  while (internal::EventWaiter* w = waiters_) {
    waiters_ = w->next_;
    if (waiters_ != nullptr) waiters_->prev_ = nullptr;
    w->prev_ = w->next_ = nullptr;
    w->listed_ = false;
    w->Notified();
  }
  // Before the scope ends, where a deferred preemption may yield the CPU.
  lock.unlock();
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
  // On the monotonic clock, as a relative wait: a wall-clock step during
  // the wait is seen when it ends. Bounded so the conversion cannot
  // overflow.
  const absl::Duration left =
      std::min(deadline - absl::Now(), absl::Hours(24 * 365));
  const auto until =
      std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(left);
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, until, [this] { return HasBeenNotified(); });
}

}  // namespace umcg_rpc::runtime
