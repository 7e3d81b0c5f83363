#include "runtime/cancellation.h"

namespace umcg_rpc::runtime {

CancellationToken::CancellationToken() : state_(std::make_shared<State>()) {}

void CancellationToken::Cancel() const {
  if (!state_->cancelled.exchange(true, std::memory_order_acq_rel)) {
    state_->notification.Notify();
  }
}

bool CancellationToken::IsCancelled() const {
  return state_->cancelled.load(std::memory_order_acquire);
}

bool CancellationToken::WaitUntil(absl::Time deadline) const {
  return state_->notification.WaitUntil(deadline);
}

}  // namespace umcg_rpc::runtime
