#include "runtime/blocking.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "runtime/internal/clock.h"
#include "runtime/internal/core.h"
#include "runtime/internal/current.h"
#include "runtime/internal/event_waiter.h"
#include "runtime/internal/parker.h"
#include "runtime/internal/suspension.h"

namespace umcg_rpc::runtime {
namespace {

thread_local int tls_scope_depth = 0;

// Resumes a suspended worker when an event it waits on is notified.
class SuspensionWaker final : public internal::EventWaiter {
 public:
  explicit SuspensionWaker(internal::Suspension& s) : s_(s) {}
  void Notified() override { s_.worker->core->Resume(s_); }

 private:
  internal::Suspension& s_;
};

// Wakes the thread that waits on several events. A futex, not an Event:
// Notified() runs under the notified event's mutex, inside the notifier's
// NoPreemptScope, where it must not wait for a lock the waiter may hold.
class Relay final : public internal::EventWaiter {
 public:
  explicit Relay(internal::Parker& to) : to_(to) {}
  void Notified() override { to_.Unpark(); }

 private:
  internal::Parker& to_;
};

// Bit i set if events[i] has been notified; a notified event is synced with
// its notifier (Event::Wait), so the caller may destroy it.
template <size_t N>
uint32_t NotifiedMask(const std::array<const Event*, N>& events) {
  uint32_t mask = 0;
  uint32_t bit = 1;
  for (const Event* e : events) {
    if (e->HasBeenNotified()) {
      e->Wait();  // Returns at once; no Notify() uses `e` after it.
      mask |= bit;
    }
    bit <<= 1;
  }
  return mask;
}

// Waits without holding a CPU until one of `events` is notified or
// `deadline`. Returns NotifiedMask(events) (0: the deadline ended the
// wait). On a worker outside a scope the runtime ends the wait
// (Core::Suspend), so the thread wakes only with a CPU of its own;
// elsewhere the thread sleeps on a parker that every event's listing
// unparks.
template <size_t N>
uint32_t WaitForAny(const std::array<const Event*, N>& events,
                    absl::Time deadline) {
  static_assert(N >= 1 && N <= 32);  // One bit each in the result.
  // Already over: no listing, no hand-off.
  if (const uint32_t mask = NotifiedMask(events); mask != 0) return mask;
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return NotifiedMask(events);

  const int saved_errno = errno;
  internal::Worker* w = internal::CurrentWorker();
  const bool suspend = w != nullptr && tls_scope_depth == 0;
  if (!suspend && N == 1) {
    {
      BlockingScope scope;
      events[0]->WaitUntil(deadline);
    }
    errno = saved_errno;
    return NotifiedMask(events);
  }
  // On the monotonic clock from here on, as a relative wait would be, and
  // capped like Event::WaitUntil's.
  int64_t due = INT64_MAX;
  if (deadline != absl::InfiniteFuture()) {
    due = internal::MonotonicNanos() +
          absl::ToInt64Nanoseconds(std::min(left, absl::Hours(24 * 365)));
  }
  std::optional<internal::Suspension> s;
  if (suspend) s.emplace(*w, due);
  internal::Parker relayed;
  std::array<std::optional<SuspensionWaker>, N> wakers;
  std::array<std::optional<Relay>, N> relays;
  // Destroyed (unlisted) before the waiters and `s` above.
  std::array<std::optional<internal::EventListing>, N> listings;
  bool all_listed = true;
  size_t i = 0;
  for (const Event* e : events) {
    internal::EventWaiter& waiter =
        suspend ? static_cast<internal::EventWaiter&>(wakers[i].emplace(*s))
                : relays[i].emplace(relayed);
    if (!listings[i++].emplace(*e, waiter).listed()) {
      all_listed = false;  // Notified meanwhile: no need to wait.
      break;
    }
  }
  // Notified while the others were being listed: no need to wait (nor to
  // hand the CPU over and queue for it again).
  if (all_listed && NotifiedMask(events) == 0) {
    if (suspend) {
      w->core->Suspend(*w, *s);
    } else {
      BlockingScope scope;
      if (due == INT64_MAX) {
        relayed.Park();
      } else {
        relayed.ParkUntil(due);
      }
    }
  }
  // Once unlisted, no Notify() uses the waiters, nor a notified event.
  uint32_t mask = 0;
  for (size_t k = 0; k < N; ++k) {
    bool notified = false;
    if (k < i) {
      notified = listings[k]->Unlist();
    } else if (events[k]->HasBeenNotified()) {
      events[k]->Wait();  // Returns at once, once its notifier is done.
      notified = true;
    }
    if (notified) mask |= uint32_t{1} << k;
  }
  errno = saved_errno;
  return mask;
}

}  // namespace

BlockingScope::BlockingScope() {
  internal::Worker* w = internal::CurrentWorker();
  if (w == nullptr) return;
  nested_counted_ = true;
  if (tls_scope_depth++ > 0) return;
  if (!w->core->cooperative()) return;
  worker_ = w;
  const int saved_errno = errno;
  w->core->EnterBlocking(*w);
  errno = saved_errno;
}

BlockingScope::~BlockingScope() {
  // Callers read the errno of the call they wrapped after the scope ends;
  // waiting for a CPU again (futex calls that may fail with EAGAIN or
  // EINTR) must not change it.
  const int saved_errno = errno;
  if (worker_ != nullptr) worker_->core->ExitBlocking(*worker_);
  if (nested_counted_) --tls_scope_depth;
  errno = saved_errno;
}

bool OnWorker() { return internal::CurrentWorker() != nullptr; }

bool IsCancelled() {
  internal::TaskState* t = internal::CurrentTask();
  return t != nullptr && t->options.cancellation.IsCancelled();
}

absl::Time CurrentDeadline() {
  internal::TaskState* t = internal::CurrentTask();
  return t == nullptr ? absl::InfiniteFuture() : t->options.deadline;
}

absl::Status CheckCancelled() {
  if (IsCancelled()) return absl::CancelledError("task cancelled");
  if (absl::Now() >= CurrentDeadline()) {
    return absl::DeadlineExceededError("task deadline exceeded");
  }
  return absl::OkStatus();
}

absl::Status Yield() {
  internal::Worker* w = internal::CurrentWorker();
  if (w == nullptr) {
    return absl::FailedPreconditionError(
        "runtime::Yield called off a worker thread");
  }
  w->core->Yield(*w);
  return absl::OkStatus();
}

absl::Status Sleep(absl::Duration d) { return SleepUntil(absl::Now() + d); }

absl::Status SleepUntil(absl::Time wake_time) {
  internal::TaskState* t = internal::CurrentTask();
  if (t == nullptr) {
    absl::SleepFor(wake_time - absl::Now());
    return absl::OkStatus();
  }
  const absl::Time until = std::min(wake_time, t->options.deadline);
  if (WaitForEvent(t->options.cancellation.event(), until)) {
    return absl::CancelledError("sleep interrupted: task cancelled");
  }
  if (until < wake_time) {
    return absl::DeadlineExceededError("task deadline reached during sleep");
  }
  return absl::OkStatus();
}

bool WaitForEvent(const Event& e, absl::Time deadline) {
  return WaitForAny(std::array{&e}, deadline) != 0;
}

absl::Status AwaitNotification(absl::Notification& n, absl::Time deadline) {
  const absl::Time until = std::min(deadline, CurrentDeadline());
  BlockingScope scope;
  while (true) {
    const absl::Time slice = std::min(until, absl::Now() + kCancelPollInterval);
    if (n.WaitForNotificationWithDeadline(slice)) return absl::OkStatus();
    if (IsCancelled()) return absl::CancelledError("task cancelled");
    if (absl::Now() >= until) {
      return absl::DeadlineExceededError("wait for notification timed out");
    }
  }
}

absl::Status AwaitEvent(const Event& e, absl::Time deadline) {
  internal::TaskState* t = internal::CurrentTask();
  const absl::Time until = std::min(deadline, CurrentDeadline());
  const uint32_t ended =
      t == nullptr
          ? WaitForAny(std::array{&e}, until)
          : WaitForAny(std::array{&e, &t->options.cancellation.event()}, until);
  if (ended & 1) return absl::OkStatus();
  if (ended != 0) return absl::CancelledError("task cancelled");
  return absl::DeadlineExceededError("wait for event timed out");
}

}  // namespace umcg_rpc::runtime
