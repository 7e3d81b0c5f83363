#include "bench/loadgen/load_runner.h"

#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "umcgrpc/v1/workload.grpc.pb.h"

namespace umcg_rpc::loadgen {
namespace {

// Echo answers at once; Run serves one call at a time, each taking
// `run_time`: a server whose capacity is known from above.
class FixedCostService final : public umcgrpc::v1::Workload::Service {
 public:
  explicit FixedCostService(absl::Duration run_time) : run_time_(run_time) {}

  grpc::Status Echo(grpc::ServerContext*, const umcgrpc::v1::EchoRequest*,
                    umcgrpc::v1::EchoResponse*) override {
    return grpc::Status::OK;
  }

  grpc::Status Run(grpc::ServerContext*, const umcgrpc::v1::RunRequest*,
                   umcgrpc::v1::RunResponse*) override {
    absl::MutexLock lock(&mu_);
    absl::SleepFor(run_time_);
    return grpc::Status::OK;
  }

 private:
  const absl::Duration run_time_;
  absl::Mutex mu_;
};

class LoadRunnerTest : public ::testing::Test {
 protected:
  void StartServer(absl::Duration run_time) {
    service_ = std::make_unique<FixedCostService>(run_time);
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    target_ = "127.0.0.1:" + std::to_string(port);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  LoadOptions OpenLoop(const std::string& method, double rate,
                       absl::Duration duration) const {
    LoadOptions options;
    options.target = target_;
    options.method = method;
    options.requests = {std::string()};  // An empty message of either type.
    options.rate = rate;
    options.duration = duration;
    options.concurrency = 4;
    options.timeout = absl::Seconds(30);
    options.progress = false;
    return options;
  }

  std::unique_ptr<FixedCostService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string target_;
};

TEST_F(LoadRunnerTest, OpenLoopKeptOnScheduleReportsItsDuration) {
  StartServer(absl::ZeroDuration());
  LoadOptions options = OpenLoop("/umcgrpc.v1.Workload/Echo", /*rate=*/20,
                                 absl::Milliseconds(500));
  // Calls due at 0, 50, ..., 700 ms: those from 250 ms on are measured.
  options.warmup = absl::Milliseconds(245);
  absl::StatusOr<LoadResult> result = RunLoad(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->all.count(), 10u);
  EXPECT_EQ(result->calls_including_warmup, 15u);
  // The last call is due 45 ms before the window ends.
  EXPECT_EQ(result->window, absl::Milliseconds(500));
  EXPECT_LT(result->final_send_lag, absl::Milliseconds(50));
}

TEST_F(LoadRunnerTest, OpenLoopThatFellBehindReportsTheRateAchieved) {
  // At most 100 calls/s taken, 400/s offered for 250 ms: 100 calls need at
  // least a second, and with 4 outstanding at most the sender waits.
  StartServer(absl::Milliseconds(10));
  absl::StatusOr<LoadResult> result = RunLoad(OpenLoop(
      "/umcgrpc.v1.Workload/Run", /*rate=*/400, absl::Milliseconds(250)));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->all.count(), 100u);
  EXPECT_EQ(result->status_codes.at("OK"), 100u);
  // The last of them could leave only once 96 had been served.
  EXPECT_GE(result->final_send_lag, absl::Milliseconds(500));
  EXPECT_GE(result->window, absl::Milliseconds(900));
  EXPECT_GT(result->late_sends, 80u);
}

}  // namespace
}  // namespace umcg_rpc::loadgen
