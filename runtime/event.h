// A one-shot event (like absl::Notification) built on std::mutex and
// std::condition_variable, so ThreadSanitizer sees its synchronisation even
// when Abseil is a prebuilt, uninstrumented library.
#ifndef UMCG_RPC_RUNTIME_EVENT_H_
#define UMCG_RPC_RUNTIME_EVENT_H_

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "absl/time/time.h"

namespace umcg_rpc::runtime {

namespace internal {
class EventListing;
class EventWaiter;
}  // namespace internal

// Set once, waited on by any number of threads. Waiting does not release a
// worker's CPU by itself: on a worker use runtime::WaitForEvent or
// runtime::AwaitEvent.
class Event {
 public:
  Event() = default;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  // Sets the event (idempotent) and wakes every waiter.
  void Notify();

  // True once Notify() has been called.
  bool HasBeenNotified() const {
    return notified_.load(std::memory_order_acquire);
  }

  // Blocks until notified. Once it returns, Notify() no longer touches the
  // event: the waiter may destroy it.
  void Wait() const;

  // Blocks until notified or `deadline`; returns HasBeenNotified(). After a
  // true return the waiter may destroy the event, as after Wait().
  bool WaitUntil(absl::Time deadline) const;

 private:
  friend class internal::EventListing;

  // Returns once a Notify() that set the flag has released mu_: a waiter
  // that saw the flag without the lock may then destroy the event.
  void SyncWithNotifier() const;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::atomic<bool> notified_{false};
  // Waits that Notify() ends by calling them rather than through cv_ (a
  // worker suspended in the runtime, a wait on several events), listed by
  // internal::EventListing; guarded by mu_.
  mutable internal::EventWaiter* waiters_ = nullptr;
};

}  // namespace umcg_rpc::runtime

#endif  // UMCG_RPC_RUNTIME_EVENT_H_
