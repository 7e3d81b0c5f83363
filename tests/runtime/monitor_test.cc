// The fallback monitor: uninstrumented blocking is detected and the CPU
// handed to another worker; CPU hogs are preempted at the time slice.
#include <unistd.h>

#include <atomic>

#include "gtest/gtest.h"
#include "runtime/blocking.h"
#include "runtime/internal/thread_stat.h"
#include "runtime/scheduler.h"
#include "tests/runtime/test_util.h"

namespace umcg_rpc::runtime {
namespace {

using ::umcg_rpc::runtime::testing::kEventually;
using ::umcg_rpc::runtime::testing::MakeScheduler;
using ::umcg_rpc::runtime::testing::SpinUntil;
using ::umcg_rpc::runtime::testing::TestOptions;

TEST(ThreadStatTest, ReadsOwnThread) {
  absl::StatusOr<internal::ThreadStat> st =
      internal::ReadThreadStat(static_cast<pid_t>(gettid()));
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->state, 'R');
  EXPECT_FALSE(internal::ReadThreadStat(999999999).ok());
}

// One server. A blocks in a raw read() the runtime cannot see; only B can
// unblock it. Without the monitor (fallback) or the kernel's block report
// (kernel backend) this would deadlock.
TEST(MonitorTest, CatchesUninstrumentedBlocking) {
  Options o = TestOptions(1);
  o.block_threshold = absl::Milliseconds(2);
  o.time_slice = absl::ZeroDuration();
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::atomic<bool> a_reading{false};
  char got = 0;
  auto a = s->Submit([&] {
    a_reading = true;
    ASSERT_EQ(read(fds[0], &got, 1), 1);  // Uninstrumented.
  });
  auto b = s->Submit([&] {
    // B can only start once the monitor took A's CPU away.
    ASSERT_EQ(write(fds[1], "x", 1), 1);
  });
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(b->WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_TRUE(a->WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_EQ(got, 'x');
  if (testing::OnKernelBackend()) {
    EXPECT_GE(s->metrics().blocks, 1u);  // Reported by the kernel.
  } else {
    EXPECT_GE(s->metrics().detected_blocks, 1u);
  }
  close(fds[0]);
  close(fds[1]);
}

// A CPU hog on the only server: the time slice lets the other task run.
TEST(MonitorTest, PreemptsACpuHog) {
  Options o = TestOptions(1);
  o.time_slice = absl::Milliseconds(5);
  o.block_threshold = absl::ZeroDuration();
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  std::atomic<bool> other_ran{false};
  bool hog_saw_other = false;
  auto hog =
      s->Submit([&] { hog_saw_other = SpinUntil(other_ran, kEventually); });
  auto other = s->Submit([&] { other_ran = true; });
  ASSERT_TRUE(hog.ok() && other.ok());
  EXPECT_TRUE(hog->Wait().ok());
  EXPECT_TRUE(other->Wait().ok());
  EXPECT_TRUE(hog_saw_other);
  MetricsSnapshot m = s->metrics();
  EXPECT_GE(m.preemptions, 1u);
  EXPECT_LE(m.max_running_observed, 1);
}

// With the time slice off, a hog keeps its CPU (preemption is optional).
TEST(MonitorTest, TimeSliceZeroDisablesPreemption) {
  Options o = TestOptions(1);
  o.time_slice = absl::ZeroDuration();
  o.block_threshold = absl::ZeroDuration();
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  std::atomic<bool> other_ran{false};
  bool hog_saw_other = true;
  auto hog = s->Submit(
      [&] { hog_saw_other = SpinUntil(other_ran, absl::Milliseconds(100)); });
  auto other = s->Submit([&] { other_ran = true; });
  ASSERT_TRUE(hog.ok() && other.ok());
  EXPECT_TRUE(hog->Wait().ok());
  EXPECT_TRUE(other->Wait().ok());
  EXPECT_FALSE(hog_saw_other);
  EXPECT_EQ(s->metrics().preemptions, 0u);
}

}  // namespace
}  // namespace umcg_rpc::runtime
