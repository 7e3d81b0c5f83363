// Reads a thread's scheduler state from /proc (used by the monitor).
#ifndef UMCG_RPC_RUNTIME_INTERNAL_THREAD_STAT_H_
#define UMCG_RPC_RUNTIME_INTERNAL_THREAD_STAT_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/status/statusor.h"

namespace umcg_rpc::runtime::internal {

// What the kernel says about one thread of this process.
struct ThreadStat {
  char state = '?';         // 'R' running/runnable, 'S'/'D' asleep, ...
  uint64_t runtime_ns = 0;  // Cumulative on-CPU time (schedstat), 0 if n/a.
  bool asleep() const { return state == 'S' || state == 'D'; }
};

// Reads /proc/self/task/<tid>/stat and .../schedstat without allocating,
// failures included (their statuses carry no detail).
absl::StatusOr<ThreadStat> ReadThreadStat(pid_t tid);

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_THREAD_STAT_H_
