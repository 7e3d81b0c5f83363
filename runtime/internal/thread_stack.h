// The calling thread's stack: where it lies, and handing back the pages
// that calls which have since returned left resident.
#ifndef UMCG_RPC_RUNTIME_INTERNAL_THREAD_STACK_H_
#define UMCG_RPC_RUNTIME_INTERNAL_THREAD_STACK_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"

namespace umcg_rpc::runtime::internal {

// A thread's stack: [low, high), guard pages excluded.
struct StackRange {
  uintptr_t low = 0;
  uintptr_t high = 0;
};

// The calling thread's stack, from pthread_getattr_np(). Meant for threads
// created by pthread_create() with a stack glibc allocated (anonymous
// private memory); not for the process's main thread.
absl::StatusOr<StackRange> CurrentStack();

// Gives the kernel back the calling thread's stack pages that lie wholly
// below its stack pointer, less 256 bytes for the calls made from here
// (madvise(MADV_DONTNEED)): memory only calls that have returned used,
// which reads as zeros if a call goes that deep again. `stack` must be the
// calling thread's CurrentStack(). Releases nothing if none of those pages
// is resident (mincore()), or if the stack pointer is not within `stack`
// (e.g. on a signal stack). Returns the bytes of address range released
// (0 if none), or the error of mincore() or madvise().
absl::StatusOr<size_t> ReleaseStackBelow(const StackRange& stack);

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_THREAD_STACK_H_
