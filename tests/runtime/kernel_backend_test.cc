// The kernel backend: off the patched kernel, requesting it fails clearly
// and auto falls back; on it (in the guest) the core suite runs on it.
#include "runtime/internal/kernel_backend.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "kernel/include/uapi/linux/umcg.h"
#include "runtime/blocking.h"
#include "runtime/scheduler.h"
#include "tests/runtime/test_util.h"

namespace umcg_rpc::runtime {
namespace {

using ::umcg_rpc::runtime::testing::kEventually;
using ::umcg_rpc::runtime::testing::MakeScheduler;

bool HaveUmcg() {
  struct stat st;
  return stat(UMCG_SYSFS_ABI_VERSION, &st) == 0;
}

TEST(KernelProbeTest, StockKernelIsRefusedWithAReason) {
  if (HaveUmcg()) GTEST_SKIP() << "UMCG kernel present; stock-kernel test";
  absl::Status probe = internal::ProbeKernelUmcg();
  EXPECT_EQ(probe.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(probe.message().find(UMCG_SYSFS_ABI_VERSION), std::string::npos);
  Options o;
  o.servers = 1;
  o.backend = BackendKind::kKernel;
  o.logger = [](absl::string_view) {};
  absl::StatusOr<std::unique_ptr<Scheduler>> s = Scheduler::Create(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  // auto picks fallback and says why.
  o.backend = BackendKind::kAuto;
  auto fallback = MakeScheduler(o);
  ASSERT_NE(fallback, nullptr);
  EXPECT_EQ(fallback->backend(), BackendKind::kFallback);
  EXPECT_NE(fallback->backend_reason().find("not available"), std::string::npos)
      << fallback->backend_reason();
}

// Runs on the kernel backend in the guest; skipped on stock kernels.
class KernelBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveUmcg()) {
      GTEST_SKIP() << UMCG_SYSFS_ABI_VERSION
                   << " absent: not running on the UMCG kernel (run in the "
                      "guest via deploy/vm/)";
    }
  }
  Options KernelOptions(int servers) {
    Options o;
    o.servers = servers;
    o.backend = BackendKind::kKernel;
    return o;
  }
};

TEST_F(KernelBackendTest, DiscoveryReadsSyscallNumbers) {
  absl::StatusOr<internal::UmcgSyscalls> nr = internal::DiscoverUmcg();
  ASSERT_TRUE(nr.ok()) << nr.status();
  EXPECT_GT(nr->nr_umcg_ctl, 0);
  EXPECT_GT(nr->nr_umcg_wait, 0);
}

TEST_F(KernelBackendTest, EveryTaskRunsExactlyOnce) {
  auto s = Scheduler::Create(KernelOptions(2));
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<std::atomic<int>> runs(1000);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE((*s)->Submit([&runs, i] { runs[i].fetch_add(1); }).ok());
  }
  ASSERT_TRUE((*s)->Shutdown(ShutdownMode::kDrain).ok());
  for (auto& r : runs) EXPECT_EQ(r.load(), 1);
}

// Only the kernel can pass this: a raw, uninstrumented read() blocks, and
// the other task must run on the single server immediately (no monitor).
TEST_F(KernelBackendTest, UninstrumentedBlockingHandsOffTheCpu) {
  Options o = KernelOptions(1);
  o.block_threshold = absl::ZeroDuration();
  auto s = Scheduler::Create(o);
  ASSERT_TRUE(s.ok()) << s.status();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  char got = 0;
  auto a = (*s)->Submit([&] { ASSERT_EQ(read(fds[0], &got, 1), 1); });
  auto b = (*s)->Submit([&] { ASSERT_EQ(write(fds[1], "k", 1), 1); });
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_EQ(got, 'k');
  close(fds[0]);
  close(fds[1]);
}

