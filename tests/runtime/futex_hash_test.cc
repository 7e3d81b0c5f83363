// Sizing the process's futex hash (runtime/futex_hash.h), and the
// scheduler doing it for its workers. Skipped on kernels without
// PR_FUTEX_HASH (before 6.16, the UMCG guest's 6.12 among them).
#include "runtime/futex_hash.h"

#include <climits>
#include <cstdlib>

#include "gtest/gtest.h"
#include "runtime/scheduler.h"
#include "tests/runtime/test_util.h"

namespace umcg_rpc::runtime {
namespace {

using ::umcg_rpc::runtime::testing::MakeScheduler;
using ::umcg_rpc::runtime::testing::TestOptions;

// The kernel's own answer: buckets of the private table, 0 for the global
// one (or none yet), -1 without PR_FUTEX_HASH.
int KernelBuckets() { return FutexHashBuckets().value_or(-1); }

#define SKIP_WITHOUT_PR_FUTEX_HASH()                         \
  if (KernelBuckets() < 0) {                                 \
    GTEST_SKIP() << "kernel without PR_FUTEX_HASH (< 6.16)"; \
  }

// Where only the global table exists there is nothing to size: 0, not an
// error (this runs in the UMCG guest, whose 6.12 kernel predates 6.16).
TEST(FutexHashTest, WithoutPrFutexHashTheGlobalTableIsReported) {
  if (KernelBuckets() >= 0) GTEST_SKIP() << "kernel has PR_FUTEX_HASH";
  absl::StatusOr<int> buckets = EnsureFutexHashBuckets(3000);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  EXPECT_EQ(*buckets, 0);
}

TEST(FutexHashTest, GrowsToThreadsRoundedUpToAPowerOfTwo) {
  SKIP_WITHOUT_PR_FUTEX_HASH();
  absl::StatusOr<int> buckets = EnsureFutexHashBuckets(3000);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  if (*buckets == 0) GTEST_SKIP() << "process on the global futex table";
  EXPECT_GE(*buckets, 4096);
  EXPECT_EQ(*buckets & (*buckets - 1), 0) << *buckets;
  EXPECT_EQ(KernelBuckets(), *buckets);
}

TEST(FutexHashTest, NeverShrinks) {
  SKIP_WITHOUT_PR_FUTEX_HASH();
  absl::StatusOr<int> large = EnsureFutexHashBuckets(3000);
  ASSERT_TRUE(large.ok()) << large.status();
  absl::StatusOr<int> small = EnsureFutexHashBuckets(1);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(*small, *large);
  EXPECT_EQ(KernelBuckets(), *large);
}

TEST(FutexHashTest, CapsTheTable) {
  SKIP_WITHOUT_PR_FUTEX_HASH();
  absl::StatusOr<int> buckets = EnsureFutexHashBuckets(INT_MAX);
  ASSERT_TRUE(buckets.ok()) << buckets.status();
  EXPECT_LE(*buckets, kMaxFutexHashBuckets);
  EXPECT_EQ(KernelBuckets(), *buckets);
}

// In a fresh process (the table only grows, and the tests above grew this
// one's): exit code 0 if creating a scheduler for 5000 workers left the
// table at 8192 buckets or more, 1 if smaller, 2 if it could not start.
void CreateSchedulerAndExit(bool size_futex_hash) {
  Options o = TestOptions(1);
  o.max_workers = 5000;
  o.size_futex_hash = size_futex_hash;
  auto s = MakeScheduler(std::move(o));
  if (s == nullptr) std::_Exit(2);
  const int buckets = KernelBuckets();
  std::_Exit(buckets >= 8192 ? 0 : 1);
}

TEST(FutexHashDeathTest, SchedulerSizesTheTableForItsWorkers) {
  SKIP_WITHOUT_PR_FUTEX_HASH();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(CreateSchedulerAndExit(true), ::testing::ExitedWithCode(0), "");
}

TEST(FutexHashDeathTest, SchedulerLeavesTheTableAloneWhenAsked) {
  SKIP_WITHOUT_PR_FUTEX_HASH();
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(CreateSchedulerAndExit(false), ::testing::ExitedWithCode(1), "");
}

}  // namespace
}  // namespace umcg_rpc::runtime
