// BlockingScope and the blocking wrappers: the CPU is released while
// blocked; sleeps, waits and reads honour cancellation and deadlines.
#include "runtime/blocking.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "runtime/event.h"
#include "runtime/io.h"
#include "runtime/scheduler.h"
#include "tests/runtime/test_util.h"

namespace umcg_rpc::runtime {
namespace {

using ::umcg_rpc::runtime::testing::AwaitRunnableWorkers;
using ::umcg_rpc::runtime::testing::kEventually;
using ::umcg_rpc::runtime::testing::MakeScheduler;
using ::umcg_rpc::runtime::testing::TestOptions;

// One server: if A kept the CPU while blocked, B could never run and A's
// wait would time out.
TEST(BlockingScopeTest, BlockingInAScopeFreesTheCpu) {
  Options o = TestOptions(1);
  o.time_slice = absl::ZeroDuration();
  o.block_threshold = absl::ZeroDuration();  // No monitor rescue.
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  Event b_ran;
  absl::Status a_status;
  auto a = s->Submit([&] {
    BlockingScope scope;
    // On the kernel backend the kernel sees the block; the scope is idle.
    EXPECT_EQ(scope.released(), !testing::OnKernelBackend());
    a_status = b_ran.WaitUntil(absl::Now() + kEventually)
                   ? absl::OkStatus()
                   : absl::DeadlineExceededError("B never ran");
  });
  auto b = s->Submit([&] { b_ran.Notify(); });
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->Wait().ok());
  EXPECT_TRUE(b->Wait().ok());
  EXPECT_TRUE(a_status.ok()) << a_status;
  MetricsSnapshot m = s->metrics();
  EXPECT_GE(m.blocks, 1u);
  EXPECT_GE(m.wakes, 1u);
  EXPECT_EQ(m.detected_blocks, 0u);
  EXPECT_LE(m.max_running_observed, 1);
}

// One server. A blocks; H takes the CPU; T1 and T2 queue; A's block ends
// while H still runs. When H finishes, A (a call already started) goes
// before T1 and T2, although they queued before A woke.
TEST(BlockingScopeTest, AWokenWorkerRunsBeforeQueuedTasks) {
  if (testing::OnKernelBackend()) {
    GTEST_SKIP() << "the kernel backend queues workers whose reported block "
                    "ended by age";
  }
  Options o = TestOptions(1);
  o.time_slice = absl::ZeroDuration();
  o.block_threshold = absl::ZeroDuration();
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  std::mutex mu;
  std::vector<char> order;
  auto record = [&](char c) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(c);
  };
  Event a_blocked, a_go, h_running;
  std::atomic<bool> h_release{false};
  auto a = s->Submit([&] {
    {
      BlockingScope scope;
      a_blocked.Notify();
      EXPECT_TRUE(a_go.WaitUntil(absl::Now() + kEventually));
    }
    record('A');
  });
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a_blocked.WaitUntil(absl::Now() + kEventually));
  auto h = s->Submit([&] {
    h_running.Notify();
    // Holds the CPU without blocking until A waits for it.
    while (!h_release.load()) {
    }
    record('H');
  });
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h_running.WaitUntil(absl::Now() + kEventually));
  auto t1 = s->Submit([&] { record('1'); });
  auto t2 = s->Submit([&] { record('2'); });
  ASSERT_TRUE(t1.ok() && t2.ok());
  a_go.Notify();
  EXPECT_EQ(AwaitRunnableWorkers(*s, 1), 1);
  h_release.store(true);
  for (auto* handle : {&*a, &*h, &*t1, &*t2}) {
    EXPECT_TRUE(handle->WaitUntil(absl::Now() + kEventually).ok());
  }
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(std::string(order.begin(), order.end()), "HA12");
}

TEST(BlockingScopeTest, NestedScopesReleaseOnce) {
  if (testing::OnKernelBackend()) {
    GTEST_SKIP() << "scopes release the CPU on the fallback backend only";
  }
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  auto h = s->Submit([] {
    BlockingScope outer;
    BlockingScope inner;
    EXPECT_TRUE(outer.released());
    EXPECT_FALSE(inner.released());
  });
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->Wait().ok());
  EXPECT_EQ(s->metrics().blocks, 1u);
}

