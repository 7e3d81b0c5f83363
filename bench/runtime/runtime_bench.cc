// Runtime microbenchmarks: submit-to-run latency, block-to-handoff latency
// and short-task throughput, for each backend and for a plain thread pool.
// Prints a ratio table (runtime / thread pool) after the usual output.
// Run: runtime_bench [--benchmark_filter=...]
#include <time.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/runtime/thread_pool.h"
#include "benchmark/benchmark.h"
#include "runtime/blocking.h"
#include "runtime/event.h"
#include "runtime/scheduler.h"

namespace umcg_rpc::bench {
namespace {

using runtime::BackendKind;
using runtime::Event;
using runtime::Scheduler;

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

int Cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  sched_getaffinity(0, sizeof(set), &set);
  return CPU_COUNT(&set);
}

// A scheduler for `kind`, or nullptr with the error reported on `state`.
std::unique_ptr<Scheduler> MakeScheduler(benchmark::State& state,
                                         BackendKind kind, int servers,
                                         bool pin = true) {
  runtime::Options o;
  o.pin_servers = pin;
  o.backend = kind;
  o.servers = servers;
  o.min_workers = 4;
  o.logger = [](absl::string_view) {};
  auto s = Scheduler::Create(o);
  if (!s.ok()) {
    state.SkipWithError(s.status().ToString().c_str());
    return nullptr;
  }
  return *std::move(s);
}

// --- Submit-to-run: time from Submit() to the first line of the task. ---

void BM_SubmitToRun_Runtime(benchmark::State& state, BackendKind kind,
                            bool pin) {
  auto s = MakeScheduler(state, kind, Cpus(), pin);
  if (s == nullptr) return;
  for (auto _ : state) {
    Event done;
    std::atomic<int64_t> started{0};
    const int64_t t0 = NowNs();
    auto h = s->Submit([&] {
      started.store(NowNs());
      done.Notify();
    });
    done.Wait();
    state.SetIterationTime(static_cast<double>(started.load() - t0) * 1e-9);
  }
}

void BM_SubmitToRun_ThreadPool(benchmark::State& state) {
  ThreadPool pool(Cpus());
  for (auto _ : state) {
    Event done;
    std::atomic<int64_t> started{0};
    const int64_t t0 = NowNs();
    pool.Submit([&] {
      started.store(NowNs());
      done.Notify();
    });
    done.Wait();
    state.SetIterationTime(static_cast<double>(started.load() - t0) * 1e-9);
  }
}

// --- Block-to-handoff: one CPU slot; A blocks, B (already runnable) must
// start. Time from A entering the blocking call to B's first line. ---

void BM_BlockToHandoff_Runtime(benchmark::State& state, BackendKind kind) {
  auto s = MakeScheduler(state, kind, 1);
  if (s == nullptr) return;
  for (auto _ : state) {
    Event b_started, a_done;
    std::atomic<int64_t> t_block{0}, t_run{0};
    auto a = s->Submit([&] {
      // B queues behind A on the only server.
      auto b = s->Submit([&] {
        t_run.store(NowNs());
        b_started.Notify();
      });
      t_block.store(NowNs());
      runtime::BlockingScope scope;  // A blocks here.
      b_started.Wait();
      a_done.Notify();
    });
    a_done.Wait();
    state.SetIterationTime(static_cast<double>(t_run.load() - t_block.load()) *
                           1e-9);
  }
}

// Thread-pool analogue: a blocking thread hands over to another thread by
// waking it (futex) just before it blocks: the OS does the hand-off.
void BM_BlockToHandoff_ThreadWake(benchmark::State& state) {
  ThreadPool pool(2);
  for (auto _ : state) {
    Event go, b_started, a_done;
    std::atomic<int64_t> t_block{0}, t_run{0};
    pool.Submit([&] {
      go.Wait();
      t_run.store(NowNs());
      b_started.Notify();
    });
    pool.Submit([&] {
      t_block.store(NowNs());
      go.Notify();
      b_started.Wait();
      a_done.Notify();
    });
    a_done.Wait();
    state.SetIterationTime(static_cast<double>(t_run.load() - t_block.load()) *
                           1e-9);
  }
}

// --- Throughput of short tasks: a batch of tiny tasks, submitted from
// outside, waited for as a whole. ---

constexpr int kBatch = 10000;

void BM_ShortTasks_Runtime(benchmark::State& state, BackendKind kind,
                           bool pin) {
  auto s = MakeScheduler(state, kind, Cpus(), pin);
  if (s == nullptr) return;
  for (auto _ : state) {
    std::atomic<int> left{kBatch};
    Event done;
    for (int i = 0; i < kBatch; ++i) {
      auto h = s->Submit([&] {
        if (left.fetch_sub(1) == 1) done.Notify();
      });
      if (!h.ok()) state.SkipWithError("submit failed");
    }
    done.Wait();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_ShortTasks_ThreadPool(benchmark::State& state) {
  ThreadPool pool(Cpus());
  for (auto _ : state) {
    std::atomic<int> left{kBatch};
    Event done;
    for (int i = 0; i < kBatch; ++i) {
      pool.Submit([&] {
        if (left.fetch_sub(1) == 1) done.Notify();
      });
    }
    done.Wait();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

BENCHMARK_CAPTURE(BM_SubmitToRun_Runtime, fallback, BackendKind::kFallback,
                  true)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SubmitToRun_Runtime, fallback_unpinned,
                  BackendKind::kFallback, false)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SubmitToRun_Runtime, kernel, BackendKind::kKernel, true)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SubmitToRun_ThreadPool)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_BlockToHandoff_Runtime, fallback, BackendKind::kFallback)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_BlockToHandoff_Runtime, kernel, BackendKind::kKernel)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BlockToHandoff_ThreadWake)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ShortTasks_Runtime, fallback, BackendKind::kFallback, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ShortTasks_Runtime, fallback_unpinned,
                  BackendKind::kFallback, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ShortTasks_Runtime, kernel, BackendKind::kKernel, true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ShortTasks_ThreadPool)->Unit(benchmark::kMillisecond);

