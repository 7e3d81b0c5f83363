// runtime::AwaitEvent: a wait on an event that the task's cancellation and
// deadline also end, with nothing polling (the runtime lists the wait on
// both events).
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/blocking.h"
#include "runtime/cancellation.h"
#include "runtime/event.h"
#include "runtime/scheduler.h"
#include "tests/runtime/test_util.h"

namespace umcg_rpc::runtime {
namespace {

using ::umcg_rpc::runtime::testing::kEventually;
using ::umcg_rpc::runtime::testing::MakeScheduler;
using ::umcg_rpc::runtime::testing::TestOptions;

// The calling thread's voluntary context switches so far.
int64_t VoluntarySwitches() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_nvcsw;
}

// A wait that polled its cancellation every 5 ms would switch 60 times in
// 300 ms; one that is woken once switches a few times (going to sleep,
// and on the kernel backend waiting for a server to run it again).
constexpr absl::Duration kLongWait = absl::Milliseconds(300);
constexpr int64_t kFewSwitches = 10;

struct CancelledWait {
  absl::Status status;
  absl::Duration waited;
  int64_t switches = 0;
};

// Runs AwaitEvent on an event nobody notifies, in a task cancelled after
// kLongWait; `in_scope` wraps it in a BlockingScope.
CancelledWait AwaitUntilCancelled(bool in_scope) {
  CancelledWait result;
  auto s = MakeScheduler(TestOptions(1));
  if (s == nullptr) return result;
  Event never;
  Event waiting;
  CancellationToken token;
  TaskOptions options;
  options.cancellation = token;
  auto waiter = s->Submit(
      [&] {
        waiting.Notify();
        const int64_t before = VoluntarySwitches();
        const absl::Time start = absl::Now();
        if (in_scope) {
          BlockingScope scope;
          result.status = AwaitEvent(never);
        } else {
          result.status = AwaitEvent(never);
        }
        result.waited = absl::Now() - start;
        result.switches = VoluntarySwitches() - before;
      },
      options);
  EXPECT_TRUE(waiter.ok());
  if (!waiter.ok()) return result;
  waiting.Wait();
  absl::SleepFor(kLongWait);
  token.Cancel();
  EXPECT_TRUE(waiter->Wait().ok());
  return result;
}

TEST(AwaitEventTest, ACancellationEndsTheWaitWithoutPolling) {
  const CancelledWait w = AwaitUntilCancelled(/*in_scope=*/false);
  EXPECT_EQ(w.status.code(), absl::StatusCode::kCancelled) << w.status;
  EXPECT_GE(w.waited, kLongWait - absl::Milliseconds(50));
  EXPECT_LE(w.switches, kFewSwitches);
}

// Inside a scope the CPU is already released, so the thread sleeps on an
// event of its own that both events relay to.
TEST(AwaitEventTest, InsideAScopeACancellationEndsTheWaitWithoutPolling) {
  const CancelledWait w = AwaitUntilCancelled(/*in_scope=*/true);
  EXPECT_EQ(w.status.code(), absl::StatusCode::kCancelled) << w.status;
  EXPECT_GE(w.waited, kLongWait - absl::Milliseconds(50));
  EXPECT_LE(w.switches, kFewSwitches);
}

TEST(AwaitEventTest, TheTaskDeadlineEndsTheWaitNotBefore) {
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  Event never;
  TaskOptions options;
  // Long enough for the task to start on a loaded host; if it does not,
  // the task fails as expired and `status` stays as set here.
  const absl::Duration limit = absl::Milliseconds(500);
  options.deadline = absl::Now() + limit;
  absl::Status status = absl::UnknownError("not run");
  absl::Time ended;
  auto waiter = s->Submit(
      [&] {
        status = AwaitEvent(never, absl::Now() + kEventually);
        ended = absl::Now();
      },
      options);
  ASSERT_TRUE(waiter.ok());
  (void)waiter->Wait();
  if (status.code() == absl::StatusCode::kUnknown) {
    GTEST_SKIP() << "the task did not start before its deadline";
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_GE(ended, options.deadline);
}

// Inside a scope the deadline is the parker's timed wait.
TEST(AwaitEventTest, InsideAScopeTheDeadlineEndsTheWaitNotBefore) {
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  absl::Status status = absl::UnknownError("not run");
  absl::Duration waited;
  const absl::Duration wait = absl::Milliseconds(50);
  auto waiter = s->Submit([&] {
    Event never;
    BlockingScope scope;
    const absl::Time start = absl::Now();
    status = AwaitEvent(never, start + wait);
    waited = absl::Now() - start;
  });
  ASSERT_TRUE(waiter.ok());
  EXPECT_TRUE(waiter->Wait().ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_GE(waited, wait);
}

// Both events notified before the wait: the caller's event decides.
TEST(AwaitEventTest, ANotifiedEventWinsOverACancellation) {
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  CancellationToken token;
  TaskOptions options;
  options.cancellation = token;
  absl::Status on_worker = absl::UnknownError("not run");
  absl::Status in_scope = absl::UnknownError("not run");
  auto waiter = s->Submit(
      [&] {
        Event e;
        e.Notify();
        token.Cancel();
        on_worker = AwaitEvent(e);
        BlockingScope scope;
        in_scope = AwaitEvent(e);
      },
      options);
  ASSERT_TRUE(waiter.ok());
  (void)waiter->Wait();
  EXPECT_TRUE(on_worker.ok()) << on_worker;
  EXPECT_TRUE(in_scope.ok()) << in_scope;
}

TEST(AwaitEventTest, OffAWorkerItWaitsForTheEventOrTheDeadline) {
  Event e;
  EXPECT_EQ(AwaitEvent(e, absl::Now() + absl::Milliseconds(20)).code(),
            absl::StatusCode::kDeadlineExceeded);
  std::thread notifier([&e] {
    absl::SleepFor(absl::Milliseconds(10));
    e.Notify();
  });
  EXPECT_TRUE(AwaitEvent(e, absl::Now() + kEventually).ok());
  notifier.join();
}

// Many waits share one cancellation token, each also on an event of its
// own; some events are notified, in random order, before the token is
// cancelled, so waits leave the token's list from every position. Each
// event is freed as soon as its wait returns OK: a Notify() still using it
// would be a use-after-free (ASan).
TEST(AwaitEventTest, WaitsOnOneTokenEndInAnyOrder) {
  constexpr int kWaits = 64;
  auto s = MakeScheduler(TestOptions(2));
  ASSERT_NE(s, nullptr);
  CancellationToken token;
  TaskOptions options;
  options.cancellation = token;
  std::vector<std::unique_ptr<Event>> events(kWaits);
  for (auto& e : events) e = std::make_unique<Event>();
  std::vector<absl::StatusCode> codes(kWaits, absl::StatusCode::kUnknown);
  std::atomic<int> started{0};
  std::vector<TaskHandle> waiters;
  for (int i = 0; i < kWaits; ++i) {
    auto h = s->Submit(
        [&, i] {
          started.fetch_add(1);
          const absl::Status status = AwaitEvent(*events[i]);
          if (status.ok()) events[i].reset();
          codes[i] = status.code();
        },
        options);
    ASSERT_TRUE(h.ok());
    waiters.push_back(*std::move(h));
  }
  const absl::Time until = absl::Now() + kEventually;
  while (started.load() < kWaits && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(started.load(), kWaits);
  absl::BitGen gen;
  std::vector<Event*> to_notify;
  std::vector<bool> notified(kWaits, false);
  for (int i = 0; i < kWaits; ++i) {
    if (absl::Bernoulli(gen, 0.5)) {
      to_notify.push_back(events[i].get());
      notified[i] = true;
    }
  }
  std::shuffle(to_notify.begin(), to_notify.end(), gen);
  for (Event* e : to_notify) e->Notify();
  token.Cancel();
  for (TaskHandle& h : waiters) (void)h.Wait();
  for (int i = 0; i < kWaits; ++i) {
    if (notified[i]) {
      // Notified before the cancellation: the event comes first.
      EXPECT_EQ(codes[i], absl::StatusCode::kOk) << i;
    } else {
      EXPECT_EQ(codes[i], absl::StatusCode::kCancelled) << i;
    }
  }
}

}  // namespace
}  // namespace umcg_rpc::runtime
