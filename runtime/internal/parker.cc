#include "runtime/internal/parker.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "runtime/internal/clock.h"

namespace umcg_rpc::runtime::internal {
namespace {

// The futex word is the atomic's storage (std::atomic<int32_t> is lock-free
// and layout-compatible with int32_t on Linux).
int32_t* Word(std::atomic<int32_t>* a) { return reinterpret_cast<int32_t*>(a); }

}  // namespace

void Parker::Park() { Wait(nullptr); }

bool Parker::ParkUntil(int64_t deadline_ns) {
  if (deadline_ns == INT64_MAX) return Wait(nullptr);
  const timespec deadline{
      static_cast<time_t>(deadline_ns / 1000000000),
      static_cast<long>(deadline_ns % 1000000000)};  // NOLINT
  return Wait(&deadline);
}

bool Parker::ParkFor(int64_t timeout_ns) {
  return ParkUntil(MonotonicDeadline(timeout_ns));
}

bool Parker::Wait(const timespec* deadline) {
  // 1 -> 0: token consumed without sleeping; 0 -> -1: must sleep.
  if (state_.fetch_sub(1, std::memory_order_acquire) == 1) return true;
  while (true) {
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so a
    // spurious wake-up needs no time arithmetic.
    const bool timed_out =
        syscall(SYS_futex, Word(&state_), FUTEX_WAIT_BITSET_PRIVATE, -1,
                deadline, nullptr, FUTEX_BITSET_MATCH_ANY) != 0 &&
        errno == ETIMEDOUT;
    int32_t expected = 1;
    if (state_.compare_exchange_strong(expected, 0, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      return true;
    }
    if (timed_out) {
      // -1 -> 0: no token came, and we no longer sleep. If the CAS fails,
      // Unpark() set 1 meanwhile (read with acquire, pairing with its
      // release): take that token.
      expected = -1;
      if (state_.compare_exchange_strong(expected, 0,
                                         std::memory_order_acquire)) {
        return false;
      }
      state_.exchange(0, std::memory_order_acquire);
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
