// Putting a thread under SCHED_BATCH, for the threads that feed or watch
// workers (queue threads, the runtime's monitor and servers), whose wake-ups
// should not preempt a running worker; and back under SCHED_OTHER. Lowering a
// thread's weight (its nice value), for queue threads that should gather
// events into batches while the workers keep the CPUs busy.
#ifndef UMCG_RPC_RUNTIME_THREAD_POLICY_H_
#define UMCG_RPC_RUNTIME_THREAD_POLICY_H_

#include <pthread.h>

#include <thread>

#include "absl/functional/any_invocable.h"
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

// Sets the calling thread's nice value (Linux keeps one per thread) to
// `nice`, -20..19. Raising it is always allowed; lowering it needs
// CAP_SYS_NICE or RLIMIT_NICE. Errors come from setpriority(2).
absl::Status SetOwnNice(int nice);

// Starts `body` on a new thread named `name` (15 characters at most) that
// first sets its own nice value to `nice` (0: keeps the value it
// inherits); returns once the name and the value are set, with the
// outcome in `*niced` (not null; an error names the thread). The thread
// runs `body` either way.
[[nodiscard]] std::thread StartNicedThread(const char* name, int nice,
                                           absl::AnyInvocable<void() &&> body,
                                           absl::Status* niced);

}  // namespace umcg_rpc::runtime

#endif  // UMCG_RPC_RUNTIME_THREAD_POLICY_H_