// Callers read the wrapped call's errno after the scope: leaving it (which
// may wait for the CPU on a futex that fails with EAGAIN) must not change
// errno. Several workers on one CPU, so that leaving often has to wait.
TEST(BlockingScopeTest, LeavingAScopeKeepsErrno) {
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  constexpr int kTasks = 4;
  constexpr int kRounds = 10000;
  std::atomic<int> changed{0};
  std::vector<TaskHandle> hs;
  for (int t = 0; t < kTasks; ++t) {
    auto h = s->Submit([&changed, t] {
      const int sentinel = 10000 + t;  // No real errno is this large.
      for (int i = 0; i < kRounds; ++i) {
        {
          BlockingScope scope;
          errno = sentinel;
        }
        if (errno != sentinel) changed.fetch_add(1);
      }
    });
    ASSERT_TRUE(h.ok());
    hs.push_back(*std::move(h));
  }
  for (auto& h : hs) EXPECT_TRUE(h.Wait().ok());
  EXPECT_EQ(changed.load(), 0) << "of " << kTasks * kRounds << " scopes";
}

TEST(BlockingScopeTest, OffAWorkerItIsANoOp) {
  BlockingScope scope;
  EXPECT_FALSE(scope.released());
  EXPECT_TRUE(Sleep(absl::Milliseconds(1)).ok());
  EXPECT_FALSE(IsCancelled());
  EXPECT_EQ(CurrentDeadline(), absl::InfiniteFuture());
}

