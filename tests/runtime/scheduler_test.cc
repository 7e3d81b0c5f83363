// Scheduler basics: creation, options, exactly-once execution, misuse.
#include "runtime/scheduler.h"

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/blocking.h"
#include "runtime/event.h"
#include "tests/runtime/test_util.h"

namespace umcg_rpc::runtime {
namespace {

using ::umcg_rpc::runtime::testing::kEventually;
using ::umcg_rpc::runtime::testing::MakeScheduler;
using ::umcg_rpc::runtime::testing::TestOptions;

TEST(ParseBackendKindTest, AcceptsTheThreeFlagValues) {
  EXPECT_EQ(*ParseBackendKind("auto"), BackendKind::kAuto);
  EXPECT_EQ(*ParseBackendKind("kernel"), BackendKind::kKernel);
  EXPECT_EQ(*ParseBackendKind("fallback"), BackendKind::kFallback);
  absl::StatusOr<BackendKind> bad = ParseBackendKind("umcg");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("auto, kernel or fallback"),
            std::string::npos);
}

TEST(SchedulerTest, RejectsBadOptions) {
  Options o = TestOptions(1);
  o.max_workers = 0;
  EXPECT_EQ(Scheduler::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = TestOptions(-1);
  EXPECT_EQ(Scheduler::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = TestOptions(1);
  o.time_slice = absl::Milliseconds(-1);
  EXPECT_EQ(Scheduler::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SchedulerTest, DefaultServerCountIsTheCpuCount) {
  Options o = TestOptions(0);
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->servers(),
            static_cast<int>(std::thread::hardware_concurrency()));
  EXPECT_EQ(s->backend(), testing::TestBackend());
}

TEST(SchedulerTest, AutoLogsItsChoiceAndReason) {
  std::vector<std::string> lines;
  Options o = TestOptions(1);
  o.backend = BackendKind::kAuto;
  o.logger = [&](absl::string_view line) { lines.emplace_back(line); };
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines[0].find("backend="), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("auto:"), std::string::npos) << lines[0];
  EXPECT_NE(s->backend_reason().find("auto:"), std::string::npos);
}

TEST(SchedulerTest, EveryTaskRunsExactlyOnce) {
  auto s = MakeScheduler(TestOptions(2));
  ASSERT_NE(s, nullptr);
  constexpr int kTasks = 5000;
  std::vector<std::atomic<int>> runs(kTasks);
  std::vector<TaskHandle> handles;
  handles.reserve(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    auto h = s->Submit([&runs, i] { runs[i].fetch_add(1); });
    ASSERT_TRUE(h.ok()) << h.status();
    handles.push_back(*h);
  }
  for (auto& h : handles) EXPECT_TRUE(h.Wait().ok());
  for (int i = 0; i < kTasks; ++i) ASSERT_EQ(runs[i].load(), 1) << i;
  MetricsSnapshot m = s->metrics();
  EXPECT_EQ(m.tasks_submitted, static_cast<uint64_t>(kTasks));
  EXPECT_EQ(m.tasks_completed, static_cast<uint64_t>(kTasks));
  EXPECT_LE(m.max_running_observed, 2);
}

TEST(SchedulerTest, ConcurrentSubmittersAndNestedSubmits) {
  auto s = MakeScheduler(TestOptions(2));
  ASSERT_NE(s, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::atomic<int> outer{0}, inner{0};
  std::vector<std::thread> submitters;
  submitters.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        auto h = s->Submit([&] {
          outer.fetch_add(1);
          // Submitting from a worker is allowed.
          auto child = s->Submit([&] { inner.fetch_add(1); });
          EXPECT_TRUE(child.ok());
        });
        EXPECT_TRUE(h.ok());
      }
    });
  }
  for (auto& t : submitters) t.join();
  ASSERT_TRUE(s->Shutdown(ShutdownMode::kDrain).ok());
  EXPECT_EQ(outer.load(), kThreads * kPerThread);
  EXPECT_EQ(inner.load(), kThreads * kPerThread);
}

TEST(SchedulerTest, ThrowingTaskIsReportedNotFatal) {
  std::atomic<int> logged{0};
  Options o = TestOptions(1);
  o.logger = [&](absl::string_view) { logged.fetch_add(1); };
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  auto bad = s->Submit([] { throw std::runtime_error("boom"); });
  ASSERT_TRUE(bad.ok());
  absl::Status st = bad->Wait();
  EXPECT_EQ(st.code(), absl::StatusCode::kInternal);
  EXPECT_NE(st.message().find("boom"), std::string::npos);
  // The worker survived and keeps running tasks.
  std::atomic<bool> ran{false};
  auto good = s->Submit([&] { ran = true; });
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(good->Wait().ok());
  EXPECT_TRUE(ran.load());
  EXPECT_EQ(s->metrics().tasks_failed, 1u);
}

