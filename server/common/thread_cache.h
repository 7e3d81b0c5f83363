// Turning off the allocator's per-thread cache on threads that mostly wait.
#ifndef UMCG_RPC_SERVER_COMMON_THREAD_CACHE_H_
#define UMCG_RPC_SERVER_COMMON_THREAD_CACHE_H_

#include "absl/status/status.h"

namespace umcg_rpc {

// Disables jemalloc's thread cache (tcache) for the calling thread, so the
// memory it frees goes back to the shared arenas instead of staying cached
// on a thread that may then block for a long time. A worker that holds a
// blocked RPC otherwise pins ~45 KiB of cached objects (measured with 10,000
// blocked calls, docs/server.md). Returns UNIMPLEMENTED when the process's
// allocator is not jemalloc (sanitizer builds, the test binaries), and
// jemalloc's error if it refuses.
absl::Status DisableThreadAllocatorCache();

// True if DisableThreadAllocatorCache() can work in this process (jemalloc
// is the allocator). Changes nothing.
bool CanDisableThreadAllocatorCache();

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_COMMON_THREAD_CACHE_H_
