// A shareable cancellation flag that tasks and blocking wrappers observe.
#ifndef UMCG_RPC_RUNTIME_CANCELLATION_H_
#define UMCG_RPC_RUNTIME_CANCELLATION_H_

#include <atomic>
#include <memory>

#include "absl/time/time.h"
#include "runtime/event.h"

namespace umcg_rpc::runtime {

// Copyable handle to one cancellation flag; copies share the flag.
class CancellationToken {
 public:
  // Creates a fresh, not-yet-cancelled token.
  CancellationToken();

  // Sets the flag (idempotent) and wakes blocking wrappers waiting on it.
  void Cancel() const;

  // Returns true once Cancel() has been called on any copy.
  bool IsCancelled() const;

  // Blocks the calling thread until cancelled or `deadline`; returns
  // IsCancelled(). Does not release a worker's CPU (use runtime::Sleep).
  bool WaitUntil(absl::Time deadline) const;

  // Notified on the first Cancel(): for waits on the token among other
  // things, or without holding a CPU (runtime::WaitForEvent).
  const Event& event() const { return state_->notification; }

 private:
  struct State {
    std::atomic<bool> cancelled{false};
    Event notification;
  };
  std::shared_ptr<State> state_;
};

}  // namespace umcg_rpc::runtime

#endif  // UMCG_RPC_RUNTIME_CANCELLATION_H_
