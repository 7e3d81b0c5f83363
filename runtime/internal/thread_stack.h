// The calling thread's stack: where it ends, and handing back the pages
// that calls which have since returned left resident.
#ifndef UMCG_RPC_RUNTIME_INTERNAL_THREAD_STACK_H_
#define UMCG_RPC_RUNTIME_INTERNAL_THREAD_STACK_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"

namespace umcg_rpc::runtime::internal {

// Lowest usable address of the calling thread's stack (above its guard
// pages), from pthread_getattr_np(). Not for the process's main thread,
// whose stack grows on demand.
absl::StatusOr<uintptr_t> CurrentStackLow();

// Gives the kernel back the calling thread's stack pages from `stack_low`
// up to the last page boundary at least 512 bytes below the caller's frame
// (madvise(MADV_DONTNEED)): memory only calls that have returned used,
// which reads as zeros if a call goes that deep again. Releases nothing if
// none of those pages is resident (mincore()). Returns the bytes of address
// range released (0 if none), or the error of mincore() or madvise().
absl::StatusOr<size_t> ReleaseStackBelowCaller(uintptr_t stack_low);

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_THREAD_STACK_H_
