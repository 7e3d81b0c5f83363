// Abseil's lock-order checking, kept for debug builds only.
#ifndef UMCG_RPC_SERVER_COMMON_LOCK_CHECKS_H_
#define UMCG_RPC_SERVER_COMMON_LOCK_CHECKS_H_

#include "absl/synchronization/mutex.h"

namespace umcg_rpc {

// In a release build (NDEBUG), turns off absl::Mutex deadlock detection for
// the whole process; in a debug build, changes nothing. Debian builds Abseil
// without NDEBUG, so by default every absl::Mutex acquisition, gRPC's own
// included, also records lock order in a global graph under a global lock:
// about 1 % of the server's CPU samples at W3 saturation, and a graph that
// grows with the number of live mutexes (10,000 calls in flight in W5).
// Debug builds keep the check, so the tests still catch lock-order
// inversions. Call first thing in main(), before any thread takes a lock.
inline void UseReleaseLockChecks() {
#ifdef NDEBUG
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
}

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_COMMON_LOCK_CHECKS_H_
