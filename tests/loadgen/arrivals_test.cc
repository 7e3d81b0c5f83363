#include "bench/loadgen/arrivals.h"

#include "gtest/gtest.h"

namespace umcg_rpc::loadgen {
namespace {

TEST(ArrivalScheduleTest, ConstantRateIsEvenlySpaced) {
  ArrivalSchedule s(ArrivalProcess::kConstant, 1000, 1);
  EXPECT_EQ(s.Next(), absl::ZeroDuration());
  EXPECT_EQ(s.Next(), absl::Milliseconds(1));
  for (int i = 2; i < 1000; ++i) s.Next();
  EXPECT_EQ(s.Next(), absl::Seconds(1));
}

TEST(ArrivalScheduleTest, PoissonHasTheAskedMeanRateAndIsReproducible) {
  ArrivalSchedule a(ArrivalProcess::kPoisson, 2000, 42);
  ArrivalSchedule b(ArrivalProcess::kPoisson, 2000, 42);
  absl::Duration last = absl::ZeroDuration();
  bool gaps_differ = false;
  absl::Duration previous_gap = absl::ZeroDuration();
  for (int i = 0; i < 100000; ++i) {
    absl::Duration t = a.Next();
    ASSERT_EQ(t, b.Next());
    ASSERT_GE(t, last);
    if (i > 1 && t - last != previous_gap) gaps_differ = true;
    previous_gap = t - last;
    last = t;
  }
  // 100000 arrivals at 2000/s take 50 s; the mean of 1e5 exponential gaps
  // is within 2% of its expectation with overwhelming probability.
  EXPECT_NEAR(absl::ToDoubleSeconds(last), 50.0, 1.0);
  EXPECT_TRUE(gaps_differ);
}

}  // namespace
}  // namespace umcg_rpc::loadgen