TEST(SchedulerTest, MisuseGetsClearErrors) {
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->Submit(Task()).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Worker-only API off a worker.
  absl::Status y = Yield();
  EXPECT_EQ(y.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(OnWorker());
  // Shutdown from inside a worker.
  absl::Status inner;
  auto h = s->Submit([&] { inner = s->Shutdown(); });
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->Wait().ok());
  EXPECT_EQ(inner.code(), absl::StatusCode::kFailedPrecondition);
  // Submit after shutdown.
  ASSERT_TRUE(s->Shutdown().ok());
  ASSERT_TRUE(s->Shutdown().ok());  // Idempotent.
  absl::StatusOr<TaskHandle> late = s->Submit([] {});
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SchedulerTest, QueueLimitAnswersResourceExhausted) {
  Options o = TestOptions(1);
  o.max_queued_tasks = 4;
  o.max_workers = 1;
  o.time_slice = absl::ZeroDuration();
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  Event release;
  std::atomic<bool> started{false};
  auto blocker = s->Submit([&] {
    started = true;
    EXPECT_TRUE(AwaitEvent(release).ok());
  });
  ASSERT_TRUE(blocker.ok());
  while (!started.load()) absl::SleepFor(absl::Milliseconds(1));
  // The only worker is busy: the next tasks queue, up to the limit.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(s->Submit([] {}).ok());
  EXPECT_EQ(s->Submit([] {}).status().code(),
            absl::StatusCode::kResourceExhausted);
  release.Notify();
  ASSERT_TRUE(s->Shutdown(ShutdownMode::kDrain).ok());
  EXPECT_EQ(s->metrics().tasks_completed, 5u);
}

TEST(SchedulerTest, WorkersAreReusedAndCapped) {
  Options o = TestOptions(2);
  o.max_workers = 3;
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  std::vector<TaskHandle> hs;
  for (int i = 0; i < 200; ++i) {
    auto h =
        s->Submit([] { EXPECT_TRUE(Sleep(absl::Microseconds(200)).ok()); });
    ASSERT_TRUE(h.ok());
    hs.push_back(*h);
  }
  for (auto& h : hs) EXPECT_TRUE(h.WaitUntil(absl::Now() + kEventually).ok());
  MetricsSnapshot m = s->metrics();
  EXPECT_LE(m.workers_created, 3u);
  EXPECT_LE(m.workers, 3);
  EXPECT_EQ(m.tasks_completed, 200u);
}

TEST(SchedulerTest, ABurstOfBlockingTasksGetsOneWorkerEach) {
  // Every task blocks until all have started, so each needs a worker of its
  // own, created during the burst in growing batches by the monitor and by
  // new workers helping it. A lost spawn request would hang here.
  constexpr int kTasks = 400;
  // Declared before the scheduler, which cancels its waiters on the way out.
  Event all_started;
  Options o = TestOptions(2);
  o.max_workers = 2 * kTasks;
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  std::atomic<int> started{0};
  std::vector<TaskHandle> hs;
  for (int i = 0; i < kTasks; ++i) {
    auto h = s->Submit([&] {
      if (started.fetch_add(1) + 1 == kTasks) all_started.Notify();
      EXPECT_TRUE(AwaitEvent(all_started).ok());
    });
    ASSERT_TRUE(h.ok());
    hs.push_back(*h);
  }
  ASSERT_TRUE(all_started.WaitUntil(absl::Now() + kEventually))
      << started.load() << " of " << kTasks << " started";
  for (auto& h : hs) EXPECT_TRUE(h.WaitUntil(absl::Now() + kEventually).ok());
  const MetricsSnapshot m = s->metrics();
  EXPECT_EQ(m.tasks_completed, static_cast<uint64_t>(kTasks));
  EXPECT_GE(m.workers_created, static_cast<uint64_t>(kTasks));
  // A batch is at most twice the one before, all of whose workers were
  // taken by waiting tasks: the excess is below the demand.
  EXPECT_LT(m.workers_created, static_cast<uint64_t>(2 * kTasks));
}

TEST(SchedulerTest, WorkerStartHookRunsOnceOnEachWorkerBeforeItsTasks) {
  static thread_local bool started = false;
  std::atomic<int> hooks{0};
  std::atomic<int> tasks_without_hook{0};
  Options o = TestOptions(2);
  o.min_workers = 2;
  o.max_workers = 4;
  o.on_worker_start = [&] {
    EXPECT_FALSE(started) << "hook ran twice on one thread";
    started = true;
    hooks.fetch_add(1);
  };
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  std::vector<TaskHandle> hs;
  for (int i = 0; i < 50; ++i) {
    auto h = s->Submit([&] {
      if (!started) tasks_without_hook.fetch_add(1);
      EXPECT_TRUE(Sleep(absl::Microseconds(300)).ok());
    });
    ASSERT_TRUE(h.ok());
    hs.push_back(*h);
  }
  for (auto& h : hs) EXPECT_TRUE(h.WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_EQ(tasks_without_hook.load(), 0);
  // A worker created for the burst may still be starting (its hook not yet
  // run) after the last task ended.
  const absl::Time until = absl::Now() + kEventually;
  while (static_cast<uint64_t>(hooks.load()) != s->metrics().workers_created &&
         absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(static_cast<uint64_t>(hooks.load()), s->metrics().workers_created);
  EXPECT_GE(hooks.load(), 2);
}

TEST(SchedulerTest, IdleWorkersAreRetired) {
  Options o = TestOptions(1);
  o.worker_idle_timeout = absl::Milliseconds(20);
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  auto h = s->Submit([] {});
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->Wait().ok());
  const absl::Time until = absl::Now() + kEventually;
  while (s->metrics().workers > 0 && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(s->metrics().workers, 0);
  EXPECT_GE(s->metrics().workers_retired, 1u);
  // And the pool grows again on demand.
  auto again = s->Submit([] {});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->Wait().ok());
}

TEST(SchedulerTest, MetricsDebugStringHasTheCounters) {
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  auto h = s->Submit([] {});
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->Wait().ok());
  const std::string text = s->metrics().DebugString();
  for (const char* key :
       {"running=", "blocked=", "idle=", "switches=", "direct_dispatches=",
        "preemptions=", "queue_delay_p99_us"}) {
    EXPECT_NE(text.find(key), std::string::npos) << key;
  }
}

}  // namespace
}  // namespace umcg_rpc::runtime
