// Parker: tokens are not lost, a token wakes a sleeping parker, and a
// timed park ends at its deadline.
#include "runtime/internal/parker.h"

#include <chrono>
#include <cstdint>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/internal/clock.h"

namespace umcg_rpc::runtime::internal {
namespace {

TEST(ParkerTest, UnparkBeforeParkIsNotLost) {
  Parker p;
  p.Unpark();
  p.Unpark();  // Idempotent: still one token.
  p.Park();    // Returns immediately.
  SUCCEED();
}

TEST(ParkerTest, PingPongDeliversEveryToken) {
  Parker a, b;
  int value = 0;  // Ordered by the tokens (TSan checks this).
  std::thread t([&] {
    for (int i = 0; i < 10000; ++i) {
      a.Park();
      ++value;
      b.Unpark();
    }
  });
  for (int i = 0; i < 10000; ++i) {
    a.Unpark();
    b.Park();
  }
  t.join();
  EXPECT_EQ(value, 10000);
}

TEST(ParkerTest, ParkUntilTimesOutWithoutAToken) {
  Parker p;
  const int64_t start = MonotonicNanos();
  EXPECT_FALSE(p.ParkUntil(start + 20'000'000));
  EXPECT_GE(MonotonicNanos(), start + 20'000'000);
  // The timed-out wait left the parker empty, not asleep: a token still
  // works both ways.
  p.Unpark();
  EXPECT_TRUE(p.ParkUntil(MonotonicNanos() + 1'000'000'000));
  EXPECT_FALSE(p.ParkUntil(MonotonicNanos()));
}

TEST(ParkerTest, ParkUntilReturnsWithATokenFromAnotherThread) {
  Parker p;
  int value = 0;  // Ordered by the token (TSan checks this).
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    value = 7;
    p.Unpark();
  });
  // Generous: the token ends the wait long before.
  EXPECT_TRUE(p.ParkUntil(MonotonicNanos() + 60'000'000'000));
  EXPECT_EQ(value, 7);
  t.join();
}

}  // namespace
}  // namespace umcg_rpc::runtime::internal
