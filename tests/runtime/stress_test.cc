// Randomized stress: a mix of CPU work, sleeps, scopes, yields, nested
// submits, cancellations and deadlines, with preemption and the monitor on.
// Every task must end exactly once with a status consistent with whether it
// ran, and the scheduler's own RUNNING count must never exceed servers.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "gtest/gtest.h"
#include "runtime/blocking.h"
#include "runtime/scheduler.h"
#include "tests/runtime/test_util.h"

namespace umcg_rpc::runtime {
namespace {

using ::umcg_rpc::runtime::testing::kEventually;
using ::umcg_rpc::runtime::testing::MakeScheduler;
using ::umcg_rpc::runtime::testing::ShutdownOrAbort;
using ::umcg_rpc::runtime::testing::Spin;
using ::umcg_rpc::runtime::testing::TestOptions;

struct Record {
  std::atomic<int> runs{0};
  TaskHandle handle{nullptr};
};

TEST(StressTest, RandomizedMix) {
  absl::BitGen seed_gen;
  const uint32_t seed = absl::Uniform<uint32_t>(seed_gen);
  SCOPED_TRACE(::testing::Message() << "seed=" << seed);
  std::seed_seq seq{seed};
  absl::BitGen gen(seq);

  for (int round = 0; round < 3; ++round) {
    Options o = TestOptions(absl::Uniform(gen, 1, 4));
    o.max_workers = absl::Uniform(gen, 2, 32);
    o.time_slice = absl::Milliseconds(absl::Uniform(gen, 1, 10));
    o.block_threshold = absl::Milliseconds(absl::Uniform(gen, 1, 5));
    // Often retire idle workers mid-run, to race retirement with dispatch.
    o.worker_idle_timeout =
        absl::Bernoulli(gen, 0.5) ? absl::Milliseconds(1) : absl::Seconds(5);
    SCOPED_TRACE(::testing::Message() << "servers=" << o.servers
                                      << " max_workers=" << o.max_workers);
    auto s = MakeScheduler(o);
    ASSERT_NE(s, nullptr);
    constexpr int kTasks = 600;
    std::vector<std::unique_ptr<Record>> records;
    records.reserve(kTasks);
    for (int i = 0; i < kTasks; ++i) {
      records.push_back(std::make_unique<Record>());
    }
    std::atomic<int> nested{0};
    std::vector<uint32_t> kinds(kTasks);
    for (auto& k : kinds) k = absl::Uniform<uint32_t>(gen, 0, 8);
    std::vector<int> cancel_index;

    for (int i = 0; i < kTasks; ++i) {
      Record* r = records[i].get();
      const uint32_t kind = kinds[i];
      TaskOptions opts;
      if (kind == 6) opts.deadline = absl::Now() + absl::Microseconds(50);
      auto h = s->Submit(
          [r, kind, &s, &nested] {
            r->runs.fetch_add(1);
            switch (kind) {
              case 0:
                Spin(absl::Microseconds(50));
                break;
              case 1:
                (void)Sleep(absl::Microseconds(300));
                break;
              case 2: {
                BlockingScope scope;
                absl::SleepFor(absl::Microseconds(200));
                break;
              }
              case 3:
                for (int j = 0; j < 5; ++j) EXPECT_TRUE(Yield().ok());
                break;
              case 4: {
                auto child = s->Submit([&nested] { nested.fetch_add(1); });
                EXPECT_TRUE(child.ok());
                break;
              }
              case 5:
                Spin(absl::Milliseconds(3));  // Crosses the time slice.
                break;
              case 7:
                absl::SleepFor(absl::Milliseconds(2));  // Uninstrumented.
                break;
              default:
                break;
            }
          },
          opts);
      ASSERT_TRUE(h.ok()) << h.status();
      r->handle = *h;
      if (absl::Bernoulli(gen, 0.1)) cancel_index.push_back(i);
    }
    for (int i : cancel_index) records[i]->handle.Cancel();
    // One deadline for all: a stall fails once, with the scheduler's state.
    const absl::Time give_up = absl::Now() + kEventually;
    bool reported = false;
    for (int i = 0; i < kTasks; ++i) {
      absl::Status st = records[i]->handle.WaitUntil(give_up);
      if (!records[i]->handle.done() && !reported) {
        reported = true;
        ADD_FAILURE() << "task " << i << " still unfinished; the scheduler:\n"
                      << s->DebugState();
      }
      const int runs = records[i]->runs.load();
      if (st.ok()) {
        EXPECT_EQ(runs, 1) << "task " << i;
      } else {
        EXPECT_TRUE(absl::IsCancelled(st) || absl::IsDeadlineExceeded(st))
            << st;
        EXPECT_EQ(runs, 0) << "task " << i << " ran but reported " << st;
      }
    }
    ASSERT_TRUE(ShutdownOrAbort(*s, ShutdownMode::kDrain).ok());
    MetricsSnapshot m = s->metrics();
    EXPECT_LE(m.max_running_observed, o.servers) << m.DebugString();
    EXPECT_LE(m.workers_created - m.workers_retired,
              static_cast<uint64_t>(o.max_workers));
    EXPECT_EQ(m.tasks_submitted,
              m.tasks_completed + m.tasks_cancelled + m.tasks_expired)
        << m.DebugString();
    EXPECT_EQ(m.running_workers, 0);
    EXPECT_EQ(m.blocked_workers, 0);
  }
}

}  // namespace
}  // namespace umcg_rpc::runtime
