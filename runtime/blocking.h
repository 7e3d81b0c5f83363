// Worker-side API: mark blocking regions so the CPU goes to another worker,
// and blocking helpers (sleep, waits) that do it for you.
#ifndef UMCG_RPC_RUNTIME_BLOCKING_H_
#define UMCG_RPC_RUNTIME_BLOCKING_H_

#include <algorithm>
#include <chrono>
#include <future>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "runtime/event.h"

namespace umcg_rpc::runtime {

namespace internal {
struct Worker;
}  // namespace internal

// RAII: the calling worker gives its CPU to the next runnable worker for
// the scope's lifetime and queues for a CPU again when it ends. Wrap every
// call that may sleep in the kernel. Nestable (only the outermost scope
// acts); a no-op off a worker and on the kernel backend (which detects
// blocking itself). Neither entering nor leaving a scope changes errno, so
// the wrapped call's errno can be read after the scope ends.
class BlockingScope {
 public:
  BlockingScope();
  ~BlockingScope();
  BlockingScope(const BlockingScope&) = delete;
  BlockingScope& operator=(const BlockingScope&) = delete;

  // True if this scope released a CPU (outermost scope on a fallback
  // worker).
  bool released() const { return worker_ != nullptr; }

 private:
  internal::Worker* worker_ = nullptr;  // Set if this scope released a CPU.
  bool nested_counted_ = false;         // Counted in the nesting depth.
};

// True on a worker thread of any Scheduler.
bool OnWorker();

// True if the current task's cancellation token has fired (false off a
// worker).
bool IsCancelled();

// The current task's deadline (InfiniteFuture off a worker).
absl::Time CurrentDeadline();

// CANCELLED if the current task is cancelled, DEADLINE_EXCEEDED if past
// its deadline, else OK.
absl::Status CheckCancelled();

// Gives the CPU to the next runnable worker and queues behind it.
// FAILED_PRECONDITION off a worker.
absl::Status Yield();

// Sleeps for `d` without holding a CPU. Returns early with CANCELLED if the
// task is cancelled, or DEADLINE_EXCEEDED at the task's deadline.
absl::Status Sleep(absl::Duration d);

// Sleep() until an absolute time.
absl::Status SleepUntil(absl::Time wake_time);

// Waits for `n` without holding a CPU, until `deadline` or the task's
// deadline (DEADLINE_EXCEEDED) or its cancellation (CANCELLED, noticed
// within kCancelPollInterval: an absl::Notification cannot tell the runtime
// when it is notified, so the wait wakes to look). Prefer AwaitEvent.
absl::Status AwaitNotification(absl::Notification& n,
                               absl::Time deadline = absl::InfiniteFuture());

// Waits for `e` until `deadline` without holding a CPU; true if notified.
// Unlike AwaitEvent it ignores the task's cancellation and deadline (watch
// them through `e`). On a worker (either backend, outside a BlockingScope)
// the runtime ends the wait: the thread sleeps until Notify() or the
// deadline has given it a CPU again, instead of waking first and then
// queueing for one. Elsewhere it is e.WaitUntil(deadline).
bool WaitForEvent(const Event& e, absl::Time deadline = absl::InfiniteFuture());

// Waits for `e` without holding a CPU: OK once notified, else
// DEADLINE_EXCEEDED at `deadline` or the task's deadline, or CANCELLED when
// the task is cancelled. Nothing polls: the notification, the cancellation
// or a timer ends the wait (on a worker, as in WaitForEvent).
absl::Status AwaitEvent(const Event& e,
                        absl::Time deadline = absl::InfiniteFuture());

// How often AwaitNotification and AwaitFuture, which cannot be told of the
// task's cancellation, wake to check it.
inline constexpr absl::Duration kCancelPollInterval = absl::Milliseconds(5);

// Waits for `f` to become ready, like AwaitNotification (then f.get() does
// not block). Use it for a downstream call's completion.
template <typename Future>
absl::Status AwaitFuture(Future& f,
                         absl::Time deadline = absl::InfiniteFuture()) {
  const absl::Time until = std::min(deadline, CurrentDeadline());
  BlockingScope scope;
  while (true) {
    const absl::Time slice = std::min(until, absl::Now() + kCancelPollInterval);
    if (f.wait_until(absl::ToChronoTime(slice)) == std::future_status::ready) {
      return absl::OkStatus();
    }
    if (IsCancelled()) return absl::CancelledError("task cancelled");
    if (absl::Now() >= until) {
      return absl::DeadlineExceededError("wait for future timed out");
    }
  }
}

}  // namespace umcg_rpc::runtime

#endif  // UMCG_RPC_RUNTIME_BLOCKING_H_
