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

}  // namespace
}  // namespace umcg_rpc::runtime::internal
