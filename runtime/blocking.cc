#include "runtime/blocking.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "runtime/internal/clock.h"
#include "runtime/internal/core.h"
#include "runtime/internal/current.h"
#include "runtime/internal/suspension.h"

namespace umcg_rpc::runtime {
namespace {

thread_local int tls_scope_depth = 0;

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
  internal::Worker* w = internal::CurrentWorker();
  // Inside a scope the CPU is already released: an ordinary wait.
  if (w == nullptr || tls_scope_depth > 0 || !w->core->cooperative()) {
    BlockingScope scope;
    return e.WaitUntil(deadline);
  }
  if (e.HasBeenNotified()) return e.WaitUntil(deadline);  // No hand-off.
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return e.WaitUntil(deadline);
  // On the monotonic clock from here on, as a relative wait would be, and
  // capped like Event::WaitUntil's.
  int64_t due = INT64_MAX;
  if (deadline != absl::InfiniteFuture()) {
    due = internal::MonotonicNanos() +
          absl::ToInt64Nanoseconds(std::min(left, absl::Hours(24 * 365)));
  }
  const int saved_errno = errno;
  internal::Suspension s(*w, due);
  bool notified = true;
  if (e.AddSuspension(s)) {
    w->core->Suspend(*w, s);
    notified = e.RemoveSuspension(s);
  } else {
    e.SyncWithNotifier();  // Notified before we could list ourselves.
  }
  errno = saved_errno;
  return notified;
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
  const absl::Time until = std::min(deadline, CurrentDeadline());
  BlockingScope scope;
  while (true) {
    const absl::Time slice = std::min(until, absl::Now() + kCancelPollInterval);
    if (e.WaitUntil(slice)) return absl::OkStatus();
    if (IsCancelled()) return absl::CancelledError("task cancelled");
    if (absl::Now() >= until) {
      return absl::DeadlineExceededError("wait for event timed out");
    }
  }
}

}  // namespace umcg_rpc::runtime
