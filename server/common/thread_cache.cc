#include "server/common/thread_cache.h"

#include <dlfcn.h>

#include <cstddef>

namespace umcg_rpc {
namespace {

// jemalloc's control entry point (see jemalloc(3), "MALLCTL NAMESPACE").
using MallctlFn = int (*)(const char* name, void* oldp, size_t* oldlenp,
                          void* newp, size_t newlen);

// Looked up at run time rather than linked: whether jemalloc is the
// allocator is decided by how the binary is linked (the server binary links
// it unless UMCG_RPC_WITH_JEMALLOC=OFF; sanitizer builds never do).
MallctlFn FindMallctl() {
  static const MallctlFn fn =
      reinterpret_cast<MallctlFn>(dlsym(RTLD_DEFAULT, "mallctl"));
  return fn;
}

}  // namespace

bool CanDisableThreadAllocatorCache() { return FindMallctl() != nullptr; }

absl::Status DisableThreadAllocatorCache() {
  MallctlFn mallctl = FindMallctl();
  if (mallctl == nullptr) {
    return absl::UnimplementedError("the allocator is not jemalloc");
  }
  bool enabled = false;
  const int rc = mallctl("thread.tcache.enabled", nullptr, nullptr, &enabled,
                         sizeof(enabled));
  if (rc != 0) return absl::ErrnoToStatus(rc, "mallctl(thread.tcache.enabled)");
  return absl::OkStatus();
}

}  // namespace umcg_rpc
