// Monotonic time in nanoseconds, the runtime's internal time base.
#ifndef UMCG_RPC_RUNTIME_INTERNAL_CLOCK_H_
#define UMCG_RPC_RUNTIME_INTERNAL_CLOCK_H_

#include <time.h>

#include <cstdint>

#include "absl/time/time.h"

namespace umcg_rpc::runtime::internal {

// CLOCK_MONOTONIC now, in nanoseconds.
inline int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// CLOCK_REALTIME now as absl::Time, without absl::Now()'s internal
// spinlock (a preempted worker may hold it; servers must never wait on it).
inline absl::Time RealNow() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return absl::TimeFromTimespec(ts);
}

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_CLOCK_H_
