// Putting a thread under SCHED_BATCH, for the threads that feed or watch
// workers (queue threads, the runtime's monitor and servers), whose wake-ups
// should not preempt a running worker; and back under SCHED_OTHER.
#ifndef UMCG_RPC_RUNTIME_THREAD_POLICY_H_
#define UMCG_RPC_RUNTIME_THREAD_POLICY_H_

#include <pthread.h>

#include "absl/status/status.h"

namespace umcg_rpc::runtime {

// Switches `thread` (of this process) to SCHED_BATCH, nice value kept. A
// thread under it gets its fair share of CPU as before, but waking it does
// not preempt the thread running on that CPU: it waits for that thread to
// block or for its slice to end. Errors come from pthread_setschedparam(3).
absl::Status UseBatchPolicy(pthread_t thread);

// Switches `thread` back to SCHED_OTHER, nice value kept (always allowed
// from SCHED_BATCH). Errors come from pthread_setschedparam(3).
absl::Status UseNormalPolicy(pthread_t thread);

}  // namespace umcg_rpc::runtime

#endif  // UMCG_RPC_RUNTIME_THREAD_POLICY_H_
