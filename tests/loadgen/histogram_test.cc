#include "bench/loadgen/histogram.h"

#include <algorithm>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace umcg_rpc::loadgen {
namespace {

TEST(LatencyHistogramTest, EmptyHistogramReportsZeros) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.Percentile(99), 0u);
  EXPECT_EQ(h.mean(), 0.0);
}

TEST(LatencyHistogramTest, BucketsTileTheValueRangeWithoutGaps) {
  for (size_t i = 0; i + 1 < LatencyHistogram::kBuckets; ++i) {
    ASSERT_EQ(LatencyHistogram::BucketUpper(i) + 1,
              LatencyHistogram::BucketLower(i + 1))
        << i;
  }
  EXPECT_EQ(LatencyHistogram::BucketUpper(LatencyHistogram::kBuckets - 1),
            UINT64_MAX);
}

TEST(LatencyHistogramTest, EveryValueFallsInItsBucketWithinResolution) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100000; ++i) {
    uint64_t v = rng() >> (rng() % 64);
    size_t b = LatencyHistogram::BucketIndex(v);
    ASSERT_LE(LatencyHistogram::BucketLower(b), v);
    ASSERT_GE(LatencyHistogram::BucketUpper(b), v);
    uint64_t width =
        LatencyHistogram::BucketUpper(b) - LatencyHistogram::BucketLower(b);
    ASSERT_LE(static_cast<double>(width),
              static_cast<double>(v) / LatencyHistogram::kSubBuckets + 1.0);
  }
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.Record(v);
  EXPECT_EQ(h.Percentile(50), 50u);
  EXPECT_EQ(h.Percentile(99), 99u);
  EXPECT_EQ(h.Percentile(100), 100u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 100u);
  EXPECT_DOUBLE_EQ(h.mean(), 50.5);
}

TEST(LatencyHistogramTest, PercentilesMatchSortedValuesWithinResolution) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(12.0, 1.5);  // ~160 us median.
  std::vector<uint64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 200000; ++i) {
    uint64_t v = static_cast<uint64_t>(dist(rng));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * values.size()));
    uint64_t exact = values[rank - 1];
    uint64_t got = h.Percentile(p);
    EXPECT_GE(got, exact) << p;
    EXPECT_LE(static_cast<double>(got),
              static_cast<double>(exact) * (1.0 + 1.0 / 128) + 1)
        << p;
  }
  EXPECT_EQ(h.Percentile(100), values.back());
  EXPECT_EQ(h.Percentile(0), values.front());
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram a, b, all;
  for (uint64_t v = 0; v < 5000; v += 3) {
    ((v / 3) % 2 ? a : b).Record(v * 997);
    all.Record(v * 997);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.sum(), all.sum());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double p : {50.0, 90.0, 99.0}) {
    EXPECT_EQ(a.Percentile(p), all.Percentile(p));
  }
  EXPECT_EQ(a.NonEmptyBuckets().size(), all.NonEmptyBuckets().size());
}

}  // namespace
}  // namespace umcg_rpc::loadgen
