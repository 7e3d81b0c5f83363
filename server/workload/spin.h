// Real CPU work measured in the calling thread's own CPU time.
#ifndef UMCG_RPC_SERVER_WORKLOAD_SPIN_H_
#define UMCG_RPC_SERVER_WORKLOAD_SPIN_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"

namespace umcg_rpc::workload {

// What a spin did: iterations of the hash loop and the final hash value.
struct SpinResult {
  uint64_t iterations = 0;
  uint64_t digest = 0;
  bool stopped_early = false;
};

// Runs a hash loop until the calling thread has consumed `cpu_time` of CPU
// (CLOCK_THREAD_CPUTIME_ID, so time spent descheduled does not count), or
// until `should_stop()`, polled about every microsecond, returns true. A
// positive `cpu_time` runs at least one batch of the loop unless stopped.
SpinResult SpinCpu(absl::Duration cpu_time,
                   absl::FunctionRef<bool()> should_stop);

}  // namespace umcg_rpc::workload

#endif  // UMCG_RPC_SERVER_WORKLOAD_SPIN_H_
