// Parker: tokens are not lost and a token wakes a sleeping parker.
#include "runtime/internal/parker.h"

#include <chrono>
#include <cstdint>
#include <thread>

#include "gtest/gtest.h"

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

TEST(ParkerTest, ParkForTakesAWaitingTokenAtOnce) {
  Parker p;
  p.Unpark();
  EXPECT_TRUE(p.ParkFor(int64_t{60} * 1000000000));
}

// No token: it times out, and leaves the parker as it found it (a token
// that comes later is neither lost nor doubled).
TEST(ParkerTest, ParkForTimesOutAndLeavesTheParkerUsable) {
  Parker p;
  EXPECT_FALSE(p.ParkFor(1000000));  // 1 ms.
  p.Unpark();
  EXPECT_TRUE(p.ParkFor(0));   // The token is there.
  EXPECT_FALSE(p.ParkFor(0));  // And was only one.
}

TEST(ParkerTest, ParkForWakesOnAnUnparkFromAnotherThread) {
  Parker p;
  int value = 0;  // Ordered by the token (TSan checks this).
  std::thread t([&] {
    value = 42;
    // Most likely after the main thread went to sleep in the futex.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    p.Unpark();
  });
  EXPECT_TRUE(p.ParkFor(int64_t{60} * 1000000000));
  EXPECT_EQ(value, 42);
  t.join();
}

// Tokens racing with timeouts: every token is taken exactly once, by a
// ParkFor() that returned true or, when it timed out first, by a later one.
TEST(ParkerTest, ParkForRacingTimeoutsLoseNoToken) {
  Parker a, b;
  int value = 0;
  std::thread t([&] {
    for (int i = 0; i < 2000; ++i) {
      while (!a.ParkFor(20000)) {  // 20 us: times out often.
      }
      ++value;
      b.Unpark();
    }
  });
  for (int i = 0; i < 2000; ++i) {
    a.Unpark();
    b.Park();
    // Exactly one increment per token: none lost, none taken twice.
    ASSERT_EQ(value, i + 1);
  }
  t.join();
  EXPECT_EQ(value, 2000);
}

}  // namespace
}  // namespace umcg_rpc::runtime::internal
