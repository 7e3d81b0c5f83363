// The kernel backend: off the patched kernel, requesting it fails clearly
// and auto falls back; on it (in the guest) the core suite runs on it.
#include "runtime/internal/kernel_backend.h"

#include <sys/stat.h>

#include <atomic>
#include <string>
#include <vector>

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

}  // namespace
}  // namespace umcg_rpc::runtime