// Only the kernel can pass this either: task A faults on a page that
// userfaultfd keeps missing until task B, on the same single server,
// resolves the fault. A page fault is not a syscall the runtime could wrap.
TEST_F(KernelBackendTest, BlockingPageFaultHandsOffTheCpu) {
  Options o = KernelOptions(1);
  o.time_slice = absl::ZeroDuration();
  o.block_threshold = absl::ZeroDuration();
  auto s = Scheduler::Create(o);
  ASSERT_TRUE(s.ok()) << s.status();
  const int uffd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC));
  ASSERT_GE(uffd, 0) << "userfaultfd: "
                     << std::generic_category().message(errno);
  struct uffdio_api api = {};
  api.api = UFFD_API;
  ASSERT_EQ(ioctl(uffd, UFFDIO_API, &api), 0);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* area = mmap(nullptr, page, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(area, MAP_FAILED);
  struct uffdio_register reg = {};
  reg.range.start = reinterpret_cast<uintptr_t>(area);
  reg.range.len = page;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  ASSERT_EQ(ioctl(uffd, UFFDIO_REGISTER, &reg), 0);

  std::atomic<int> seen{0};
  auto a = (*s)->Submit(
      [&] { seen = *static_cast<volatile int*>(area); });  // Faults.
  auto b = (*s)->Submit([&] {
    struct uffd_msg msg = {};
    ASSERT_EQ(read(uffd, &msg, sizeof(msg)),
              static_cast<ssize_t>(sizeof(msg)));  // Blocks until A faults.
    ASSERT_EQ(msg.event, UFFD_EVENT_PAGEFAULT);
    std::vector<int> src(page / sizeof(int), 42);
    struct uffdio_copy copy = {};
    copy.dst = reinterpret_cast<uintptr_t>(area);
    copy.src = reinterpret_cast<uintptr_t>(src.data());
    copy.len = page;
    ASSERT_EQ(ioctl(uffd, UFFDIO_COPY, &copy), 0);
  });
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(b->WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_TRUE(a->WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_EQ(seen.load(), 42);
  EXPECT_GE((*s)->metrics().blocks, 1u);
  EXPECT_LE((*s)->metrics().max_running_observed, 1);
  ASSERT_TRUE((*s)->Shutdown(ShutdownMode::kDrain).ok());
  munmap(area, page);
  close(uffd);
}

// Blocking in the kernel never lets more workers run than there are
// servers, and every blocked worker comes back: many tasks on two servers
// sleep in plain nanosleep() (no runtime wrapper) and spin in between.
TEST_F(KernelBackendTest, RawBlockingKeepsTheInvariant) {
  Options o = KernelOptions(2);
  o.block_threshold = absl::ZeroDuration();
  // A time-slice preemption parks a worker inside its counted section and
  // rightly lets another enter: under emulation a vCPU the host stalls
  // for 20 ms makes a 30 us section look that long to the monitor. This
  // test checks blocking, not preemption (NeverMoreRunningThanServers
  // turns it off for the same reason).
  o.time_slice = absl::ZeroDuration();
  auto s = Scheduler::Create(o);
  ASSERT_TRUE(s.ok()) << s.status();
  testing::InvariantCounter counter;
  std::atomic<int> done{0};
  // Sections whose thread slept (a voluntary context switch, say a page
  // fault waiting for the mmap lock): the kernel rightly reports that as
  // a block, and another worker may enter meanwhile. Not excused below;
  // printed to tell such a failure from a runtime fault.
  std::atomic<int> slept_sections{0};
  constexpr int kTasks = 200;
  std::vector<TaskHandle> hs;
  for (int i = 0; i < kTasks; ++i) {
    auto h = (*s)->Submit([&, i] {
      for (int r = 0; r < 3; ++r) {
        struct rusage before, after;
        getrusage(RUSAGE_THREAD, &before);
        counter.Enter();
        testing::Spin(absl::Microseconds(30));
        counter.Exit();
        getrusage(RUSAGE_THREAD, &after);
        if (after.ru_nvcsw != before.ru_nvcsw) slept_sections.fetch_add(1);
        struct timespec ts = {0, 100'000L * (1 + (i + r) % 4)};
        nanosleep(&ts, nullptr);  // Uninstrumented.
      }
      done.fetch_add(1);
    });
    ASSERT_TRUE(h.ok());
    hs.push_back(*h);
  }
  for (auto& h : hs) ASSERT_TRUE(h.WaitUntil(absl::Now() + kEventually).ok());
  EXPECT_EQ(done.load(), kTasks);
  EXPECT_LE(counter.max(), 2)
      << slept_sections.load() << " sections slept inside (a voluntary switch)";
  ASSERT_TRUE((*s)->Shutdown(ShutdownMode::kDrain).ok());
  MetricsSnapshot m = (*s)->metrics();
  // Most sleeps really sleep (a timer that expires before the thread gets
  // to schedule() is not a block, and emulation is slow).
  EXPECT_GE(m.blocks, static_cast<uint64_t>(kTasks));
  EXPECT_LE(m.max_running_observed, 2);
  EXPECT_EQ(m.preemptions, 0u);
  EXPECT_EQ(m.running_workers, 0);
  EXPECT_EQ(m.blocked_workers, 0);
}

// Idle servers are woken from outside the runtime two ways: a plain thread
// registers once as a UMCG waker (umcg_wait(WAKE_ONLY)); a thread that is
// already some other UMCG thread cannot, and falls back to a signal. Both
// must wake a parked server every time.
// With every server parked, Submit from a thread outside the runtime wakes
// a worker to run there, not the server thread (direct_dispatches). That
// thread must still wake when the worker blocks in the kernel: task B, on
// the single server, then runs and unblocks A.
TEST_F(KernelBackendTest, TaskStartedOnAParkedServerHandsOffTheCpu) {
  Options o = KernelOptions(1);
  o.block_threshold = absl::ZeroDuration();
  o.time_slice = absl::ZeroDuration();
  auto s = Scheduler::Create(o);
  ASSERT_TRUE(s.ok()) << s.status();
  bool started_directly = false;
  for (int attempt = 0; attempt < 50 && !started_directly; ++attempt) {
    // The last task's worker pools itself and the server parks.
    absl::SleepFor(absl::Milliseconds(5));
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    char got = 0;
    const uint64_t before = (*s)->metrics().direct_dispatches;
    auto a = (*s)->Submit([&] { ASSERT_EQ(read(fds[0], &got, 1), 1); });
    ASSERT_TRUE(a.ok());
    started_directly = (*s)->metrics().direct_dispatches > before;
    auto b = (*s)->Submit([&] { ASSERT_EQ(write(fds[1], "k", 1), 1); });
    ASSERT_TRUE(b.ok());
    EXPECT_TRUE(a->WaitUntil(absl::Now() + kEventually).ok());
    EXPECT_TRUE(b->WaitUntil(absl::Now() + kEventually).ok());
    EXPECT_EQ(got, 'k');
    close(fds[0]);
    close(fds[1]);
  }
  EXPECT_TRUE(started_directly);
  // The CPU stays usable: every task of a burst runs once, one at a time.
  std::vector<std::atomic<int>> runs(200);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE((*s)->Submit([&runs, i] { runs[i].fetch_add(1); }).ok());
  }
  ASSERT_TRUE((*s)->Shutdown(ShutdownMode::kDrain).ok());
  for (auto& r : runs) EXPECT_EQ(r.load(), 1);
  EXPECT_LE((*s)->metrics().max_running_observed, 1);
}

// A task submitted from a worker's start hook, before the worker registers
// with the kernel, must not keep it from registering (Submit may register
// its thread to wake UMCG threads).
TEST_F(KernelBackendTest, SubmitFromTheWorkerStartHookLetsTheWorkerRegister) {
  std::atomic<Scheduler*> sched{nullptr};
  std::atomic<int> from_hooks{0};
  absl::Mutex mu;
  std::vector<std::string> logged;
  Options o = KernelOptions(2);
  o.max_workers = 8;
  o.logger = [&](absl::string_view line) {
    absl::MutexLock lock(&mu);
    logged.emplace_back(line);
  };
  o.on_worker_start = [&] {
    Scheduler* s = sched.load();
    if (s != nullptr && s->Submit([] {}).ok()) from_hooks.fetch_add(1);
  };
  auto s = Scheduler::Create(o);
  ASSERT_TRUE(s.ok()) << s.status();
  sched.store(s->get());
  std::vector<TaskHandle> hs;
  for (int i = 0; i < 20; ++i) {
    auto h =
        (*s)->Submit([] { EXPECT_TRUE(Sleep(absl::Milliseconds(2)).ok()); });
    ASSERT_TRUE(h.ok());
    hs.push_back(*h);
  }
  for (auto& h : hs) EXPECT_TRUE(h.WaitUntil(absl::Now() + kEventually).ok());
  sched.store(nullptr);
  ASSERT_TRUE((*s)->Shutdown(ShutdownMode::kDrain).ok());
  EXPECT_GT(from_hooks.load(), 0);
  EXPECT_EQ((*s)->metrics().tasks_completed,
            static_cast<uint64_t>(20 + from_hooks.load()));
  absl::MutexLock lock(&mu);
  for (const std::string& line : logged) {
    EXPECT_EQ(line.find("umcg_ctl"), std::string::npos) << line;
  }
}

TEST_F(KernelBackendTest, SubmitFromOutsideWakesIdleServersBothWays) {
  auto s = Scheduler::Create(KernelOptions(2));
  ASSERT_TRUE(s.ok()) << s.status();
  auto run_some = [&] {
    for (int i = 0; i < 50; ++i) {
      std::atomic<bool> ran{false};
      auto h = (*s)->Submit([&] { ran = true; });
      ASSERT_TRUE(h.ok());
      ASSERT_TRUE(h->WaitUntil(absl::Now() + kEventually).ok());
      EXPECT_TRUE(ran.load());
      // Let the servers go idle again before the next one.
      absl::SleepFor(absl::Microseconds(300));
    }
  };
  std::thread plain(run_some);
  plain.join();
  std::thread foreign([&] {
    absl::StatusOr<internal::UmcgSyscalls> nr = internal::DiscoverUmcg();
    ASSERT_TRUE(nr.ok());
    alignas(UMCG_TASK_ALIGN) struct umcg_task self = {};
    self.state = UMCG_TASK_RUNNING;
    ASSERT_EQ(syscall(nr->nr_umcg_ctl, UMCG_CTL_REGISTER, &self), 0)
        << std::generic_category().message(errno);
    run_some();
    ASSERT_EQ(syscall(nr->nr_umcg_ctl, UMCG_CTL_UNREGISTER, nullptr), 0);
  });
  foreign.join();
  ASSERT_TRUE((*s)->Shutdown(ShutdownMode::kDrain).ok());
}

}  // namespace
}  // namespace umcg_rpc::runtime
