#include "bench/loadgen/arrivals.h"

namespace umcg_rpc::loadgen {

ArrivalSchedule::ArrivalSchedule(ArrivalProcess process, double rate_per_second,
                                 uint64_t seed)
    : process_(process),
      mean_gap_seconds_(1.0 / rate_per_second),
      rng_(seed),
      exponential_(rate_per_second) {}

absl::Duration ArrivalSchedule::Next() {
  if (process_ == ArrivalProcess::kConstant) {
    // Multiply rather than accumulate, so rounding never drifts.
    return absl::Seconds(static_cast<double>(sent_++) * mean_gap_seconds_);
  }
  const double at = elapsed_seconds_;
  elapsed_seconds_ += exponential_(rng_);
  ++sent_;
  return absl::Seconds(at);
}

}  // namespace umcg_rpc::loadgen
