// A log-linear latency histogram in the manner of HdrHistogram: values are
// exact below 128 ns and within 1/128 (0.8%) above, in fixed memory, and
// histograms from several threads merge exactly. Debian 12 packages no C++
// HdrHistogram, hence this small one.
#ifndef UMCG_RPC_BENCH_LOADGEN_HISTOGRAM_H_
#define UMCG_RPC_BENCH_LOADGEN_HISTOGRAM_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace umcg_rpc::loadgen {

// Counts of nanosecond values. Not thread-safe: keep one per thread, Merge.
class LatencyHistogram {
 public:
  // Sub-buckets per power of two: the relative resolution is 1/2^kSubBits.
  static constexpr int kSubBits = 7;
  static constexpr size_t kSubBuckets = size_t{1} << kSubBits;
  static constexpr size_t kBuckets = (64 - kSubBits + 1) * kSubBuckets;

  // One non-empty bucket: values in [lower, upper] were counted `count` times.
  struct Bucket {
    uint64_t lower;
    uint64_t upper;
    uint64_t count;
  };

  void Record(uint64_t nanos);
  void Merge(const LatencyHistogram& other);

  uint64_t count() const { return count_; }
  // Smallest and largest values recorded, exactly; 0 when empty.
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  // Exact sum and mean of the recorded values.
  uint64_t sum() const { return sum_; }
  double mean() const;

  // The value at or below which `percent` (0..100) of the values lie: the
  // upper bound of the bucket holding that rank, clamped to [min, max], so
  // never below the true percentile and at most 0.8% above it.
  uint64_t Percentile(double percent) const;

  // The non-empty buckets in increasing order.
  std::vector<Bucket> NonEmptyBuckets() const;

  // The bucket a value falls in, and that bucket's bounds; for tests.
  static size_t BucketIndex(uint64_t nanos);
  static uint64_t BucketLower(size_t index);
  static uint64_t BucketUpper(size_t index);

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace umcg_rpc::loadgen

#endif  // UMCG_RPC_BENCH_LOADGEN_HISTOGRAM_H_
