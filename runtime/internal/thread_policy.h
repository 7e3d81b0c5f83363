// Puts the calling thread under the SCHED_BATCH policy (runtime threads
// whose wake-ups should not preempt a running worker).
#ifndef UMCG_RPC_RUNTIME_INTERNAL_THREAD_POLICY_H_
#define UMCG_RPC_RUNTIME_INTERNAL_THREAD_POLICY_H_

#include "absl/status/status.h"

namespace umcg_rpc::runtime::internal {

// Switches the calling thread to SCHED_BATCH (nice value kept). A thread
// under it gets its fair share of CPU as before, but waking it does not
// preempt the thread running on that CPU: it waits for that thread to
// block or for its slice to end. Errors come from sched_setscheduler(2).
absl::Status UseBatchPolicy();

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_THREAD_POLICY_H_
