#include "server/rpc/thread_pool.h"

#include <atomic>
#include <barrier>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace umcg_rpc {
namespace {

TEST(ThreadPoolTest, RunsEveryHandlerExactlyOnceBeforeDestruction) {
  constexpr int kHandlers = 10000;
  std::vector<std::atomic<int>> runs(kHandlers);
  {
    ThreadPool pool(4);
    EXPECT_EQ(pool.size(), 4);
    for (int i = 0; i < kHandlers; ++i) {
      ASSERT_TRUE(pool.Execute([&runs, i] { runs[i].fetch_add(1); }).ok());
    }
  }
  for (int i = 0; i < kHandlers; ++i) ASSERT_EQ(runs[i].load(), 1) << i;
}

TEST(ThreadPoolTest, RunsHandlersConcurrentlyOnAllThreads) {
  constexpr int kThreads = 8;
  std::barrier all_running(kThreads);
  absl::Mutex mu;
  std::set<std::thread::id> ids;
  {
    ThreadPool pool(kThreads);
    for (int i = 0; i < kThreads; ++i) {
      (void)pool.Execute([&] {
        {
          absl::MutexLock lock(&mu);
          ids.insert(std::this_thread::get_id());
        }
        // Returns only once all kThreads handlers run at the same time.
        all_running.arrive_and_wait();
      });
    }
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kThreads));
}

}  // namespace
}  // namespace umcg_rpc