TEST(SleepTest, ManySleepersShareOneServer) {
  Options o = TestOptions(1);
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  std::atomic<int> done{0};
  std::vector<TaskHandle> hs;
  for (int i = 0; i < 50; ++i) {
    auto h = s->Submit([&] {
      EXPECT_TRUE(Sleep(absl::Milliseconds(20)).ok());
      done.fetch_add(1);
    });
    ASSERT_TRUE(h.ok());
    hs.push_back(*h);
  }
  for (auto& h : hs) EXPECT_TRUE(h.WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_EQ(done.load(), 50);
  // All 50 slept concurrently on one CPU: more workers than servers.
  EXPECT_GT(s->metrics().workers_created, 1u);
  EXPECT_LE(s->metrics().max_running_observed, 1);
}

TEST(SleepTest, CancellationInterruptsASleep) {
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  std::atomic<bool> sleeping{false};
  absl::Status slept;
  TaskOptions opts;
  auto h = s->Submit(
      [&] {
        sleeping = true;
        slept = Sleep(absl::Hours(1));
        EXPECT_TRUE(IsCancelled());
        EXPECT_EQ(CheckCancelled().code(), absl::StatusCode::kCancelled);
      },
      opts);
  ASSERT_TRUE(h.ok());
  while (!sleeping.load()) absl::SleepFor(absl::Milliseconds(1));
  h->Cancel();
  EXPECT_TRUE(h->Wait().ok());  // The task itself ran to completion.
  EXPECT_EQ(slept.code(), absl::StatusCode::kCancelled);
}

TEST(SleepTest, DeadlineCutsASleepShort) {
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  absl::Status slept;
  TaskOptions opts;
  // Long enough for the task to start even under TSan on a loaded machine
  // (else it would expire in the queue, a different path).
  opts.deadline = absl::Now() + absl::Seconds(1);
  auto h = s->Submit([&] { slept = Sleep(absl::Hours(1)); }, opts);
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->Wait().ok());
  EXPECT_EQ(slept.code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(AwaitTest, NotificationAndFutureWaitsReleaseTheCpu) {
  Options o = TestOptions(1);
  o.block_threshold = absl::ZeroDuration();
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  Event n;
  std::promise<int> p;
  std::future<int> f = p.get_future();
  absl::Status n_status, f_status;
  auto waiter = s->Submit([&] {
    n_status = AwaitEvent(n, absl::Now() + kEventually);
    f_status = AwaitFuture(f, absl::Now() + kEventually);
  });
  auto setter = s->Submit([&] {
    n.Notify();
    p.set_value(7);
  });
  ASSERT_TRUE(waiter.ok() && setter.ok());
  EXPECT_TRUE(waiter->Wait().ok());
  EXPECT_TRUE(n_status.ok()) << n_status;
  EXPECT_TRUE(f_status.ok()) << f_status;
  EXPECT_EQ(f.get(), 7);
}

// absl::Notification flavour (only atomics are shared: the system Abseil is
// not TSan-instrumented, so TSan cannot see the Notification's ordering).
TEST(AwaitTest, AbslNotificationWait) {
  Options o = TestOptions(1);
  o.block_threshold = absl::ZeroDuration();
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  absl::Notification n;
  std::atomic<int> code{-1};
  auto waiter = s->Submit([&] {
    code = static_cast<int>(
        AwaitNotification(n, absl::Now() + kEventually).code());
  });
  auto setter = s->Submit([&] { n.Notify(); });
  ASSERT_TRUE(waiter.ok() && setter.ok());
  EXPECT_TRUE(waiter->Wait().ok());
  EXPECT_TRUE(setter->Wait().ok());
  EXPECT_EQ(code.load(), 0);
}

TEST(AwaitTest, TimeoutAndCancellation) {
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  Event never;
  absl::Status timed, cancelled;
  CancellationToken token;
  TaskOptions opts;
  opts.cancellation = token;
  std::atomic<bool> second_phase{false};
  auto h = s->Submit(
      [&] {
        timed = AwaitEvent(never, absl::Now() + absl::Milliseconds(10));
        second_phase = true;
        cancelled = AwaitEvent(never);
      },
      opts);
  ASSERT_TRUE(h.ok());
  while (!second_phase.load()) absl::SleepFor(absl::Milliseconds(1));
  token.Cancel();
  EXPECT_TRUE(h->Wait().ok());
  EXPECT_EQ(timed.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(cancelled.code(), absl::StatusCode::kCancelled);
}

// Records the name of the thread that destroys it (moved-from copies do
// not count).
class DestructionProbe {
 public:
  explicit DestructionProbe(std::string* thread_name, Event* destroyed)
      : thread_name_(thread_name), destroyed_(destroyed) {}
  DestructionProbe(DestructionProbe&& other) noexcept
      : thread_name_(std::exchange(other.thread_name_, nullptr)),
        destroyed_(std::exchange(other.destroyed_, nullptr)) {}
  DestructionProbe& operator=(DestructionProbe&&) = delete;
  ~DestructionProbe() {
    if (thread_name_ == nullptr) return;
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof(name));
    *thread_name_ = name;
    destroyed_->Notify();
  }

 private:
  std::string* thread_name_;
  Event* destroyed_;
};

// A scheduler with one worker, held by a task until `release` is notified:
// whatever is submitted meanwhile stays queued. (Members in this order:
// the blocker's wait on `release` ends before `release` is destroyed.)
struct OneBusyWorker {
  OneBusyWorker() {
    Options o = TestOptions(1);
    o.max_workers = 1;
    scheduler = MakeScheduler(o);
    if (scheduler == nullptr) return;
    blocker =
        scheduler->Submit([this] { EXPECT_TRUE(AwaitEvent(release).ok()); });
  }

  Event release;
  std::unique_ptr<Scheduler> scheduler;
  absl::StatusOr<TaskHandle> blocker = absl::UnknownError("not submitted");
};

// The monitor's sweep takes a task whose deadline passes, or which is
// cancelled, out of the queue, and the keeper fails it, but neither runs
// its destructors or frees it: that could wait on a lock held by a
// preempted worker (malloc's, the application's), and the keeper must go
// on creating workers. A worker does it after its next task.
TEST(QueuedTaskTest, DeadlineAndCancellationBeforeStart) {
  OneBusyWorker busy;
  ASSERT_TRUE(busy.blocker.ok());
  Scheduler* s = busy.scheduler.get();
  std::atomic<int> ran{0};
  TaskOptions expiring;
  expiring.deadline = absl::Now() + absl::Milliseconds(5);
  std::string destroyed_on;
  Event destroyed;
  auto late = s->Submit(
      [&ran, probe = DestructionProbe(&destroyed_on, &destroyed)] {
        ran.fetch_add(1);
      },
      expiring);
  auto cancelled = s->Submit([&] { ran.fetch_add(1); });
  ASSERT_TRUE(late.ok() && cancelled.ok());
  cancelled->Cancel();
  // Both fail without running, while the only worker is still busy (the
  // monitor sweeps the queue).
  EXPECT_EQ(late->WaitUntil(absl::Now() + kEventually).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(cancelled->WaitUntil(absl::Now() + kEventually).code(),
            absl::StatusCode::kCancelled);
  busy.release.Notify();
  EXPECT_TRUE(busy.blocker->Wait().ok());
  EXPECT_EQ(ran.load(), 0);
  ASSERT_TRUE(destroyed.WaitUntil(absl::Now() + kEventually));
  EXPECT_EQ(destroyed_on, "umcg-worker");
  MetricsSnapshot m = s->metrics();
  EXPECT_EQ(m.tasks_expired, 1u);
  EXPECT_EQ(m.tasks_cancelled, 1u);
}

// With no deadline queued, the sweep walks the queue only when a token has
// been cancelled since its last walk, or a task came with its token
// already cancelled: both are still failed while the only worker is busy.
TEST(QueuedTaskTest, CancellationWithoutDeadlinesIsSwept) {
  OneBusyWorker busy;
  ASSERT_TRUE(busy.blocker.ok());
  Scheduler* s = busy.scheduler.get();
  std::atomic<int> ran{0};
  // `waiting` keeps the queue non-empty throughout, so every sweep looks.
  std::atomic<bool> waiting_ran{false};
  auto waiting = s->Submit([&] { waiting_ran = true; });
  ASSERT_TRUE(waiting.ok());
  // Sweeps with nothing to look for pass meanwhile.
  absl::SleepFor(absl::Milliseconds(30));
  auto queued = s->Submit([&] { ran.fetch_add(1); });
  ASSERT_TRUE(queued.ok());
  queued->Cancel();
  EXPECT_EQ(queued->WaitUntil(absl::Now() + kEventually).code(),
            absl::StatusCode::kCancelled);
  // A token cancelled before its task is queued, and a walk known to have
  // counted that cancellation: it swept `probe`, cancelled later.
  TaskOptions cancelled_first;
  cancelled_first.cancellation.Cancel();
  auto probe = s->Submit([&] { ran.fetch_add(1); });
  ASSERT_TRUE(probe.ok());
  probe->Cancel();
  EXPECT_EQ(probe->WaitUntil(absl::Now() + kEventually).code(),
            absl::StatusCode::kCancelled);
  auto late = s->Submit([&] { ran.fetch_add(1); }, cancelled_first);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->WaitUntil(absl::Now() + kEventually).code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(ran.load(), 0);
  EXPECT_FALSE(waiting_ran.load());
  busy.release.Notify();
  EXPECT_TRUE(busy.blocker->Wait().ok());
  EXPECT_TRUE(waiting->Wait().ok());
  EXPECT_TRUE(waiting_ran.load());
  EXPECT_EQ(s->metrics().tasks_cancelled, 3u);
}

TEST(YieldTest, YieldLetsTheOtherTaskRun) {
  Options o = TestOptions(1);
  o.time_slice = absl::ZeroDuration();
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  std::atomic<bool> other_ran{false};
  std::atomic<bool> a_started{false};
  bool saw_other = false;
  auto a = s->Submit([&] {
    a_started = true;
    for (int i = 0; i < 100000 && !other_ran.load(); ++i) {
      EXPECT_TRUE(Yield().ok());
    }
    saw_other = other_ran.load();
  });
  auto b = s->Submit([&] { other_ran = true; });
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->Wait().ok());
  EXPECT_TRUE(saw_other);
}

TEST(IoTest, ReadFileReturnsTheContents) {
  char path[] = "/tmp/umcg_rpc_io_testXXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string content;
  for (int i = 0; i < 20000; ++i) content += static_cast<char>('a' + i % 26);
  ASSERT_EQ(write(fd, content.data(), content.size()),
            static_cast<ssize_t>(content.size()));
  close(fd);
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  absl::StatusOr<std::string> got;
  absl::StatusOr<std::string> missing;
  auto h = s->Submit([&] {
    got = ReadFile(path);
    missing = ReadFile("/nonexistent/umcg_rpc");
  });
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(h->Wait().ok());
  unlink(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, content);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  // The fallback counts each wrapped read as a block; the kernel only the
  // reads that really sleep (a cached tmpfs file need not).
  if (!testing::OnKernelBackend()) {
    EXPECT_GE(s->metrics().blocks, 2u);
  }
  // Too large.
  absl::StatusOr<std::string> small = ReadFile("/proc/self/status", 8);
  EXPECT_EQ(small.status().code(), absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace umcg_rpc::runtime
