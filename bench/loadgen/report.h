// The load generator's JSON report: ghz's report fields, so tools that read
// ghz reports read ours, plus what ghz lacks (p99.9, p99.99, late sends).
#ifndef UMCG_RPC_BENCH_LOADGEN_REPORT_H_
#define UMCG_RPC_BENCH_LOADGEN_REPORT_H_

#include <string>

#include "absl/time/time.h"
#include "bench/loadgen/load_runner.h"
#include "nlohmann/json.hpp"

namespace umcg_rpc::loadgen {

// Percentiles reported in latencyDistribution: ghz's seven, then ours.
inline constexpr double kReportedPercentiles[] = {10, 25, 50,   75,   90,
                                                  95, 99, 99.9, 99.99};

// Builds the report. Durations are integer nanoseconds, as in ghz;
// histogram marks are seconds, as in ghz.
nlohmann::json MakeReport(const std::string& name, const LoadOptions& options,
                          const std::string& call, const LoadResult& result,
                          absl::Time date);

}  // namespace umcg_rpc::loadgen

#endif  // UMCG_RPC_BENCH_LOADGEN_REPORT_H_
