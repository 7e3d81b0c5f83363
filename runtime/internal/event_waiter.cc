#include "runtime/internal/event_waiter.h"

#include <mutex>

#include "runtime/event.h"

namespace umcg_rpc::runtime::internal {

EventListing::EventListing(const Event& event, EventWaiter& waiter)
    : event_(event), waiter_(waiter) {
  std::lock_guard<std::mutex> lock(event_.mu_);
  if (event_.HasBeenNotified()) {
    // Read under mu_: the Notify() that set it has finished with the event.
    unlisted_ = notified_ = true;
    return;
  }
  waiter_.prev_ = nullptr;
  waiter_.next_ = event_.waiters_;
  if (event_.waiters_ != nullptr) event_.waiters_->prev_ = &waiter_;
  event_.waiters_ = &waiter_;
  waiter_.listed_ = true;
  listed_ = true;
}

bool EventListing::Unlist() {
  if (unlisted_) return notified_;
  std::lock_guard<std::mutex> lock(event_.mu_);
  if (waiter_.listed_) {
    if (waiter_.prev_ != nullptr) {
      waiter_.prev_->next_ = waiter_.next_;
    } else {
      event_.waiters_ = waiter_.next_;
    }
    if (waiter_.next_ != nullptr) waiter_.next_->prev_ = waiter_.prev_;
    waiter_.prev_ = waiter_.next_ = nullptr;
    waiter_.listed_ = false;
  }
  unlisted_ = true;
  // Read under mu_: a Notify() that set it has finished with the event.
  notified_ = event_.HasBeenNotified();
  return notified_;
}

}  // namespace umcg_rpc::runtime::internal
