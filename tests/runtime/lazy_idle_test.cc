// Lazily idle CPUs (fallback backend): a CPU whose worker left it with
// nothing to run keeps its server thread asleep, and whoever has work for
// it next (a submitter, a worker whose block is over) runs a worker there
// without waking that thread.
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/blocking.h"
#include "runtime/event.h"
#include "runtime/scheduler.h"
#include "tests/runtime/test_util.h"

namespace umcg_rpc::runtime {
namespace {

using ::umcg_rpc::runtime::testing::kEventually;
using ::umcg_rpc::runtime::testing::MakeScheduler;
using ::umcg_rpc::runtime::testing::TestOptions;

// One server, no time slice. Each scenario depends on timing (whether a
// worker has pooled itself yet), so tests repeat it until it happened once.
class LazyIdleCpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::OnKernelBackend()) {
      GTEST_SKIP() << "the kernel backend has no lazily idle servers";
    }
    Options o = TestOptions(1);
    o.time_slice = absl::ZeroDuration();
    s_ = MakeScheduler(o);
    ASSERT_NE(s_, nullptr);
  }

  // The CPU stays usable afterwards, for tasks that queue behind a running
  // one too, and never runs two workers.
  void ExpectTheCpuStillWorks() {
    const uint64_t completed_before = s_->metrics().tasks_completed;
    Event release;
    auto first = s_->Submit(
        [&] { EXPECT_TRUE(release.WaitUntil(absl::Now() + kEventually)); });
    ASSERT_TRUE(first.ok());
    std::atomic<int> ran{0};
    std::vector<TaskHandle> queued;
    for (int i = 0; i < 20; ++i) {
      auto h = s_->Submit([&ran] { ran.fetch_add(1); });
      ASSERT_TRUE(h.ok());
      queued.push_back(*h);
    }
    release.Notify();
    EXPECT_TRUE(first->WaitUntil(absl::Now() + kEventually).ok());
    for (auto& h : queued) {
      EXPECT_TRUE(h.WaitUntil(absl::Now() + kEventually).ok());
    }
    EXPECT_EQ(ran.load(), 20);
    // Every task ran once, counted: the first and the twenty behind it.
    EXPECT_EQ(s_->metrics().tasks_completed - completed_before,
              static_cast<uint64_t>(ran.load()) + 1);
    EXPECT_LE(s_->metrics().max_running_observed, 1);
  }

  std::unique_ptr<Scheduler> s_;
};

// A finished task left the CPU idle; Submit starts the next task there.
TEST_F(LazyIdleCpuTest, SubmitStartsATaskThereDirectly) {
  for (int attempt = 0; attempt < 50 && s_->metrics().direct_dispatches == 0;
       ++attempt) {
    auto h = s_->Submit([] {});
    ASSERT_TRUE(h.ok());
    EXPECT_TRUE(h->WaitUntil(absl::Now() + kEventually).ok());
    absl::SleepFor(absl::Milliseconds(5));  // The worker pools itself.
  }
  EXPECT_GE(s_->metrics().direct_dispatches, 1u);
  ExpectTheCpuStillWorks();
}

// B finishes while A is blocked, leaving the CPU idle; A, woken, takes it.
TEST_F(LazyIdleCpuTest, AWokenWorkerTakesItDirectly) {
  for (int attempt = 0; attempt < 50 && s_->metrics().direct_wakes == 0;
       ++attempt) {
    Event b_done;
    auto a = s_->Submit([&] {
      BlockingScope scope;
      EXPECT_TRUE(b_done.WaitUntil(absl::Now() + kEventually));
      absl::SleepFor(absl::Milliseconds(20));  // B's worker goes idle.
    });
    ASSERT_TRUE(a.ok());
    auto b = s_->Submit([&] { b_done.Notify(); });
    ASSERT_TRUE(b.ok());
    EXPECT_TRUE(a->Wait().ok());
    EXPECT_TRUE(b->Wait().ok());
  }
  MetricsSnapshot m = s_->metrics();
  EXPECT_GE(m.direct_wakes, 1u);
  EXPECT_LE(m.direct_wakes, m.wakes);
  ExpectTheCpuStillWorks();
}

}  // namespace
}  // namespace umcg_rpc::runtime
