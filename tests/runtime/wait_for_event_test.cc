// runtime::WaitForEvent: a wait that holds no CPU, ended by Notify() or by
// its deadline; on a worker the runtime ends it (the waiting thread is
// woken only with a CPU of its own).
#include <atomic>
#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/random/random.h"
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

// On one CPU, submits a task that runs `wait` (a wait for `e`) and then one
// that notifies `e`, which can run only if the waiter gave the CPU up;
// returns what `wait` returned.
bool WaitThenNotifyOnOneCpu(Event& e, absl::AnyInvocable<bool()> wait) {
  auto s = MakeScheduler(TestOptions(1));
  if (s == nullptr) return false;
  std::atomic<bool> notified{false};
  auto waiter = s->Submit([&] { notified.store(wait()); });
  EXPECT_TRUE(waiter.ok());
  auto notifier = s->Submit([&] { e.Notify(); });
  EXPECT_TRUE(notifier.ok());
  if (!waiter.ok() || !notifier.ok()) return false;
  EXPECT_TRUE(waiter->Wait().ok());
  EXPECT_TRUE(notifier->Wait().ok());
  EXPECT_LE(s->metrics().max_running_observed, 1);
  return notified.load();
}

TEST(WaitForEventTest, TheCpuServesAnotherTaskWhileOneWaits) {
  Event e;
  EXPECT_TRUE(WaitThenNotifyOnOneCpu(e, [&e] { return WaitForEvent(e); }));
}

TEST(WaitForEventTest, ANotificationFromAnotherThreadEndsTheWait) {
  auto s = MakeScheduler(TestOptions(2));
  ASSERT_NE(s, nullptr);
  Event e;
  Event waiting;
  std::atomic<bool> notified{false};
  auto waiter = s->Submit([&] {
    waiting.Notify();
    notified.store(WaitForEvent(e, absl::Now() + kEventually));
  });
  ASSERT_TRUE(waiter.ok());
  waiting.Wait();
  absl::SleepFor(absl::Milliseconds(5));  // Most likely suspended by now.
  e.Notify();
  EXPECT_TRUE(waiter->Wait().ok());
  EXPECT_TRUE(notified.load());
}

TEST(WaitForEventTest, ReturnsFalseAtTheDeadlineAndNotBefore) {
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  Event e;
  std::atomic<bool> notified{true};
  absl::Duration waited;
  // Long enough for the monitor to rest meanwhile: the timer must wake it.
  const absl::Duration wait = absl::Milliseconds(200);
  auto waiter = s->Submit([&] {
    const absl::Time start = absl::Now();
    notified.store(WaitForEvent(e, start + wait));
    waited = absl::Now() - start;
  });
  ASSERT_TRUE(waiter.ok());
  EXPECT_TRUE(waiter->Wait().ok());
  EXPECT_FALSE(notified.load());
  EXPECT_GE(waited, wait);
}

TEST(WaitForEventTest, AnEventNotifiedBeforehandOrAPastDeadlineDoesNotWait) {
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  Event done;
  done.Notify();
  Event never;
  std::atomic<bool> was_notified{false};
  std::atomic<bool> past{true};
  auto task = s->Submit([&] {
    was_notified.store(WaitForEvent(done));
    past.store(WaitForEvent(never, absl::Now() - absl::Seconds(1)));
  });
  ASSERT_TRUE(task.ok());
  EXPECT_TRUE(task->Wait().ok());
  EXPECT_TRUE(was_notified.load());
  EXPECT_FALSE(past.load());
}

TEST(WaitForEventTest, InsideABlockingScopeItIsAnOrdinaryWait) {
  Event e;
  EXPECT_TRUE(WaitThenNotifyOnOneCpu(e, [&e] {
    BlockingScope scope;
    return WaitForEvent(e);
  }));
}

TEST(WaitForEventTest, OffAWorkerItIsAPlainWait) {
  Event e;
  EXPECT_FALSE(WaitForEvent(e, absl::Now() + absl::Milliseconds(5)));
  e.Notify();
  EXPECT_TRUE(WaitForEvent(e));
}

TEST(WaitForEventTest, ManyWaitsEndEachByTheFirstOfNotifyAndDeadline) {
  // Timers fire in due order, none early, and a wait notified first never
  // also times out: half of the waits are notified at random moments.
  constexpr int kWaits = 200;
  Options o = TestOptions(2);
  o.max_workers = kWaits + 8;
  auto s = MakeScheduler(std::move(o));
  ASSERT_NE(s, nullptr);
  absl::BitGen gen;
  struct Wait {
    Event e;
    absl::Duration limit;
    bool to_notify = false;
    std::atomic<bool> notified{false};
    absl::Duration waited;
  };
  std::vector<std::unique_ptr<Wait>> waits;
  std::vector<TaskHandle> handles;
  for (int i = 0; i < kWaits; ++i) {
    auto w = std::make_unique<Wait>();
    w->limit = absl::Milliseconds(absl::Uniform(gen, 1, 60));
    w->to_notify = i % 2 == 0;
    if (w->to_notify) w->limit = kEventually;
    Wait* raw = w.get();
    waits.push_back(std::move(w));
    auto h = s->Submit([raw] {
      const absl::Time start = absl::Now();
      raw->notified.store(WaitForEvent(raw->e, start + raw->limit));
      raw->waited = absl::Now() - start;
    });
    ASSERT_TRUE(h.ok());
    handles.push_back(*std::move(h));
  }
  std::vector<Wait*> order;
  for (auto& w : waits) {
    if (w->to_notify) order.push_back(w.get());
  }
  std::shuffle(order.begin(), order.end(), gen);
  for (Wait* w : order) {
    absl::SleepFor(absl::Microseconds(absl::Uniform(gen, 0, 300)));
    w->e.Notify();
  }
  for (auto& h : handles) EXPECT_TRUE(h.Wait().ok());
  for (const auto& w : waits) {
    if (w->to_notify) {
      EXPECT_TRUE(w->notified.load());
    } else {
      EXPECT_FALSE(w->notified.load());
      EXPECT_GE(w->waited, w->limit);
    }
  }
  EXPECT_LE(s->metrics().max_running_observed, 2);
}

TEST(WaitForEventTest, CancellingATaskEndsItsSleep) {
  auto s = MakeScheduler(TestOptions(1));
  ASSERT_NE(s, nullptr);
  CancellationToken token;
  TaskOptions opts;
  opts.cancellation = token;
  Event started;
  absl::Status slept;
  auto h = s->Submit(
      [&] {
        started.Notify();
        slept = Sleep(absl::Hours(1));
      },
      opts);
  ASSERT_TRUE(h.ok());
  started.Wait();
  token.Cancel();
  EXPECT_TRUE(h->Wait().ok());
  EXPECT_EQ(slept.code(), absl::StatusCode::kCancelled) << slept;
}

}  // namespace
}  // namespace umcg_rpc::runtime
