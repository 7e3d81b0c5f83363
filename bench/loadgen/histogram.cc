#include "bench/loadgen/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace umcg_rpc::loadgen {

// Values below kSubBuckets get a bucket each. Above, a value whose highest
// set bit is e falls in octave e - kSubBits + 1, which holds kSubBuckets
// buckets of width 2^(e - kSubBits).
size_t LatencyHistogram::BucketIndex(uint64_t nanos) {
  if (nanos < kSubBuckets) return static_cast<size_t>(nanos);
  const int top_bit = 63 - std::countl_zero(nanos);
  const int shift = top_bit - kSubBits;
  const uint64_t sub = (nanos >> shift) - kSubBuckets;  // In [0, kSubBuckets).
  return static_cast<size_t>(shift + 1) * kSubBuckets + sub;
}

uint64_t LatencyHistogram::BucketLower(size_t index) {
  if (index < kSubBuckets) return index;
  const size_t shift = index / kSubBuckets - 1;
  const uint64_t sub = index % kSubBuckets;
  return (kSubBuckets + sub) << shift;
}

uint64_t LatencyHistogram::BucketUpper(size_t index) {
  if (index < kSubBuckets) return index;
  const size_t shift = index / kSubBuckets - 1;
  return BucketLower(index) + ((uint64_t{1} << shift) - 1);
}

void LatencyHistogram::Record(uint64_t nanos) {
  ++counts_[BucketIndex(nanos)];
  ++count_;
  sum_ += nanos;
  min_ = std::min(min_, nanos);
  max_ = std::max(max_, nanos);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

double LatencyHistogram::mean() const {
  return count_ == 0 ? 0.0
                     : static_cast<double>(sum_) / static_cast<double>(count_);
}

uint64_t LatencyHistogram::Percentile(double percent) const {
  if (count_ == 0) return 0;
  percent = std::clamp(percent, 0.0, 100.0);
  // The rank (1-based) of the value asked for.
  const uint64_t rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(
             std::ceil(percent / 100.0 * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(BucketUpper(i), min_, max_);
  }
  return max_;
}

std::vector<LatencyHistogram::Bucket> LatencyHistogram::NonEmptyBuckets()
    const {
  std::vector<Bucket> out;
  for (size_t i = 0; i < kBuckets; ++i) {
    if (counts_[i] != 0) {
      out.push_back({BucketLower(i), BucketUpper(i), counts_[i]});
    }
  }
  return out;
}

}  // namespace umcg_rpc::loadgen
