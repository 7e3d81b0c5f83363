#include "runtime/internal/parker.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
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

bool Parker::ParkFor(int64_t timeout_ns) {
  if (state_.fetch_sub(1, std::memory_order_acquire) == 1) return true;
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const int64_t start = int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
  // Saturates: a timeout past the end of time waits for ever, as Park().
  const int64_t deadline = timeout_ns > INT64_MAX - start
                               ? INT64_MAX
                               : start + std::max<int64_t>(timeout_ns, 0);
  while (true) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    const int64_t left =
        deadline - (int64_t{now.tv_sec} * 1000000000 + now.tv_nsec);
    if (left <= 0) {
      // -1 -> 0: no token came, and we no longer sleep. If the CAS fails,
      // Unpark() set 1 meanwhile (read with acquire, pairing with its
      // release): take that token.
      int32_t expected = -1;
      if (state_.compare_exchange_strong(expected, 0,
                                         std::memory_order_acquire)) {
        return false;
      }
      state_.exchange(0, std::memory_order_acquire);
      return true;
    }
    const timespec rel{static_cast<time_t>(left / 1000000000),
                       static_cast<long>(left % 1000000000)};  // NOLINT
    syscall(SYS_futex, Word(&state_), FUTEX_WAIT_PRIVATE, -1, &rel, nullptr, 0);
    int32_t expected = 1;
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      return true;
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
