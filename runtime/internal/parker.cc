#include "runtime/internal/parker.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace umcg_rpc::runtime::internal {
namespace {

// The futex word is the atomic's storage (std::atomic<int32_t> is lock-free
// and layout-compatible with int32_t on Linux).
int32_t* Word(std::atomic<int32_t>* a) { return reinterpret_cast<int32_t*>(a); }

}  // namespace

void Parker::Park() {
  // 1 -> 0: token consumed without sleeping; 0 -> -1: must sleep.
  if (state_.fetch_sub(1, std::memory_order_acquire) == 1) return;
  while (true) {
    syscall(SYS_futex, Word(&state_), FUTEX_WAIT_PRIVATE, -1, nullptr, nullptr,
            0);
    int32_t expected = 1;
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      return;
    }
  }
}

void Parker::Unpark() {
  if (state_.exchange(1, std::memory_order_release) == -1) {
    syscall(SYS_futex, Word(&state_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
            0);
  }
}

}  // namespace umcg_rpc::runtime::internal
