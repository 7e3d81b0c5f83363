// Options::idle_stack_trim_delay: a worker left idle that long gives back
// the stack pages its task's deep calls made resident, and keeps them
// otherwise.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "runtime/blocking.h"
#include "runtime/internal/thread_stack.h"
#include "runtime/scheduler.h"
#include "tests/runtime/test_util.h"

namespace umcg_rpc::runtime {
namespace {

using ::umcg_rpc::runtime::testing::kEventually;
using ::umcg_rpc::runtime::testing::MakeScheduler;
using ::umcg_rpc::runtime::testing::TestOptions;

constexpr size_t kDeepBytes = size_t{64} * 1024;

// Where a task's deep call went: the pages well below the task's own frame.
struct DeepRange {
  uintptr_t low = 0;
  uintptr_t high = 0;  // Exclusive; 0 if the range was not on the stack.
};

// True if `p` lies on the calling thread's stack (not, say, on a
// sanitizer's fake stack).
bool OnThisThreadsStack(uintptr_t p) {
  absl::StatusOr<internal::StackRange> stack = internal::CurrentStack();
  return stack.ok() && p >= stack->low && p < stack->high;
}

// Touches kDeepBytes of stack below the caller, then returns. Records the
// whole pages of that buffer except the two nearest the caller's frame.
ABSL_ATTRIBUTE_NOINLINE void GoDeep(DeepRange* out) {
  volatile char buffer[kDeepBytes];
  const int64_t page = sysconf(_SC_PAGESIZE);
  for (size_t i = 0; i < kDeepBytes; i += static_cast<size_t>(page)) {
    buffer[i] = 1;
  }
  const auto start = reinterpret_cast<uintptr_t>(&buffer[0]);
  if (!OnThisThreadsStack(start)) return;
  out->low = (start + page - 1) & ~static_cast<uintptr_t>(page - 1);
  out->high =
      (start + kDeepBytes - 2 * page) & ~static_cast<uintptr_t>(page - 1);
}

// Resident pages of [range.low, range.high).
int ResidentPages(const DeepRange& range) {
  const int64_t page = sysconf(_SC_PAGESIZE);
  const size_t pages = (range.high - range.low) / static_cast<size_t>(page);
  std::vector<unsigned char> vec(pages);
  void* low =
      reinterpret_cast<void*>(range.low);  // NOLINT(performance-no-int-to-ptr)
  EXPECT_EQ(mincore(low, range.high - range.low, vec.data()), 0);
  int resident = 0;
  for (unsigned char v : vec) resident += v & 1;
  return resident;
}

// What became of a deep task's stack pages once its worker was idle.
struct Outcome {
  bool started = false;
  bool on_stack = false;
  int total_pages = 0;
  int resident_pages = 0;
  uint64_t stack_trims = 0;
};

// Runs one task that goes deep on a one-worker scheduler with the given
// delay, then waits: until a trim is counted if `expect_trim`, else for
// `idle` (several delays, to give a wrong trim its chance).
Outcome RunDeepTask(absl::Duration delay, bool expect_trim,
                    absl::Duration idle = absl::Milliseconds(100)) {
  Options o = TestOptions(1);
  o.min_workers = 1;
  o.max_workers = 1;
  o.idle_stack_trim_delay = delay;
  auto s = MakeScheduler(o);
  Outcome out;
  if (s == nullptr) return out;
  out.started = true;
  DeepRange range;
  auto h = s->Submit([&range] { GoDeep(&range); });
  EXPECT_TRUE(h.ok() && h->Wait().ok());
  if (expect_trim) {
    const absl::Time until = absl::Now() + kEventually;
    while (s->metrics().stack_trims == 0 && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  } else {
    absl::SleepFor(idle);
  }
  out.on_stack = range.high > range.low;
  if (out.on_stack) {
    const int64_t page = sysconf(_SC_PAGESIZE);
    out.total_pages =
        static_cast<int>(static_cast<int64_t>(range.high - range.low) / page);
    out.resident_pages = ResidentPages(range);
  }
  out.stack_trims = s->metrics().stack_trims;
  EXPECT_TRUE(s->Shutdown(ShutdownMode::kDrain).ok());
  return out;
}

TEST(StackTrimTest, AWorkerIdleLongerThanTheDelayGivesItsDeepPagesBack) {
  if (testing::OnKernelBackend()) {
    GTEST_SKIP() << "kernel-backend workers wait for work inside the kernel "
                    "and do not trim when idle";
  }
  const Outcome out = RunDeepTask(absl::Milliseconds(1), /*expect_trim=*/true);
  ASSERT_TRUE(out.started);
  if (!out.on_stack) GTEST_SKIP() << "stack buffers are not on the stack here";
  ASSERT_GT(out.total_pages, 8);
  EXPECT_EQ(out.resident_pages, 0) << "of " << out.total_pages;
  EXPECT_EQ(out.stack_trims, 1u);
}

// Trimming is asked for once per idle period: a worker reused after a
// trim, and left idle again, trims again (here the same one worker).
TEST(StackTrimTest, AWorkerTrimsAgainAfterItsNextTask) {
  if (testing::OnKernelBackend()) {
    GTEST_SKIP() << "kernel-backend workers do not trim when idle";
  }
  Options o = TestOptions(1);
  o.min_workers = 1;
  o.max_workers = 1;
  o.idle_stack_trim_delay = absl::Milliseconds(1);
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  for (uint64_t round = 1; round <= 2; ++round) {
    DeepRange range;
    auto h = s->Submit([&range] { GoDeep(&range); });
    ASSERT_TRUE(h.ok() && h->Wait().ok());
    if (range.high <= range.low) {
      GTEST_SKIP() << "stack buffers are not on the stack here";
    }
    const absl::Time until = absl::Now() + kEventually;
    while (s->metrics().stack_trims < round && absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    EXPECT_EQ(s->metrics().stack_trims, round);
    EXPECT_EQ(ResidentPages(range), 0) << "round " << round;
  }
  EXPECT_TRUE(s->Shutdown(ShutdownMode::kDrain).ok());
}

// A task that lasted the whole delay (a long sleep, say) most likely
// leaves its worker cold: the worker trims as it goes idle, without
// waiting out the delay to be asked.
TEST(StackTrimTest, AWorkerTrimsAsItGoesIdleAfterATaskLongerThanTheDelay) {
  if (testing::OnKernelBackend()) {
    GTEST_SKIP() << "kernel-backend workers do not trim";
  }
  constexpr absl::Duration kDelay = absl::Milliseconds(200);
  Options o = TestOptions(1);
  o.min_workers = 1;
  o.max_workers = 1;
  o.idle_stack_trim_delay = kDelay;
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  DeepRange range;
  const absl::Duration task_length = kDelay + absl::Milliseconds(50);
  auto h = s->Submit([&range, task_length] {
    GoDeep(&range);
    EXPECT_TRUE(Sleep(task_length).ok());
  });
  ASSERT_TRUE(h.ok() && h->Wait().ok());
  const absl::Time idle_since = absl::Now();
  if (range.high <= range.low) {
    GTEST_SKIP() << "stack buffers are not on the stack here";
  }
  // Well within the delay: only a trim made unasked can have come.
  while (s->metrics().stack_trims == 0 &&
         absl::Now() < idle_since + kDelay / 2) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  const bool idle_less_than_delay = absl::Now() - idle_since < kDelay;
  EXPECT_EQ(s->metrics().stack_trims, 1u);
  EXPECT_EQ(ResidentPages(range), 0);
  EXPECT_TRUE(idle_less_than_delay);
  EXPECT_TRUE(s->Shutdown(ShutdownMode::kDrain).ok());
}

// The same task, trimming off: the pages stay resident (this is what makes
// the test above able to fail; on the kernel backend, which trims no idle
// worker, it only shows that nothing else releases them).
TEST(StackTrimTest, WithTrimmingOffTheDeepPagesStayResident) {
  const Outcome out = RunDeepTask(absl::ZeroDuration(), /*expect_trim=*/false);
  ASSERT_TRUE(out.started);
  if (!out.on_stack) GTEST_SKIP() << "stack buffers are not on the stack here";
  ASSERT_GT(out.total_pages, 8);
  EXPECT_EQ(out.resident_pages, out.total_pages);
  EXPECT_EQ(out.stack_trims, 0u);
}

// Idle for less than the delay: the worker is likely to run the next task
// (the idle pool is a stack), and keeps its pages.
TEST(StackTrimTest, AWorkerIdleShorterThanTheDelayKeepsItsPages) {
  const Outcome out = RunDeepTask(absl::Seconds(30), /*expect_trim=*/false);
  ASSERT_TRUE(out.started);
  if (!out.on_stack) GTEST_SKIP() << "stack buffers are not on the stack here";
  ASSERT_GT(out.total_pages, 8);
  EXPECT_EQ(out.resident_pages, out.total_pages);
  EXPECT_EQ(out.stack_trims, 0u);
}

}  // namespace
}  // namespace umcg_rpc::runtime
