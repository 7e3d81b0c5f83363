// Helpers shared by the runtime suites.
#ifndef UMCG_RPC_TESTS_RUNTIME_TEST_UTIL_H_
#define UMCG_RPC_TESTS_RUNTIME_TEST_UTIL_H_

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "runtime/event.h"
#include "runtime/scheduler.h"

namespace umcg_rpc::runtime::testing {

// Generous bound for "this must happen eventually" waits (sanitizers are
// slow); never used as a performance assertion.
inline constexpr absl::Duration kEventually = absl::Seconds(60);

// The backend the suites run on: $UMCG_RPC_TEST_BACKEND ("fallback", the
// default, or "kernel", as tests/guest/run-runtime-tests sets it in the
// UMCG guest).
inline BackendKind TestBackend() {
  const char* env = std::getenv("UMCG_RPC_TEST_BACKEND");
  if (env == nullptr || *env == '\0') return BackendKind::kFallback;
  absl::StatusOr<BackendKind> kind = ParseBackendKind(env);
  if (!kind.ok()) {
    ADD_FAILURE() << "UMCG_RPC_TEST_BACKEND: " << kind.status();
    return BackendKind::kFallback;
  }
  return *kind;
}

// True if the suites run on the kernel backend.
inline bool OnKernelBackend() { return TestBackend() == BackendKind::kKernel; }

// Options for the backend under test (see TestBackend) with quiet logging.
inline Options TestOptions(int servers) {
  Options o;
  o.servers = servers;
  o.backend = TestBackend();
  o.logger = [](absl::string_view) {};
  return o;
}

// Creates a scheduler or fails the test.
inline std::unique_ptr<Scheduler> MakeScheduler(Options o) {
  auto s = Scheduler::Create(std::move(o));
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

// Counts tasks inside CPU sections and remembers the maximum.
class InvariantCounter {
 public:
  void Enter() {
    const int now = inside_.fetch_add(1) + 1;
    int seen = max_.load();
    while (now > seen && !max_.compare_exchange_weak(seen, now)) {
    }
  }
  void Exit() { inside_.fetch_sub(1); }
  int max() const { return max_.load(); }

 private:
  std::atomic<int> inside_{0};
  std::atomic<int> max_{0};
};

// Busy-waits (on the CPU) for `d`. Reads clock_gettime() through
// steady_clock, not absl::Now(): absl's clock takes a spinlock that sleeps
// on a futex when contended, and on the kernel backend that sleep is a
// block which hands the CPU on in the middle of an InvariantCounter
// section (seen once: three workers "inside" on two servers).
inline void Spin(absl::Duration d) {
  const auto until =
      std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(d);
  while (std::chrono::steady_clock::now() < until) {
  }
}

// Spins until `flag` is set or `limit` passes; returns the flag.
inline bool SpinUntil(const std::atomic<bool>& flag, absl::Duration limit) {
  const absl::Time until = absl::Now() + limit;
  while (!flag.load() && absl::Now() < until) {
  }
  return flag.load();
}

// Polls the scheduler's metrics (every millisecond, up to kEventually)
// until at least `n` workers wait runnable; returns the last count seen.
inline int AwaitRunnableWorkers(const Scheduler& s, int n) {
  const absl::Time until = absl::Now() + kEventually;
  int runnable = s.metrics().runnable_workers;
  while (runnable < n && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(1));
    runnable = s.metrics().runnable_workers;
  }
  return runnable;
}

// Shuts `s` down and returns Shutdown()'s status. If that takes longer
// than kEventually, prints the scheduler's state and aborts: a stuck
// shutdown would otherwise end as a ctest timeout with nothing to read.
inline absl::Status ShutdownOrAbort(Scheduler& s, ShutdownMode mode) {
  absl::Status status;
  Event done;
  std::thread shutdown([&] {
    status = s.Shutdown(mode);
    done.Notify();
  });
  if (!done.WaitUntil(absl::Now() + kEventually)) {
    std::fprintf(stderr, "Shutdown() stuck for %s; the scheduler:\n%s\n",
                 absl::FormatDuration(kEventually).c_str(),
                 s.DebugState().c_str());
    std::abort();
  }
  shutdown.join();
  return status;
}

}  // namespace umcg_rpc::runtime::testing

#endif  // UMCG_RPC_TESTS_RUNTIME_TEST_UTIL_H_
