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

// An address of the stack, computed with page arithmetic, as the pointer
// mincore() and madvise() take.
void* StackAddress(uintptr_t address) {
  return reinterpret_cast<void*>(address);  // NOLINT(performance-no-int-to-ptr)
}

uintptr_t PageSize() {
  static const uintptr_t size = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  return size;
}

// The stack pointer of its caller, read in a frame of its own so that the
// caller's prologue has run: its frame is then wholly above the value
// returned. Where the architecture is not known, a page below this
// function's frame address.
ABSL_ATTRIBUTE_NOINLINE uintptr_t CallerStackPointer() {
  uintptr_t sp;
#if defined(__x86_64__)
  asm volatile("mov %%rsp, %0" : "=r"(sp));
#elif defined(__aarch64__)
  asm volatile("mov %0, sp" : "=r"(sp));
#else
  sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) - PageSize();
#endif
  return sp;
}

}  // namespace

absl::StatusOr<StackRange> CurrentStack() {
  pthread_attr_t attr;
  if (int rc = pthread_getattr_np(pthread_self(), &attr); rc != 0) {
    return absl::ErrnoToStatus(rc, "pthread_getattr_np");
  }
  void* addr = nullptr;
  size_t size = 0;
  const int rc = pthread_attr_getstack(&attr, &addr, &size);
  pthread_attr_destroy(&attr);
  if (rc != 0) return absl::ErrnoToStatus(rc, "pthread_attr_getstack");
  // glibc reports the range above the guard; round inwards in case the
  // range is not page-aligned.
  const uintptr_t page = PageSize();
  const auto low = reinterpret_cast<uintptr_t>(addr);
  return StackRange{(low + page - 1) & ~(page - 1), (low + size) & ~(page - 1)};
}

// Not inlined, so that the stack pointer read in its body lies below
// every live frame of its callers and its own.
ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<size_t> ReleaseStackBelow(
    const StackRange& stack) {
  const uintptr_t page = PageSize();
  // The mincore() and madvise() calls below push their frames under this
  // one: 256 bytes covers a return address and a libc system-call stub.
  // (A signal handler that runs when a call returns may use the released
  // pages: they are fresh zero pages to it.)
  constexpr uintptr_t kCallRoom = 256;
  const uintptr_t sp = CallerStackPointer();
  if (sp <= stack.low + kCallRoom + page || sp > stack.high) return 0;
  const uintptr_t high = (sp - kCallRoom) & ~(page - 1);
  // Most calls stay shallow: look before releasing, since madvise() must
  // flush the TLB of every CPU that has run this process's threads lately
  // when it frees a page, and mincore() costs a fraction of that. The
  // nearest pages first: a deep call touched those on its way down.
  constexpr uintptr_t kChunkPages = 64;
  unsigned char resident[kChunkPages];
  bool any = false;
  for (uintptr_t top = high; top > stack.low && !any;) {
    const uintptr_t pages =
        std::min<uintptr_t>((top - stack.low) / page, kChunkPages);
    const uintptr_t start = top - pages * page;
    if (mincore(StackAddress(start), pages * page, resident) != 0) {
      return absl::ErrnoToStatus(errno, "mincore() on the stack");
    }
    for (uintptr_t i = pages; i > 0 && !any; --i) {
      any = (resident[i - 1] & 1) != 0;
    }
    top = start;
  }
  if (!any) return 0;
  const size_t length = high - stack.low;
  // Private anonymous memory: the pages are freed now and come back zeroed.
  if (madvise(StackAddress(stack.low), length, MADV_DONTNEED) != 0) {
    return absl::ErrnoToStatus(errno, "madvise(MADV_DONTNEED) on the stack");
  }
  return length;
}

}  // namespace umcg_rpc::runtime::internal
