// Scheduler::DebugState(): the description names what is queued, running
// and blocked, so that a stalled runtime can be read from its log.
#include <atomic>
#include <initializer_list>
#include <string>

#include "absl/time/clock.h"
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

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Polls DebugState() until it contains every one of `parts`; returns the
// last description (the caller checks it).
std::string AwaitState(const Scheduler& s,
                       std::initializer_list<std::string> parts) {
  const absl::Time give_up = absl::Now() + kEventually;
  std::string state;
  while (absl::Now() < give_up) {
    state = s.DebugState();
    bool all = true;
    for (const std::string& p : parts) all = all && Contains(state, p);
    if (all) break;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return state;
}

TEST(DebugStateTest, NamesTheQueuedTheRunningAndTheBlocked) {
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  Event release_blocked;
  std::atomic<bool> spinning{false};
  std::atomic<bool> stop_spinning{false};
  // Blocked, off the only CPU.
  auto blocked = s->Submit([&] {
    ASSERT_TRUE(AwaitEvent(release_blocked, absl::InfiniteFuture()).ok());
  });
  ASSERT_TRUE(blocked.ok());
  // Holds the only CPU, so the next task stays queued.
  auto spinner = s->Submit([&] {
    spinning.store(true);
    while (!stop_spinning.load()) {
    }
  });
  ASSERT_TRUE(spinner.ok());
  const absl::Time give_up = absl::Now() + kEventually;
  while (!spinning.load() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_TRUE(spinning.load());
  auto queued = s->Submit([] {});
  ASSERT_TRUE(queued.ok());

  const std::string state =
      AwaitState(*s, {"queued tasks=1", "blocked with task",
                      "running with task", "server 0 tid"});
  EXPECT_TRUE(Contains(state, "backend: "));
  EXPECT_TRUE(Contains(state, "queued tasks=1 (oldest ")) << state;
  EXPECT_TRUE(Contains(state, "blocked with task")) << state;
  EXPECT_TRUE(Contains(state, "running with task")) << state;
  EXPECT_TRUE(Contains(state, "current=w")) << state;
  EXPECT_TRUE(Contains(state, "workers by state:")) << state;
  EXPECT_FALSE(Contains(state, "core mutex: still held")) << state;

  stop_spinning.store(true);
  release_blocked.Notify();
  EXPECT_TRUE(blocked->Wait().ok());
  EXPECT_TRUE(spinner->Wait().ok());
  EXPECT_TRUE(queued->Wait().ok());
  // Drained: nothing queued, no worker left with a task (the last ones
  // may still be on their way back to the pool just after Wait()).
  std::string drained = s->DebugState();
  const absl::Time drain_by = absl::Now() + kEventually;
  while (Contains(drained, "with task") && absl::Now() < drain_by) {
    absl::SleepFor(absl::Milliseconds(1));
    drained = s->DebugState();
  }
  EXPECT_FALSE(Contains(drained, "with task")) << drained;
  EXPECT_TRUE(Contains(drained, "queued tasks=0 runnable workers=0"))
      << drained;
}

TEST(DebugStateTest, CountsTheTimersOfSuspendedWaits) {
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  Event e;
  auto waiter = s->Submit(
      [&] { EXPECT_TRUE(WaitForEvent(e, absl::Now() + kEventually)); });
  ASSERT_TRUE(waiter.ok());
  std::string state = AwaitState(*s, {"timers=1 "});
  EXPECT_TRUE(Contains(state, "timers=1 ")) << state;
  e.Notify();
  EXPECT_TRUE(waiter->Wait().ok());
  state = s->DebugState();
  EXPECT_TRUE(Contains(state, "timers=0 ")) << state;
}

TEST(DebugStateTest, NamesTheLastReleaserAfterItRetired) {
  Options o = TestOptions(1);
  o.worker_idle_timeout = absl::Milliseconds(1);
  auto s = MakeScheduler(std::move(o));
  ASSERT_NE(s, nullptr);
  auto done = s->Submit([] {});
  ASSERT_TRUE(done.ok());
  ASSERT_TRUE(done->Wait().ok());
  // The worker released the CPU when its task ended; now it retires and
  // is freed while the server still remembers who released it last.
  const absl::Time give_up = absl::Now() + kEventually;
  while (s->metrics().workers_retired == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(s->metrics().workers_retired, 1u);
  // Under ASan, reading the freed worker here was a use after free.
  const std::string state = s->DebugState();
  EXPECT_TRUE(Contains(state, "server 0 tid")) << state;
  EXPECT_TRUE(Contains(state, " by w")) << state;
}

}  // namespace
}  // namespace umcg_rpc::runtime
