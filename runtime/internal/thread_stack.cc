#include "runtime/internal/thread_stack.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/base/attributes.h"
#include "absl/status/status.h"

namespace umcg_rpc::runtime::internal {
namespace {

uintptr_t PageSize() {
  static const uintptr_t size = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

absl::StatusOr<uintptr_t> CurrentStackLow() {
  pthread_attr_t attr;
  if (int rc = pthread_getattr_np(pthread_self(), &attr); rc != 0) {
    return absl::ErrnoToStatus(rc, "pthread_getattr_np");
  }
  void* addr = nullptr;
  size_t size = 0;
  const int rc = pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  if (rc != 0) return absl::ErrnoToStatus(rc, "pthread_attr_getstack");
  // glibc reports the range above the guard; round up in case it did not.
  const uintptr_t page = PageSize();
  return (reinterpret_cast<uintptr_t>(addr) + page - 1) & ~(page - 1);
}

// Not inlined, so that its frame address bounds what is still in use: its
// own few locals and the madvise() call lie within kSlack below it. (A
// signal handler that runs when madvise() returns may use the released
// pages: they are fresh zero pages to it.)
ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<size_t> ReleaseStackBelowCaller(
    uintptr_t stack_low) {
  const uintptr_t page = PageSize();
  const uintptr_t frame =
      reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  // Everything below the stack pointer belongs to calls that returned.
  constexpr uintptr_t kSlack = 512;
  if (frame < stack_low + kSlack + page) return 0;
  const uintptr_t high = (frame - kSlack) & ~(page - 1);
  // Most calls stay shallow: look before releasing, since madvise() must
  // flush the TLBs of every CPU this process runs on when it frees a page,
  // and mincore() costs a fraction of that. Deepest pages last: a deep
  // call touched the pages nearest `high` first.
  constexpr uintptr_t kChunkPages = 64;
  unsigned char resident[kChunkPages];
  bool any = false;
  for (uintptr_t top = high; top > stack_low && !any;) {
    const uintptr_t pages =
        std::min<uintptr_t>((top - stack_low) / page, kChunkPages);
    const uintptr_t start = top - pages * page;
    if (mincore(reinterpret_cast<void*>(start), pages * page, resident) != 0) {
      return absl::ErrnoToStatus(errno, "mincore() on the stack");
    }
    for (uintptr_t i = 0; i < pages && !any; ++i) any = (resident[i] & 1) != 0;
    top = start;
  }
  if (!any) return 0;
  const size_t length = high - stack_low;
  // Private anonymous memory: the pages are freed now and come back zeroed.
  if (madvise(reinterpret_cast<void*>(stack_low), length, MADV_DONTNEED) != 0) {
    return absl::ErrnoToStatus(errno, "madvise(MADV_DONTNEED) on the stack");
  }
  return length;
}

}  // namespace umcg_rpc::runtime::internal
