#include "server/workload/cancellation.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace umcg_rpc::workload {
namespace {

TEST(CancellationTest, FirstReasonSticks) {
  Cancellation c;
  EXPECT_FALSE(c.cancelled());
  EXPECT_TRUE(c.reason().ok());
  c.Cancel(absl::UnavailableError("first"));
  c.Cancel(absl::CancelledError("second"));
  EXPECT_TRUE(c.cancelled());
  EXPECT_EQ(c.reason(), absl::UnavailableError("first"));
}

TEST(CancellationTest, OkReasonBecomesCancelled) {
  Cancellation c;
  c.Cancel(absl::OkStatus());
  EXPECT_EQ(c.reason().code(), absl::StatusCode::kCancelled);
}

TEST(CancellationTest, SleepUntilReturnsTrueAtTheDeadline) {
  Cancellation c;
  const absl::Time deadline = absl::Now() + absl::Milliseconds(10);
  EXPECT_TRUE(c.SleepUntil(deadline));
  EXPECT_GE(absl::Now(), deadline);
}

TEST(CancellationTest, CancelWakesASleeper) {
  Cancellation c;
  std::thread t([&c] {
    absl::SleepFor(absl::Milliseconds(10));
    c.Cancel(absl::CancelledError("x"));
  });
  EXPECT_FALSE(c.SleepUntil(absl::InfiniteFuture()));
  t.join();
}

TEST(CancellationTest, CallbackRunsOnCancelWhileRegisteredOnly) {
  Cancellation c;
  int runs = 0;
  {
    Cancellation::ScopedCallback cb(c, [&runs] { ++runs; });
  }
  c.Cancel(absl::CancelledError("x"));
  EXPECT_EQ(runs, 0);

  Cancellation d;
  {
    Cancellation::ScopedCallback cb(d, [&runs] { ++runs; });
    d.Cancel(absl::CancelledError("x"));
    d.Cancel(absl::CancelledError("y"));
  }
  EXPECT_EQ(runs, 1);
}

TEST(CancellationTest, CallbackRunsAtOnceWhenAlreadyCancelled) {
  Cancellation c;
  c.Cancel(absl::CancelledError("x"));
  bool ran = false;
  Cancellation::ScopedCallback cb(c, [&ran] { ran = true; });
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace umcg_rpc::workload