// Console reporter that also remembers each run's time per iteration.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred || run.run_type != Run::RT_Iteration) continue;
      ns_[run.benchmark_name()] =
          run.GetAdjustedRealTime() * 1e9 /
          benchmark::GetTimeUnitMultiplier(run.time_unit);
    }
  }

  // Prints "runtime / baseline" for each pair that ran.
  void PrintRatios() const {
    struct Pair {
      const char* what;
      const char* runtime;
      const char* baseline;
    };
    const Pair pairs[] = {
        {"submit-to-run latency", "BM_SubmitToRun_Runtime/",
         "BM_SubmitToRun_ThreadPool"},
        {"block-to-handoff latency", "BM_BlockToHandoff_Runtime/",
         "BM_BlockToHandoff_ThreadWake"},
        {"short-task batch time", "BM_ShortTasks_Runtime/",
         "BM_ShortTasks_ThreadPool"},
    };
    std::printf(
        "\nRatios (time, runtime / baseline; < 1 means the runtime is "
        "faster):\n");
    for (const Pair& p : pairs) {
      auto base = Find(p.baseline);
      if (base == ns_.end()) continue;
      for (const char* backend : {"fallback", "fallback_unpinned", "kernel"}) {
        auto rt = Find(absl::StrCat(p.runtime, backend));
        if (rt == ns_.end()) continue;
        std::printf("  %-26s %-19s %10.2f us vs %10.2f us  ratio %.2f\n",
                    p.what, backend, rt->second / 1e3, base->second / 1e3,
                    rt->second / base->second);
      }
    }
  }

 private:
  // The run named `prefix`, or `prefix` followed by "/..." (manual_time).
  std::map<std::string, double>::const_iterator Find(
      const std::string& prefix) const {
    for (auto it = ns_.begin(); it != ns_.end(); ++it) {
      if (it->first == prefix || it->first.rfind(prefix + "/", 0) == 0) {
        return it;
      }
    }
    return ns_.end();
  }
  std::map<std::string, double> ns_;  // Name -> ns per iteration.
};

}  // namespace
}  // namespace umcg_rpc::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  umcg_rpc::bench::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
