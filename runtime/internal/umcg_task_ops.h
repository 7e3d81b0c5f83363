// User-space accessors for the words of a struct umcg_task that the kernel
// and other threads change concurrently (kernel/include/uapi/linux/umcg.h).
#ifndef UMCG_RPC_RUNTIME_INTERNAL_UMCG_TASK_OPS_H_
#define UMCG_RPC_RUNTIME_INTERNAL_UMCG_TASK_OPS_H_

#include <atomic>
#include <cstdint>

#include "kernel/include/uapi/linux/umcg.h"

namespace umcg_rpc::runtime::internal {

// The UMCG struct of one runtime thread, 64-byte aligned as the kernel
// requires, with a back pointer so an idle-list node leads to its owner.
template <typename Owner>
struct alignas(UMCG_TASK_ALIGN) UmcgSlot {
  struct umcg_task task = {};  // Shared with the kernel; see umcg.h.
  Owner* owner = nullptr;      // Written once, before registration.
};

// Atomic view of a u64 the kernel also writes (LOCK CMPXCHG on its side).
inline std::atomic_ref<__u64> Word64(__u64& w) {
  return std::atomic_ref<__u64>(w);
}
inline std::atomic_ref<__u32> Word32(__u32& w) {
  return std::atomic_ref<__u32>(w);
}

// The whole state word (state, flags, timestamp).
inline __u64 LoadState(struct umcg_task& t) {
  return Word64(t.state).load(std::memory_order_seq_cst);
}

// The state without flags and timestamp (UMCG_TASK_*).
inline __u64 StateOf(__u64 word) { return UMCG_TASK_STATE(word); }

// Replaces `expected` (a whole word) by `state_flags` with the timestamp
// advanced, as the kernel does, so ABA is visible to every reader. Full
// barrier (seq_cst) on success: orders what the caller did before against
// the kernel's and other threads' reads of the new state.
inline bool CasState(struct umcg_task& t, __u64& expected, __u64 state_flags) {
  const __u64 desired = (UMCG_TASK_TS_NEXT(expected) & UMCG_TASK_TS_MASK) |
                        (state_flags & (UMCG_TASK_STATE_MASK | UMCG_TF_MASK));
  return Word64(t.state).compare_exchange_strong(expected, desired,
                                                 std::memory_order_seq_cst);
}

// Moves the calling thread's own RUNNING state (any flags) to IDLE, just
// before umcg_wait(). Only the owner, the kernel (which does not touch a
// RUNNING task that is executing user code) and a preemption request write
// a RUNNING word, so this loop ends after at most a few retries.
inline void SetOwnIdle(struct umcg_task& t) {
  __u64 w = LoadState(t);
  while (!CasState(t, w, UMCG_TASK_IDLE)) {
  }
}

// IDLE -> RUNNING (flags other than LOCKED dropped). False if the word was
// not IDLE: somebody (the kernel, a waker) made it RUNNING first.
inline bool ClaimIdle(struct umcg_task& t) {
  __u64 w = LoadState(t);
  while (StateOf(w) == UMCG_TASK_IDLE) {
    if (CasState(t, w, UMCG_TASK_RUNNING | (w & UMCG_TF_LOCKED))) return true;
  }
  return false;
}

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_UMCG_TASK_OPS_H_
