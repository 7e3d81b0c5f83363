// SpinCpu: burns the calling thread's CPU time and reports the work done.
#include "server/workload/spin.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace umcg_rpc::workload {
namespace {

TEST(SpinCpuTest, SpinsForItsCpuTime) {
  const SpinResult r = SpinCpu(absl::Milliseconds(2), [] { return false; });
  EXPECT_GT(r.iterations, 0u);
  EXPECT_FALSE(r.stopped_early);
}

TEST(SpinCpuTest, APositiveTimeShorterThanOneClockReadStillDoesWork) {
  // The thread's CPU clock passes the end before the first check; in the
  // guest an interrupt charged to the thread did that to a 2 ms spin.
  const SpinResult r = SpinCpu(absl::Nanoseconds(1), [] { return false; });
  EXPECT_GT(r.iterations, 0u);
  EXPECT_FALSE(r.stopped_early);
}

TEST(SpinCpuTest, NoTimeOrAStopDoesNone) {
  EXPECT_EQ(SpinCpu(absl::ZeroDuration(), [] { return false; }).iterations, 0u);
  const SpinResult stopped = SpinCpu(absl::Seconds(10), [] { return true; });
  EXPECT_EQ(stopped.iterations, 0u);
  EXPECT_TRUE(stopped.stopped_early);
}

}  // namespace
}  // namespace umcg_rpc::workload
