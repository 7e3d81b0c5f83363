#include "server/common/thread_cache.h"

#include <cstddef>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "gtest/gtest.h"

#if UMCG_RPC_TEST_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

namespace umcg_rpc {
namespace {

#if UMCG_RPC_TEST_WITH_JEMALLOC
// This binary links jemalloc (UMCG_RPC_WITH_JEMALLOC=ON).

bool ThreadCacheEnabled() {
  bool enabled = true;
  size_t size = sizeof(enabled);
  EXPECT_EQ(mallctl("thread.tcache.enabled", &enabled, &size, nullptr, 0), 0);
  return enabled;
}

TEST(ThreadCacheTest, TurnsOffTheCallingThreadsCacheOnly) {
  ASSERT_TRUE(CanDisableThreadAllocatorCache());
  std::thread worker([] {
    EXPECT_TRUE(ThreadCacheEnabled());
    EXPECT_TRUE(DisableThreadAllocatorCache().ok());
    EXPECT_FALSE(ThreadCacheEnabled());
    // Allocation still works without the cache.
    auto buffer = std::make_unique<char[]>(4096);
    buffer[4095] = 1;
  });
  worker.join();
  EXPECT_TRUE(ThreadCacheEnabled());
}

#else
// This binary uses another allocator (sanitizer builds): nothing to turn off.

TEST(ThreadCacheTest, SaysUnimplementedWithoutJemalloc) {
  EXPECT_FALSE(CanDisableThreadAllocatorCache());
  EXPECT_EQ(DisableThreadAllocatorCache().code(),
            absl::StatusCode::kUnimplemented);
}

#endif

}  // namespace
}  // namespace umcg_rpc
