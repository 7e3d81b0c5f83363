// A one-token futex parker: one thread parks, any thread (or signal
// handler) unparks. The token's release/acquire pair orders memory.
#ifndef UMCG_RPC_RUNTIME_INTERNAL_PARKER_H_
#define UMCG_RPC_RUNTIME_INTERNAL_PARKER_H_

#include <atomic>
#include <cstdint>

namespace umcg_rpc::runtime::internal {

// Binary semaphore on a futex word; async-signal-safe Unpark and Park.
class Parker {
 public:
  // Consumes the token, sleeping until one is available.
  void Park();
  // Park() until `deadline_ns` (a MonotonicNanos() time) at the latest;
  // false if it returned without a token.
  bool ParkUntil(int64_t deadline_ns);
  // Makes a token available (idempotent) and wakes the parked thread.
  void Unpark();
  // The raw state below, for stall reports only (racy by nature).
  int32_t DebugValue() const { return state_.load(std::memory_order_relaxed); }

 private:
  // 1: token available, 0: empty, -1: owner is (about to be) asleep.
  std::atomic<int32_t> state_{0};
};

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_PARKER_H_
