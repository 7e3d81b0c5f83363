#include "bench/loadgen/report.h"

#include <cstdint>

#include "absl/time/time.h"
#include "bench/loadgen/load_runner.h"
#include "gtest/gtest.h"

namespace umcg_rpc::loadgen {
namespace {

LoadResult ThreeMeasuredOfSeven() {
  LoadResult result;
  for (uint64_t nanos : {1000, 2000, 3000}) {
    result.all.Record(nanos);
    result.ok.Record(nanos);
  }
  result.status_codes["OK"] = 3;
  result.calls_including_warmup = 7;
  result.window = absl::Seconds(1);
  return result;
}

TEST(ReportTest, CountsTheMeasuredCallsAndEveryCallApart) {
  LoadOptions options;
  options.warmup = absl::Milliseconds(500);
  const nlohmann::json report =
      MakeReport("run", options, "umcgrpc.v1.Workload/Echo",
                 ThreeMeasuredOfSeven(), absl::UnixEpoch());
  EXPECT_EQ(report.at("count").get<uint64_t>(), 3u);
  EXPECT_EQ(report.at("callsIncludingWarmup").get<uint64_t>(), 7u);
  EXPECT_EQ(report.at("statusCodeDistribution").at("OK").get<uint64_t>(), 3u);
  EXPECT_DOUBLE_EQ(report.at("okRps").get<double>(), 3.0);
}

}  // namespace
}  // namespace umcg_rpc::loadgen
