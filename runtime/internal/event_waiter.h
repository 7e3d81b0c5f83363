// A wait listed on a runtime::Event: how one waiter waits on several events
// at once (runtime::AwaitEvent: the caller's event and the task's
// cancellation) without polling.
#ifndef UMCG_RPC_RUNTIME_INTERNAL_EVENT_WAITER_H_
#define UMCG_RPC_RUNTIME_INTERNAL_EVENT_WAITER_H_

namespace umcg_rpc::runtime {
class Event;
}  // namespace umcg_rpc::runtime

namespace umcg_rpc::runtime::internal {

// Told by Event::Notify() that the event it is listed on was notified.
// Lives on the waiting thread's stack, listed through an EventListing.
class EventWaiter {
 public:
  EventWaiter() = default;
  EventWaiter(const EventWaiter&) = delete;
  EventWaiter& operator=(const EventWaiter&) = delete;
  virtual ~EventWaiter() = default;

  // Called once per listing, by the notifying thread, under the event's
  // mutex and (on a worker) inside a NoPreemptScope: must not wait, and
  // may take only the core's mutex, which no preempted worker holds.
  virtual void Notified() = 0;

 private:
  friend class EventListing;
  friend class ::umcg_rpc::runtime::Event;

  // The event's list of waiters; guarded by the event's mutex.
  EventWaiter* prev_ = nullptr;
  EventWaiter* next_ = nullptr;
  bool listed_ = false;
};

// RAII: lists a waiter on an event, unless the event has been notified
// already, and unlists it at the latest when destroyed. Once unlisted,
// Notify() no longer touches the waiter, nor the event if it was notified:
// the waiter may destroy both.
class EventListing {
 public:
  EventListing(const Event& event, EventWaiter& waiter);
  EventListing(const EventListing&) = delete;
  EventListing& operator=(const EventListing&) = delete;
  ~EventListing() { Unlist(); }

  // False if the event had been notified before the waiter could be listed
  // (the notifier has finished with the event then, too).
  bool listed() const { return listed_; }

  // Unlists the waiter if Notify() has not; returns whether the event has
  // been notified (read under its mutex, so a true return may destroy it).
  bool Unlist();

 private:
  const Event& event_;
  EventWaiter& waiter_;
  bool listed_ = false;
  bool unlisted_ = false;
  bool notified_ = false;
};

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_EVENT_WAITER_H_
