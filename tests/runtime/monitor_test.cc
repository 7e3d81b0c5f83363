// The fallback monitor: uninstrumented blocking is detected and the CPU
// handed to another worker; CPU hogs are preempted at the time slice. And
// the scheduling policies of the monitor, the servers and the workers; the
// monitor rests when there is nothing to watch, and goes on while worker
// creation waits on a lock.
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/blocking.h"
#include "runtime/event.h"
#include "runtime/internal/thread_stat.h"
#include "runtime/scheduler.h"
#include "runtime/thread_policy.h"
#include "tests/common/thread_policies.h"
#include "tests/runtime/test_util.h"

namespace umcg_rpc::runtime {
namespace {

using ::umcg_rpc::runtime::testing::AwaitRunnableWorkers;
using ::umcg_rpc::runtime::testing::kEventually;
using ::umcg_rpc::runtime::testing::MakeScheduler;
using ::umcg_rpc::runtime::testing::Spin;
using ::umcg_rpc::runtime::testing::SpinUntil;
using ::umcg_rpc::runtime::testing::TestOptions;
using ::umcg_rpc::testing::PoliciesOfThreadsNamed;

// The policy a task sees on its worker, and the monitor's and the only
// server's once a task has run: the server dispatched it, so it had set
// its policy by then. The monitor may still be starting (the keeper, not
// the monitor, spawned the worker): wait for it to name itself, which it
// does once its policy is set.
struct Policies {
  std::vector<int> monitor;
  std::vector<int> server;
  int worker = -1;
};

Policies PoliciesAfterOneTask(Options o) {
  o.min_workers = 0;
  // One worker: a second one, spawned meanwhile, would carry the monitor's
  // name until it renames itself.
  o.max_workers = 1;
  auto s = MakeScheduler(std::move(o));
  Policies p;
  if (s == nullptr) return p;
  auto t = s->Submit([&p] { p.worker = sched_getscheduler(0); });
  EXPECT_TRUE(t.ok() && t->Wait().ok());
  const absl::Time until = absl::Now() + kEventually;
  while (PoliciesOfThreadsNamed(getpid(), "umcg-monitor").empty() &&
         absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  p.monitor = PoliciesOfThreadsNamed(getpid(), "umcg-monitor");
  p.server = PoliciesOfThreadsNamed(getpid(), "umcg-server-0");
  return p;
}

// The runtime switches policies only under a SCHED_OTHER creator.
bool CreatorIsSchedOther() {
  return (sched_getscheduler(0) & ~SCHED_RESET_ON_FORK) == SCHED_OTHER;
}

TEST(RuntimeThreadsTest, MonitorAndFallbackServersRunAsBatchByDefault) {
  if (!CreatorIsSchedOther()) GTEST_SKIP() << "test process not SCHED_OTHER";
  Policies p = PoliciesAfterOneTask(TestOptions(1));
  EXPECT_THAT(p.monitor, ::testing::ElementsAre(SCHED_BATCH));
  // A kernel-backend server must run as soon as the kernel wakes it.
  const int server = testing::OnKernelBackend() ? SCHED_OTHER : SCHED_BATCH;
  EXPECT_THAT(p.server, ::testing::ElementsAre(server));
  EXPECT_EQ(p.worker, SCHED_OTHER);  // Task code keeps the normal policy.
}

TEST(RuntimeThreadsTest, BatchRuntimeThreadsOffKeepsTheNormalPolicy) {
  if (!CreatorIsSchedOther()) GTEST_SKIP() << "test process not SCHED_OTHER";
  Options o = TestOptions(1);
  o.batch_runtime_threads = false;
  Policies p = PoliciesAfterOneTask(std::move(o));
  EXPECT_THAT(p.monitor, ::testing::ElementsAre(SCHED_OTHER));
  EXPECT_THAT(p.server, ::testing::ElementsAre(SCHED_OTHER));
  EXPECT_EQ(p.worker, SCHED_OTHER);
}

TEST(RuntimeThreadsTest, ANonNormalCreatorsPolicyIsKept) {
  // Under a SCHED_BATCH creator every runtime thread keeps SCHED_BATCH,
  // workers included (a SCHED_OTHER creator's workers are SCHED_OTHER).
  std::thread creator([] {
    ASSERT_TRUE(UseBatchPolicy(pthread_self()).ok());
    Policies p = PoliciesAfterOneTask(TestOptions(1));
    EXPECT_THAT(p.monitor, ::testing::ElementsAre(SCHED_BATCH));
    EXPECT_THAT(p.server, ::testing::ElementsAre(SCHED_BATCH));
    EXPECT_EQ(p.worker, SCHED_BATCH);
  });
  creator.join();
}

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

// Context switches so far of this process's threads named `name`: how
// often they went to sleep or were preempted.
int64_t SwitchesOfThreadsNamed(const std::string& name) {
  int64_t switches = 0;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string thread_name;
    std::getline(comm, thread_name);
    if (thread_name != name) continue;
    std::ifstream status(task.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.find("ctxt_switches:") == std::string::npos) continue;
      switches += std::stoll(line.substr(line.find(':') + 1));
    }
  }
  return switches;
}

// A scheduler that ran one task and has been idle since, long enough for
// its monitor to rest (past the quiet ticks and the worker's stack trim);
// nullptr if it could not start.
std::unique_ptr<Scheduler> RestedScheduler(Options o) {
  auto s = MakeScheduler(std::move(o));
  if (s == nullptr) return nullptr;
  auto t = s->Submit([] {});
  if (!t.ok() || !t->Wait().ok()) return nullptr;
  absl::SleepFor(absl::Milliseconds(300));
  return s;
}

// With nothing to run and nothing due (no stack to trim, no worker to
// retire above min_workers), the monitor sleeps until something happens
// rather than polling: polling every tick would be about a thousand
// wake-ups in the half second measured.
TEST(MonitorTest, AnIdleSchedulersMonitorSleeps) {
  Options o = TestOptions(1);
  o.min_workers = 1;
  o.max_workers = 1;
  auto s = RestedScheduler(o);
  ASSERT_NE(s, nullptr);
  const int64_t before = SwitchesOfThreadsNamed("umcg-monitor");
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_LT(SwitchesOfThreadsNamed("umcg-monitor") - before, 20);
}

// As CatchesUninstrumentedBlocking, but with the monitor resting first,
// and no worker to create (which would wake it): the dispatch of A must
// wake it, or nothing ever gives A's CPU to B.
TEST(MonitorTest, ARestingMonitorStillCatchesUninstrumentedBlocking) {
  Options o = TestOptions(1);
  o.block_threshold = absl::Milliseconds(2);
  o.time_slice = absl::ZeroDuration();
  o.min_workers = 2;
  o.max_workers = 2;
  auto s = RestedScheduler(o);
  ASSERT_NE(s, nullptr);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  char got = 0;
  auto a = s->Submit([&] {
    ASSERT_EQ(read(fds[0], &got, 1), 1);  // Uninstrumented.
  });
  auto b = s->Submit([&] { ASSERT_EQ(write(fds[1], "x", 1), 1); });
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(b->WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_TRUE(a->WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_EQ(got, 'x');
  close(fds[0]);
  close(fds[1]);
}

// One server. A blocks uninstrumented (so the monitor declares it lost and
// gives its CPU to B), then B wakes it while B keeps the CPU. A now runs
// without a CPU; the monitor must stop it (reclaim it with the signal) and,
// once B is done, queue it again so that it finishes.
TEST(MonitorTest, ReclaimsALostWorkerThatWokeAndRequeuesIt) {
  if (testing::OnKernelBackend()) {
    GTEST_SKIP() << "the kernel reports blocks: no worker is ever lost";
  }
  Options o = TestOptions(1);
  o.block_threshold = absl::Milliseconds(2);
  o.time_slice = absl::ZeroDuration();  // B keeps the CPU until it is done.
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::atomic<uint64_t> a_progress{0};
  std::atomic<bool> b_done{false};
  auto a = s->Submit([&] {
    char got = 0;
    ASSERT_EQ(read(fds[0], &got, 1), 1);  // Uninstrumented: A gets lost.
    while (!b_done.load()) a_progress.fetch_add(1);  // Runs without a CPU.
  });
  bool a_stopped = false;
  auto b = s->Submit([&] {
    // B runs only once the monitor took A's CPU away; it never blocks, so
    // the only server stays B's until B returns.
    ASSERT_EQ(write(fds[1], "x", 1), 1);
    // A, woken, runs on the other CPU until the signal stops it (possibly
    // before its first step, if it was slow to get that CPU).
    const absl::Time give_up = absl::Now() + kEventually;
    while (!a_stopped && absl::Now() < give_up) {
      const uint64_t before = a_progress.load();
      const absl::Time until = absl::Now() + absl::Milliseconds(50);
      while (absl::Now() < until) {
      }
      a_stopped = a_progress.load() == before;
    }
    b_done = true;
  });
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(b->WaitUntil(absl::Now() + 2 * kEventually).ok());
  EXPECT_TRUE(a_stopped) << "a lost worker that woke kept running";
  // Reclaimed A finishes only if the monitor queued it again.
  EXPECT_TRUE(a->WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_GE(s->metrics().detected_blocks, 1u);
  close(fds[0]);
  close(fds[1]);
}

// True once no server's CPU is held by a worker (every one is free or
// lazily idle); false if that is still not so after `patience`.
bool EveryCpuIsFree(const Scheduler& s, absl::Duration patience) {
  const absl::Time give_up = absl::Now() + patience;
  while (true) {
    if (s.DebugState().find(": current=w") == std::string::npos) return true;
    if (absl::Now() >= give_up) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
}

// The monitor takes the CPU of a worker asleep on it. Once declared lost,
// the worker may wake, pool itself and be dispatched on the other CPU
// before the monitor releases the first one: the monitor must still
// release the CPU the worker lost, not the one it now runs on. Here the
// monitor dawdles 200 ms before the release (on_lost_for_testing) while
// the worker wakes within 30 ms and a second task is submitted as soon as
// its first one is done; the idle pool is a stack, so the lost worker,
// pooled last, usually runs it. Releasing the wrong CPU left the first one
// held by an idle worker for good, and Shutdown() hung on its server.
TEST(MonitorTest, ALostWorkerRedispatchedElsewhereFreesTheCpuItLost) {
  if (testing::OnKernelBackend()) {
    GTEST_SKIP() << "the kernel reports blocks: no worker is ever lost";
  }
  Options o = TestOptions(2);
  o.block_threshold = absl::Milliseconds(2);
  o.time_slice = absl::ZeroDuration();
  o.min_workers = 2;
  struct Progress {
    std::atomic<int> losses{0};
    std::atomic<bool> released{false};
  };
  // Shared with the hook, which outlives this frame if the check fails.
  auto progress = std::make_shared<Progress>();
  o.on_lost_for_testing = [progress] {
    if (progress->losses.fetch_add(1) > 0) return;
    absl::SleepFor(absl::Milliseconds(200));
    progress->released = true;  // Just before the release, in fact.
  };
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  // Asleep until the monitor notices (a busy machine may take more than
  // one sleep), then done.
  auto sleeper = s->Submit([&progress] {
    for (int i = 0; i < 100 && progress->losses.load() == 0; ++i) {
      absl::SleepFor(absl::Milliseconds(30));
    }
  });
  ASSERT_TRUE(sleeper.ok());
  ASSERT_TRUE(sleeper->WaitUntil(absl::Now() + kEventually).ok());
  ASSERT_GE(progress->losses.load(), 1) << "the sleeper was never lost";
  auto second = s->Submit(
      [&progress] { SpinUntil(progress->released, absl::Seconds(5)); });
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(second->WaitUntil(absl::Now() + kEventually).ok());
  const bool freed = EveryCpuIsFree(*s, absl::Seconds(10));
  EXPECT_TRUE(freed) << s->DebugState();
  if (!freed) {
    // Shutdown() would wait forever for the held CPU's server: leave the
    // scheduler behind rather than hang the suite.
    (void)s.release();
  }
}

// A dispatcher (here a worker handing its CPU on as it blocks) picks the
// next worker under the run-queue mutex, marks it RUNNING and wakes it
// after releasing the mutex. A worker already pooled but still awake
// after its last task sees RUNNING and runs without that wake-up: it can
// finish and go idle before the wake-up lands. The monitor must not
// retire and free it meanwhile. Here the victim's thread stays awake after
// its first task until the wake-up of its next dispatch is held back
// (before_wake_for_testing), and the wake-up waits until the victim's
// thread is gone or a second has passed; idle workers retire after 50 ms
// (the monitor looks every 100 ms), long enough for the setup to pool
// the victim and dispatch it again under sanitizers.
// Without the guard the monitor joined the thread and the late wake-up
// wrote freed memory.
TEST(MonitorTest, AWorkerWithAWakeUpStillDueIsNotRetired) {
  if (testing::OnKernelBackend()) {
    GTEST_SKIP() << "the kernel switches to a worker: no late wake-up";
  }
  Options o = TestOptions(1);
  o.time_slice = absl::ZeroDuration();
  o.block_threshold = absl::ZeroDuration();
  o.worker_idle_timeout = absl::Milliseconds(50);
  struct Shared {
    Event victim_may_go;
    std::atomic<int> tails{0};
    std::atomic<bool> armed{false};
    std::atomic<int> held{0};
    std::atomic<pid_t> victim_tid{0};
    std::atomic<bool> victim_gone{false};
  };
  // Shared with the hooks, which outlive this frame if a check fails.
  auto shared = std::make_shared<Shared>();
  o.after_task_for_testing = [shared] {
    // The first task to end is the victim's: it stays pooled and awake.
    if (shared->tails.fetch_add(1) == 0) {
      shared->victim_may_go.WaitUntil(absl::Now() + kEventually);
    }
  };
  o.before_wake_for_testing = [shared] {
    if (!shared->armed.load() || shared->held.fetch_add(1) != 0) return;
    shared->victim_may_go.Notify();
    const std::string task =
        absl::StrCat("/proc/self/task/", shared->victim_tid.load());
    const absl::Time limit = absl::Now() + absl::Seconds(1);
    while (absl::Now() < limit) {
      if (!std::filesystem::exists(task)) {
        shared->victim_gone = true;
        return;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  };
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  Event r_blocked, r_go;
  std::atomic<bool> r_resumed{false}, t2_queued{false};
  std::atomic<bool> t0_running{false}, t0_release{false};
  // R blocks, so that it is queued as woken when the victim's first task
  // ends, and then blocks again with the victim's second task queued.
  auto r = s->Submit([&] {
    {
      BlockingScope scope;
      r_blocked.Notify();
      EXPECT_TRUE(r_go.WaitUntil(absl::Now() + kEventually));
    }
    r_resumed = true;
    EXPECT_TRUE(SpinUntil(t2_queued, kEventually));
    BlockingScope scope;  // Picks the victim; its wake-up is held.
  });
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r_blocked.WaitUntil(absl::Now() + kEventually));
  auto t0 = s->Submit([&] {
    shared->victim_tid = static_cast<pid_t>(gettid());
    t0_running = true;
    SpinUntil(t0_release, kEventually);
  });
  ASSERT_TRUE(t0.ok());
  // T0 needs a new worker, the victim. Once it holds the only CPU, R's
  // block may end: R then waits as runnable.
  ASSERT_TRUE(SpinUntil(t0_running, kEventually));
  r_go.Notify();
  // R waits for the CPU, which the victim gives it as its task ends.
  ASSERT_EQ(AwaitRunnableWorkers(*s, 1), 1);
  t0_release = true;
  ASSERT_TRUE(SpinUntil(r_resumed, kEventually));
  std::atomic<pid_t> t2_tid{0};
  auto t2 = s->Submit([&] { t2_tid = static_cast<pid_t>(gettid()); });
  ASSERT_TRUE(t2.ok());
  shared->armed = true;
  t2_queued = true;
  EXPECT_TRUE(t2->WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_TRUE(r->WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_TRUE(t0->WaitUntil(absl::Now() + kEventually).ok());
  ASSERT_GE(shared->held.load(), 1) << "no wake-up was held back";
  ASSERT_EQ(t2_tid.load(), shared->victim_tid.load())
      << "the second task ran on another worker: the case did not arise";
  EXPECT_FALSE(shared->victim_gone.load())
      << "the monitor retired a worker whose wake-up was still due";
}

// A worker that finished a task is pooled, and may be dispatched for the
// next one at once, before its thread has done its last steps (freeing the
// task). If the thread sleeps there (on malloc's lock, say, held by a worker
// waiting for a CPU), the CPU must not wait for it: the monitor revokes the
// dispatch and the worker queues again once awake (the kernel backend
// reports the block). Here the sleep lasts until a third task has run on
// the only server: without the revocation, it never does.
TEST(MonitorTest, AWorkerAsleepBeforeStartingItsDispatchDoesNotKeepTheCpu) {
  Options o = TestOptions(1);
  o.block_threshold = absl::Milliseconds(2);
  Event third_ran;
  std::atomic<int> tails{0};
  o.after_task_for_testing = [&] {
    if (tails.fetch_add(1) == 0) third_ran.Wait();  // The first task's.
  };
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  std::atomic<bool> queued{false};
  // Holds the only CPU until the other two are queued, so that its worker,
  // pooled, is dispatched at once for the second task.
  auto first = s->Submit([&] {
    while (!queued.load()) {
    }
  });
  auto second = s->Submit([] {});
  auto third = s->Submit([&] { third_ran.Notify(); });
  ASSERT_TRUE(first.ok() && second.ok() && third.ok());
  queued = true;
  EXPECT_TRUE(third->WaitUntil(absl::Now() + kEventually).ok())
      << "the CPU waited for a worker asleep before starting its dispatch";
  third_ran.Notify();  // Lets the first worker go on if the check failed.
  EXPECT_TRUE(second->WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_TRUE(first->WaitUntil(absl::Now() + kEventually).ok());
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

// The monitor takes back CPUs from workers asleep on a lock that a parked
// (preempted) worker holds, and preempts: it must never wait for such a
// lock itself. Creating, joining and freeing workers do (malloc's arena
// locks, in pthread_create() and pthread_join()), so they run on another
// thread. Here P holds M and runs until it has been preempted twice after
// S was queued. P's first preemption lets the server pick S, which needs a
// new worker, and that creation waits for M (before_chores_for_testing,
// as a malloc() would); only a second preemption lets P release M. When
// the monitor created workers itself it waited there and P never got its
// second preemption: how a W5 server once stopped for good (session 22).
TEST(MonitorTest, WorkerCreationWaitingOnALockDoesNotStopTheMonitor) {
  Options o = TestOptions(1);
  o.min_workers = 1;  // P's worker; S needs a new one.
  o.time_slice = absl::Milliseconds(5);
  struct Shared {
    std::mutex m;
    std::atomic<bool> p_holds{false};
    std::atomic<bool> armed{false};
    std::atomic<uint64_t> preemptions_at_arming{0};
    std::atomic<bool> gave_up{false};
  };
  // Shared with the hook, which outlives this frame if the check fails.
  auto shared = std::make_shared<Shared>();
  o.before_chores_for_testing = [shared] {
    if (!shared->p_holds.load()) return;
    std::lock_guard<std::mutex> wait_for_p(shared->m);
  };
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  Scheduler& sched = *s;
  auto p = s->Submit([&sched, shared] {
    std::lock_guard<std::mutex> lock(shared->m);
    shared->p_holds = true;
    const auto give_up =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!shared->armed.load() ||
           sched.metrics().preemptions < shared->preemptions_at_arming + 2) {
      if (std::chrono::steady_clock::now() >= give_up) {
        shared->gave_up = true;
        break;
      }
    }
    shared->p_holds = false;
  });
  ASSERT_TRUE(p.ok());
  std::atomic<bool> s_ran{false};
  {
    // Queued while P holds M, before P's next preemption.
    ASSERT_TRUE(SpinUntil(shared->p_holds, kEventually)) << "P never started";
    auto task_s = s->Submit([&s_ran] { s_ran = true; });
    ASSERT_TRUE(task_s.ok());
    shared->preemptions_at_arming = s->metrics().preemptions;
    shared->armed = true;
    ASSERT_TRUE(p->WaitUntil(absl::Now() + kEventually).ok());
    ASSERT_TRUE(task_s->WaitUntil(absl::Now() + kEventually).ok());
  }
  EXPECT_FALSE(shared->gave_up.load())
      << "P was not preempted twice in 10 s: the monitor waited for M\n"
      << s->DebugState();
  EXPECT_TRUE(s_ran.load());
}

// The monitor's sweep only unlinks a queued task whose deadline passed;
// the keeper completes it. Completing takes the task's event mutex, which
// a parked waiter may hold, and the monitor must never wait for such a
// lock. Here Q expires behind P, which holds the only CPU: while the
// keeper is held (before_chores_for_testing) Q stays unfinished, and once
// the keeper goes on, Q ends with DEADLINE_EXCEEDED. Until session 22 the
// monitor completed it (within a sweep, every 10 ms).
TEST(MonitorTest, TheKeeperCompletesATaskSweptFromTheQueue) {
  Options o = TestOptions(1);
  o.time_slice = absl::ZeroDuration();
  o.block_threshold = absl::ZeroDuration();
  o.min_workers = 1;
  struct Shared {
    std::atomic<bool> armed{false};
    Event keeper_may_go;
    std::atomic<bool> release_p{false};
  };
  // Shared with the hook, which outlives this frame if a check fails.
  auto shared = std::make_shared<Shared>();
  o.before_chores_for_testing = [shared] {
    if (shared->armed.load()) {
      shared->keeper_may_go.WaitUntil(absl::Now() + absl::Seconds(10));
    }
  };
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  shared->armed = true;
  auto p = s->Submit([shared] { SpinUntil(shared->release_p, kEventually); });
  ASSERT_TRUE(p.ok());
  TaskOptions q_options;
  q_options.deadline = absl::Now() + absl::Milliseconds(20);
  auto q = s->Submit([] {}, q_options);
  ASSERT_TRUE(q.ok());
  // Twenty sweeps.
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_FALSE(q->done()) << "completed while the keeper was held";
  shared->keeper_may_go.Notify();
  EXPECT_EQ(q->WaitUntil(absl::Now() + kEventually).code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(q->done());
  shared->release_p = true;
  ASSERT_TRUE(p->WaitUntil(absl::Now() + kEventually).ok());
}

// The fallback's time slice counts CPU time: a worker that the kernel
// keeps off its CPU (here SCHED_IDLE beside a busy thread on the same CPU,
// as a busy host or a cgroup quota may) has not used its slice, and
// parking it wherever it stands (inside malloc(), say) would only make
// others wait. It gets about 4 ms of CPU per 100 ms of the hog (measured
// natively), under the 20 ms slice even with the 10 ms before the
// monitor's first look counted; counting wall time, the monitor preempted
// it at 20 ms.
TEST(MonitorTest, AWorkerHeldOffItsCpuIsNotPreempted) {
  if (testing::OnKernelBackend()) {
    GTEST_SKIP() << "the kernel backend's time slice is wall time";
  }
  Options o = TestOptions(1);
  o.time_slice = absl::Milliseconds(20);
  auto s = MakeScheduler(o);
  ASSERT_NE(s, nullptr);
  std::atomic<bool> set_up{false};
  auto t = s->Submit([&set_up] {
    const int cpu = sched_getcpu();
    cpu_set_t old_mask;
    if (cpu < 0 || sched_getaffinity(0, sizeof(old_mask), &old_mask) != 0) {
      return;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    std::atomic<bool> hog_done{false};
    // Created before this thread turns SCHED_IDLE, so it stays normal.
    std::thread hog([&one, &hog_done] {
      sched_setaffinity(0, sizeof(one), &one);
      Spin(absl::Milliseconds(150));
      hog_done = true;
    });
    const int old_policy = sched_getscheduler(0);
    sched_param old_param{};
    sched_getparam(0, &old_param);
    sched_param idle{};
    set_up = sched_setaffinity(0, sizeof(one), &one) == 0 &&
             sched_setscheduler(0, SCHED_IDLE, &idle) == 0;
    SpinUntil(hog_done, kEventually);
    sched_setscheduler(0, old_policy, &old_param);
    sched_setaffinity(0, sizeof(old_mask), &old_mask);
    hog.join();
  });
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(t->WaitUntil(absl::Now() + kEventually).ok());
  ASSERT_TRUE(set_up.load()) << "could not starve the worker";
  EXPECT_EQ(s->metrics().preemptions, 0u);
}

}  // namespace
}  // namespace umcg_rpc::runtime
