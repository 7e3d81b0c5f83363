// Shutdown: drain runs everything; cancel fails queued tasks and wakes
// blocked ones; destruction without Shutdown is safe.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
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

TEST(ShutdownTest, DrainRunsQueuedAndBlockedTasks) {
  auto s = MakeScheduler(TestOptions(2));
  ASSERT_NE(s, nullptr);
  std::atomic<int> done{0};
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(s->Submit([&, i] {
                   if (i % 10 == 0) {
                     EXPECT_TRUE(Sleep(absl::Milliseconds(5)).ok());
                   }
                   done.fetch_add(1);
                 }).ok());
  }
  ASSERT_TRUE(s->Shutdown(ShutdownMode::kDrain).ok());
  EXPECT_EQ(done.load(), 300);
}

TEST(ShutdownTest, CancelWakesBlockedTasksAndFailsQueuedOnes) {
  Options o = TestOptions(1);
  o.max_workers = 4;
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  std::atomic<int> started{0};
  std::atomic<int> saw_cancel{0};
  std::vector<TaskHandle> blocked, queued;
  for (int i = 0; i < 4; ++i) {
    auto h = s->Submit([&] {
      started.fetch_add(1);
      if (Sleep(absl::Hours(1)).code() == absl::StatusCode::kCancelled) {
        saw_cancel.fetch_add(1);
      }
    });
    ASSERT_TRUE(h.ok());
    blocked.push_back(*h);
  }
  while (started.load() < 4) absl::SleepFor(absl::Milliseconds(1));
  // All four workers are asleep and the cap is reached: these stay queued.
  for (int i = 0; i < 10; ++i) {
    auto h = s->Submit([] { ADD_FAILURE() << "queued task ran"; });
    ASSERT_TRUE(h.ok());
    queued.push_back(*h);
  }
  ASSERT_TRUE(s->Shutdown(ShutdownMode::kCancel).ok());
  EXPECT_EQ(saw_cancel.load(), 4);
  for (auto& h : blocked) EXPECT_TRUE(h.Wait().ok());
  for (auto& h : queued) {
    EXPECT_EQ(h.Wait().code(), absl::StatusCode::kCancelled);
  }
  EXPECT_EQ(s->metrics().tasks_cancelled, 10u);
}

// The runtime's threads in this process: those named "umcg-..." (servers,
// monitor, workers; a new thread inherits its creator's name until it sets
// its own, so it counts from the start). Counting every thread instead
// picked up, now and then in the guest, a thread of an earlier test that
// was joined but had not yet left /proc.
int RuntimeThreadCount() {
  int n = 0;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name) && name.rfind("umcg-", 0) == 0) ++n;
  }
  return n;
}

TEST(ShutdownTest, CancelDuringABurstOfSpawnsLeavesNoThreadBehind) {
  // Shut down while the monitor, and new workers helping it, are still
  // creating workers for a burst of blocking tasks: every thread created
  // must be collected, none created after.
  {
    auto s = MakeScheduler(TestOptions(2));
    ASSERT_NE(s, nullptr);
    std::atomic<int> started{0};
    for (int i = 0; i < 1000; ++i) {
      ASSERT_TRUE(s->Submit([&] {
                     started.fetch_add(1);
                     (void)Sleep(absl::Hours(1));
                   }).ok());
    }
    while (started.load() < 50) absl::SleepFor(absl::Microseconds(200));
    ASSERT_TRUE(s->Shutdown(ShutdownMode::kCancel).ok());
    EXPECT_GE(s->metrics().workers_created, 50u);
  }
  // A joined thread leaves /proc a moment later.
  const absl::Time until = absl::Now() + kEventually;
  while (RuntimeThreadCount() != 0 && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(RuntimeThreadCount(), 0);
}

TEST(ShutdownTest, DestructorCancelsAndJoins) {
  std::atomic<bool> started{false};
  TaskHandle h(nullptr);
  {
    auto s = MakeScheduler(TestOptions(1));
    ASSERT_NE(s, nullptr);
    auto sub = s->Submit([&] {
      started = true;
      EXPECT_EQ(Sleep(absl::Hours(1)).code(), absl::StatusCode::kCancelled);
    });
    ASSERT_TRUE(sub.ok());
    h = *sub;
    while (!started.load()) absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_TRUE(h.done());
}

TEST(ShutdownTest, ManySchedulersInSequence) {
  for (int i = 0; i < 20; ++i) {
    auto s = MakeScheduler(TestOptions(1 + i % 3));
    ASSERT_NE(s, nullptr);
    std::atomic<int> n{0};
    for (int j = 0; j < 20; ++j) {
      ASSERT_TRUE(s->Submit([&] { n.fetch_add(1); }).ok());
    }
    ASSERT_TRUE(s->Shutdown(ShutdownMode::kDrain).ok());
    EXPECT_EQ(n.load(), 20);
  }
}

}  // namespace
}  // namespace umcg_rpc::runtime
