#include "runtime/cancellation.h"

#include <atomic>
#include <cstdint>

#include "runtime/internal/cancellation_count.h"

namespace umcg_rpc::runtime {

namespace {

// Bumped after a token's flag is set (Cancel(); read by
// internal::CancellationsSoFar()).
constinit std::atomic<uint64_t> cancellations{0};

}  // namespace

CancellationToken::CancellationToken() : state_(std::make_shared<State>()) {}

void CancellationToken::Cancel() const {
  if (!state_->cancelled.exchange(true, std::memory_order_acq_rel)) {
    // Release: orders the flag's store before the count's increment, so a
    // sweep that reads the new count reads the flag as set.
    cancellations.fetch_add(1, std::memory_order_release);
    state_->notification.Notify();
  }
}

bool CancellationToken::IsCancelled() const {
  return state_->cancelled.load(std::memory_order_acquire);
}

bool CancellationToken::WaitUntil(absl::Time deadline) const {
  return state_->notification.WaitUntil(deadline);
}

namespace internal {

uint64_t CancellationsSoFar() {
  // Acquire: pairs with Cancel()'s release increment, so the flags of the
  // tokens counted read as set.
  return cancellations.load(std::memory_order_acquire);
}

}  // namespace internal

}  // namespace umcg_rpc::runtime
