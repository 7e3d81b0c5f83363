#include "runtime/internal/parker.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>

#include "runtime/internal/clock.h"

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

bool Parker::ParkUntil(int64_t deadline_ns) {
  if (state_.fetch_sub(1, std::memory_order_acquire) == 1) return true;
  const timespec until = {.tv_sec = deadline_ns / 1000000000,
                          .tv_nsec = deadline_ns % 1000000000};
  while (true) {
    // Absolute CLOCK_MONOTONIC timeout (FUTEX_WAIT_BITSET; FUTEX_WAKE
    // matches any bitset).
    syscall(SYS_futex, Word(&state_), FUTEX_WAIT_BITSET_PRIVATE, -1, &until,
            nullptr, FUTEX_BITSET_MATCH_ANY);
    int32_t expected = 1;
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      return true;
    }
    if (MonotonicNanos() < deadline_ns) continue;
    // Timed out: back to empty, unless a token came meanwhile (then the
    // state is 1 and this thread is the only one to take it).
    expected = -1;
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_acquire,
                                       std::memory_order_acquire)) {
      return false;
    }
    state_.store(0, std::memory_order_relaxed);  // Read 1 (acquire): take it.
    return true;
  }
}

void Parker::Unpark() {
  if (state_.exchange(1, std::memory_order_release) == -1) {
    syscall(SYS_futex, Word(&state_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr,
            0);
  }
}

}  // namespace umcg_rpc::runtime::internal
