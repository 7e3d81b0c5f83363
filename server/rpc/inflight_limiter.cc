#include "server/rpc/inflight_limiter.h"

namespace umcg_rpc {

bool InflightLimiter::TryAcquire() {
  int64_t current = inflight_.load(std::memory_order_relaxed);
  while (current < limit_) {
    if (inflight_.compare_exchange_weak(current, current + 1,
                                        std::memory_order_acq_rel)) {
      return true;
    }
  }
  rejected_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace umcg_rpc
