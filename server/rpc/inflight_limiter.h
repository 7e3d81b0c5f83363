// Caps the RPCs a server works on at once; past the cap, calls are refused
// (RESOURCE_EXHAUSTED) instead of queueing without bound.
#ifndef UMCG_RPC_SERVER_RPC_INFLIGHT_LIMITER_H_
#define UMCG_RPC_SERVER_RPC_INFLIGHT_LIMITER_H_

#include <atomic>
#include <cstdint>

namespace umcg_rpc {

// Lock-free counting limiter. Thread-safe.
class InflightLimiter {
 public:
  explicit InflightLimiter(int64_t limit) : limit_(limit) {}

  // Takes a slot if fewer than the limit are taken; false (and counts a
  // rejection) otherwise.
  bool TryAcquire();

  // Gives back a slot taken by a successful TryAcquire().
  void Release() { inflight_.fetch_sub(1, std::memory_order_acq_rel); }

  int64_t limit() const { return limit_; }
  int64_t inflight() const { return inflight_.load(std::memory_order_relaxed); }
  // Calls refused so far.
  uint64_t rejected() const {
    return rejected_.load(std::memory_order_relaxed);
  }

 private:
  const int64_t limit_;
  std::atomic<int64_t> inflight_{0};
  std::atomic<uint64_t> rejected_{0};
};

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_RPC_INFLIGHT_LIMITER_H_
