#include "runtime/thread_policy.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/event.h"

namespace umcg_rpc::runtime {
namespace {

// The calling thread's nice value.
int OwnNice() { return getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())); }

TEST(ThreadPolicyTest, SetOwnNiceRejectsValuesOutsideTheRange) {
  EXPECT_EQ(SetOwnNice(20).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SetOwnNice(-21).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ThreadPolicyTest, StartNicedThreadSetsTheNewThreadsValueOnly) {
  const int before = OwnNice();
  // One step above ours: always allowed, whatever this test inherited.
  const int wanted = std::min(before + 1, 19);
  std::atomic<int> seen{-100};
  Event release;  // An Event, not absl::Notification: TSan sees it.
  absl::Status niced;
  std::thread t = StartNicedThread(
      "test-niced", wanted,
      [&seen, &release] {
        seen.store(OwnNice());
        // Alive until the name has been read (glibc reads it from /proc).
        release.Wait();
      },
      &niced);
  // Named before StartNicedThread returns.
  char name[16] = {};
  EXPECT_EQ(pthread_getname_np(t.native_handle(), name, sizeof(name)), 0);
  release.Notify();
  t.join();
  EXPECT_TRUE(niced.ok()) << niced;
  EXPECT_EQ(seen.load(), wanted);
  EXPECT_EQ(OwnNice(), before);
  EXPECT_STREQ(name, "test-niced");
}

TEST(ThreadPolicyTest, StartNicedThreadWithZeroKeepsTheInheritedValue) {
  const int before = OwnNice();
  std::atomic<int> seen{-100};
  absl::Status niced = absl::UnknownError("not set");
  std::thread t = StartNicedThread(
      "test-inherit", 0, [&seen] { seen.store(OwnNice()); }, &niced);
  t.join();
  EXPECT_TRUE(niced.ok()) << niced;
  EXPECT_EQ(seen.load(), before);
}

TEST(ThreadPolicyTest, StartNicedThreadRunsTheBodyWhenTheValueIsRefused) {
  std::atomic<bool> ran{false};
  absl::Status niced;
  std::thread t = StartNicedThread(
      "test-refused", 25, [&ran] { ran.store(true); }, &niced);
  t.join();
  EXPECT_EQ(niced.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(niced.message().find("test-refused thread"), std::string::npos)
      << niced;
  EXPECT_TRUE(ran.load());
}

}  // namespace
}  // namespace umcg_rpc::runtime
