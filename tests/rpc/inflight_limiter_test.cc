#include "server/rpc/inflight_limiter.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace umcg_rpc {
namespace {

TEST(InflightLimiterTest, AdmitsUpToTheLimitThenRejects) {
  InflightLimiter limiter(2);
  EXPECT_TRUE(limiter.TryAcquire());
  EXPECT_TRUE(limiter.TryAcquire());
  EXPECT_FALSE(limiter.TryAcquire());
  EXPECT_EQ(limiter.inflight(), 2);
  EXPECT_EQ(limiter.rejected(), 1u);
  limiter.Release();
  EXPECT_TRUE(limiter.TryAcquire());
}

TEST(InflightLimiterTest, NeverExceedsTheLimitUnderContention) {
  InflightLimiter limiter(3);
  std::atomic<int> holders{0};
  std::atomic<int> max_seen{0};
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (!limiter.TryAcquire()) continue;
        int now = holders.fetch_add(1) + 1;
        int seen = max_seen.load();
        while (now > seen && !max_seen.compare_exchange_weak(seen, now)) {
        }
        holders.fetch_sub(1);
        limiter.Release();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(max_seen.load(), 3);
  EXPECT_EQ(limiter.inflight(), 0);
}

}  // namespace
}  // namespace umcg_rpc
