// Sizing the process's futex hash table for thousands of sleeping threads.
#ifndef UMCG_RPC_RUNTIME_FUTEX_HASH_H_
#define UMCG_RPC_RUNTIME_FUTEX_HASH_H_

#include "absl/status/statusor.h"

namespace umcg_rpc::runtime {

// The most buckets EnsureFutexHashBuckets() asks for (64 bytes of kernel
// memory each).
inline constexpr int kMaxFutexHashBuckets = 65536;

// Buckets of the process's own futex hash table; 0 if it uses the kernel's
// global table or has no table of its own yet (single-threaded so far).
// UNIMPLEMENTED on kernels without PR_FUTEX_HASH (before 6.16: only the
// global table); other errors come from prctl(2).
absl::StatusOr<int> FutexHashBuckets();

// Since Linux 6.16 each multi-threaded process hashes its private futexes
// into a table of its own, sized by default for the online CPUs (16 buckets
// on a 2-CPU machine), not for the threads. With thousands of workers asleep
// on futexes, every futex wait and wake then walks and locks a chain of
// hundreds of waiters (W5, native: futex_wake alone 14 % of the server's
// CPU).
//
// Makes the process's table at least `threads` buckets (rounded up to a
// power of two, at most kMaxFutexHashBuckets) with prctl(PR_FUTEX_HASH);
// never shrinks it. Process-wide, safe to call at any time and from any
// thread. Returns the buckets now in effect, or 0 where the process uses
// the kernel's global table, which cannot be sized: on kernels without
// PR_FUTEX_HASH, or after someone chose it. Errors come from prctl(2).
absl::StatusOr<int> EnsureFutexHashBuckets(int threads);

}  // namespace umcg_rpc::runtime

#endif  // UMCG_RPC_RUNTIME_FUTEX_HASH_H_
