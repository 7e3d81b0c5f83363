#include "server/workload/spin.h"

#include <time.h>

namespace umcg_rpc::workload {
namespace {

// Iterations between clock reads: about a microsecond of work natively.
constexpr int kIterationsPerCheck = 256;

absl::Duration ThreadCpuTime() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

}  // namespace

SpinResult SpinCpu(absl::Duration cpu_time,
                   absl::FunctionRef<bool()> should_stop) {
  SpinResult result;
  const absl::Duration end = ThreadCpuTime() + cpu_time;
  // A xorshift-multiply chain: each step depends on the last, so the
  // compiler can neither drop nor vectorise it.
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  // At least one batch for a positive time: a thread's CPU clock can jump
  // past `end` between two reads (an interrupt charged to it; seen under
  // QEMU's emulation, where a 2 ms spin reported no work at all).
  if (cpu_time > absl::ZeroDuration()) {
    do {
      if (should_stop()) {
        result.stopped_early = true;
        break;
      }
      for (int i = 0; i < kIterationsPerCheck; ++i) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x *= 0x2545f4914f6cdd1dULL;
      }
      result.iterations += kIterationsPerCheck;
    } while (ThreadCpuTime() < end);
  }
  result.digest = x;
  return result;
}

}  // namespace umcg_rpc::workload
