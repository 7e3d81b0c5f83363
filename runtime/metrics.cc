#include "runtime/metrics.h"

#include "absl/strings/str_cat.h"

namespace umcg_rpc::runtime {

uint64_t DelayHistogram::QuantileUpperBoundMicros(double q) const {
  uint64_t total = 0;
  for (uint64_t b : buckets) total += b;
  if (total == 0) return 0;
  const double target = q * static_cast<double>(total);
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets[i];
    if (static_cast<double>(seen) >= target) return uint64_t{1} << (i + 1);
  }
  return uint64_t{1} << kBuckets;
}

std::string MetricsSnapshot::DebugString() const {
  return absl::StrCat(
      "servers=", servers, " workers=", workers, " idle=", idle_workers,
      " running=", running_workers, " runnable=", runnable_workers,
      " blocked=", blocked_workers, " queued=", queued_tasks,
      " submitted=", tasks_submitted, " completed=", tasks_completed,
      " failed=", tasks_failed, " cancelled=", tasks_cancelled,
      " expired=", tasks_expired, " switches=", switches, " blocks=", blocks,
      " wakes=", wakes, " direct_wakes=", direct_wakes,
      " direct_dispatches=", direct_dispatches, " preemptions=", preemptions,
      " detected_blocks=", detected_blocks, " steals=", steals,
      " workers_created=", workers_created,
      " workers_retired=", workers_retired, " stack_trims=", stack_trims,
      " max_running=", max_running_observed,
      " queue_delay_p50_us<=", queue_delay.QuantileUpperBoundMicros(0.5),
      " queue_delay_p99_us<=", queue_delay.QuantileUpperBoundMicros(0.99));
}

}  // namespace umcg_rpc::runtime
