// The core invariant: never more RUNNING workers than servers, checked by a
// counter inside the tasks' CPU sections while they block and wake a lot.
#include <atomic>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/blocking.h"
#include "runtime/scheduler.h"
#include "tests/runtime/test_util.h"

namespace umcg_rpc::runtime {
namespace {

using ::umcg_rpc::runtime::testing::InvariantCounter;
using ::umcg_rpc::runtime::testing::kEventually;
using ::umcg_rpc::runtime::testing::MakeScheduler;
using ::umcg_rpc::runtime::testing::Spin;
using ::umcg_rpc::runtime::testing::TestOptions;

class InvariantTest : public ::testing::TestWithParam<int> {};

TEST_P(InvariantTest, NeverMoreRunningThanServers) {
  const int servers = GetParam();
  Options o = TestOptions(servers);
  // A time slice would park a task inside its counted section; this test
  // checks the hand-off protocol, the stress test covers preemption.
  o.time_slice = absl::ZeroDuration();
  o.block_threshold = absl::Milliseconds(200);
  o.max_workers = 64;
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  InvariantCounter counter;
  std::atomic<int> finished{0};
  constexpr int kTasks = 400;
  std::vector<TaskHandle> hs;
  for (int i = 0; i < kTasks; ++i) {
    auto h = s->Submit([&, i] {
      for (int round = 0; round < 3; ++round) {
        counter.Enter();
        Spin(absl::Microseconds(20 + (i % 7) * 10));
        counter.Exit();
        if ((i + round) % 3 == 0) {
          EXPECT_TRUE(Sleep(absl::Microseconds(100 * (i % 5))).ok());
        } else {
          BlockingScope scope;
          Spin(absl::Microseconds(30));  // "Blocked": not counted.
        }
      }
      finished.fetch_add(1);
    });
    ASSERT_TRUE(h.ok());
    hs.push_back(*h);
  }
  for (auto& h : hs) ASSERT_TRUE(h.WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_EQ(finished.load(), kTasks);
  EXPECT_LE(counter.max(), servers);
  ASSERT_TRUE(s->Shutdown().ok());  // Workers release after Complete().
  MetricsSnapshot m = s->metrics();
  EXPECT_LE(m.max_running_observed, servers);
  EXPECT_EQ(m.running_workers, 0);
  if (testing::OnKernelBackend()) {
    // The kernel reports real blocks only: every task sleeps once, but one
    // in five for zero time, and a short timer may expire before the
    // thread gets to sleep.
    EXPECT_GE(m.blocks, static_cast<uint64_t>(kTasks / 2));
  } else {
    EXPECT_GE(m.blocks, static_cast<uint64_t>(kTasks));
  }
}

INSTANTIATE_TEST_SUITE_P(Servers, InvariantTest, ::testing::Values(1, 2, 3));

}  // namespace
}  // namespace umcg_rpc::runtime
