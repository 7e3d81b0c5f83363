// When an open-loop load generator sends each request: a fixed schedule
// drawn up front from the target rate, never from when replies come back.
#ifndef UMCG_RPC_BENCH_LOADGEN_ARRIVALS_H_
#define UMCG_RPC_BENCH_LOADGEN_ARRIVALS_H_

#include <cstdint>
#include <random>

#include "absl/time/time.h"

namespace umcg_rpc::loadgen {

// How gaps between requests are drawn.
enum class ArrivalProcess {
  kConstant,  // Every 1/rate exactly.
  kPoisson,   // Exponential gaps with mean 1/rate (seeded: reproducible).
};

// Yields the intended send offsets from the start of a run.
class ArrivalSchedule {
 public:
  ArrivalSchedule(ArrivalProcess process, double rate_per_second,
                  uint64_t seed);

  // The offset of the next request; strictly non-decreasing.
  absl::Duration Next();

 private:
  ArrivalProcess process_;
  double mean_gap_seconds_;
  double elapsed_seconds_ = 0;
  uint64_t sent_ = 0;
  std::mt19937_64 rng_;
  std::exponential_distribution<double> exponential_;
};

}  // namespace umcg_rpc::loadgen

#endif  // UMCG_RPC_BENCH_LOADGEN_ARRIVALS_H_
