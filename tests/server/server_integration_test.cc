// Starts the real umcg-rpc-server binary in each mode and calls it over
// gRPC the way a user would.
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/workload/limits.h"
#include "tests/common/thread_policies.h"
#include "tests/server/grpc_probes.h"
#include "tests/server/server_process.h"
#include "umcgrpc/v1/stats.grpc.pb.h"
#include "umcgrpc/v1/workload.grpc.pb.h"

namespace umcg_rpc::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using umcgrpc::v1::EchoRequest;
using umcgrpc::v1::EchoResponse;
using umcgrpc::v1::RunRequest;
using umcgrpc::v1::RunResponse;
using umcgrpc::v1::Workload;

// The server under test: $UMCG_RPC_SERVER_BINARY if set (the guest runs
// put it elsewhere), else the one built next to this test. Read once, on
// first use (the environment is not changed meanwhile).
const std::string& ServerBinary() {
  static const std::string binary = [] {
    const char* env =
        std::getenv("UMCG_RPC_SERVER_BINARY");  // NOLINT(concurrency-mt-unsafe)
    return std::string(env != nullptr && *env != '\0' ? env
                                                      : UMCG_RPC_SERVER_BINARY);
  }();
  return binary;
}

std::unique_ptr<ServerProcess> StartServer(std::vector<std::string> args) {
  args.insert(args.begin(),
              {"--listen=127.0.0.1:0", "--data-file-size=1048576"});
  auto server = ServerProcess::Start(ServerBinary(), args);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

std::shared_ptr<grpc::Channel> ChannelTo(const ServerProcess& server) {
  return grpc::CreateChannel(server.address(),
                             grpc::InsecureChannelCredentials());
}

// The umcg mode runs with --backend=auto: the fallback natively, the
// kernel backend in the UMCG guest.
std::vector<std::string> ModeArgs(const std::string& mode) {
  if (mode == "threadpool") return {"--mode=threadpool", "--threads=32"};
  if (mode == "umcg") return {"--mode=umcg", "--workers=64"};
  return {"--mode=" + mode};
}

grpc::Status CallRun(Workload::Stub& stub, const RunRequest& request,
                     RunResponse* response,
                     absl::Duration timeout = absl::Seconds(30)) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return stub.Run(&context, request, response);
}

RunRequest Sleep(uint32_t micros) {
  RunRequest request;
  request.add_steps()->mutable_sleep()->set_micros(micros);
  return request;
}

class ServerModeTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    downstream_ = StartServer({"--mode=epoll"});
    ASSERT_NE(downstream_, nullptr);
    std::vector<std::string> args = ModeArgs(GetParam());
    args.push_back("--downstream=" + downstream_->address());
    args.push_back("--shutdown-grace=10s");
    server_ = StartServer(args);
    ASSERT_NE(server_, nullptr);
    stub_ = Workload::NewStub(ChannelTo(*server_));
  }

  void TearDown() override {
    // Close our connection first: an idle gRPC C++ client only notices the
    // server's GOAWAY at its next backup poll (every 5 s by default), and
    // the server waits for that before it finishes shutting down.
    stub_.reset();
    for (ServerProcess* p : {server_.get(), downstream_.get()}) {
      if (p == nullptr) continue;
      p->Signal(SIGTERM);
      absl::StatusOr<int> code = p->Wait(absl::Seconds(30));
      ASSERT_TRUE(code.ok()) << p->Log();
      EXPECT_EQ(*code, 0) << p->Log();
    }
  }

  std::unique_ptr<ServerProcess> downstream_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Workload::Stub> stub_;
};

TEST_P(ServerModeTest, LogsItsModeAtStart) {
  EXPECT_THAT(server_->Log(), HasSubstr("mode=" + GetParam()));
}

TEST_P(ServerModeTest, EchoReturnsThePayload) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{4096},
                      size_t{workload::kMaxEchoPayloadBytes}}) {
    EchoRequest request;
    request.set_payload(std::string(size, 'p'));
    EchoResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub_->Echo(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.payload(), request.payload());
  }
}

// The server leaves gRPC's compression filter out, but not the
// decompression filter (docs/server.md): a compressed request must be read
// as what the client sent.
TEST_P(ServerModeTest, CompressedRequestsAreDecompressed) {
  for (grpc_compression_algorithm algorithm :
       {GRPC_COMPRESS_GZIP, GRPC_COMPRESS_DEFLATE}) {
    EchoRequest request;
    request.set_payload(
        std::string(size_t{64} * 1024, 'z'));  // Worth compressing.
    EchoResponse response;
    grpc::ClientContext context;
    context.set_compression_algorithm(algorithm);
    grpc::Status status = stub_->Echo(&context, request, &response);
    ASSERT_TRUE(status.ok()) << algorithm << ": " << status.error_message();
    EXPECT_EQ(response.payload(), request.payload());
  }
}

TEST_P(ServerModeTest, EchoOverTheLimitIsRefused) {
  EchoRequest request;
  request.set_payload(std::string(workload::kMaxEchoPayloadBytes + 1, 'p'));
  EchoResponse response;
  grpc::ClientContext context;
  grpc::Status status = stub_->Echo(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("limit"));

  request.set_payload(std::string(4 << 20, 'p'));
  grpc::ClientContext context2;
  status = stub_->Echo(&context2, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_P(ServerModeTest, RunDoesEveryKindOfStep) {
  RunRequest request;
  request.add_steps()->mutable_spin()->set_micros(2000);
  request.add_steps()->mutable_sleep()->set_micros(5000);
  auto* read = request.add_steps()->mutable_read();
  read->set_offset(100);
  read->set_bytes(4096);
  request.add_steps()->mutable_downstream()->set_sleep_micros(5000);
  RunResponse response;
  grpc::Status status = CallRun(*stub_, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 4);
  EXPECT_GT(response.results(0).work(), 0u);
  EXPECT_GE(response.results(1).elapsed_nanos(), 5'000'000u);
  EXPECT_EQ(response.results(2).work(), 4096u);
  EXPECT_NE(response.results(2).checksum(), 0u);
  EXPECT_GE(response.results(3).elapsed_nanos(), 5'000'000u);
  EXPECT_GE(response.elapsed_nanos(), 10'000'000u);
}

TEST_P(ServerModeTest, BadRunRequestsGetTheRightCodeAndAMessage) {
  struct Case {
    RunRequest request;
    grpc::StatusCode code;
    std::string text;
  };
  std::vector<Case> cases;
  {
    Case c{RunRequest(), grpc::StatusCode::INVALID_ARGUMENT, "no kind"};
    c.request.add_steps();
    cases.push_back(c);
  }
  {
    Case c{Sleep(workload::kMaxSleepMicros + 1),
           grpc::StatusCode::INVALID_ARGUMENT, "sleep.micros"};
    cases.push_back(c);
  }
  {
    Case c{RunRequest(), grpc::StatusCode::INVALID_ARGUMENT, "spin.micros"};
    c.request.add_steps()->mutable_spin()->set_micros(workload::kMaxSpinMicros +
                                                      1);
    cases.push_back(c);
  }
  {
    Case c{RunRequest(), grpc::StatusCode::INVALID_ARGUMENT, "steps"};
    for (int i = 0; i <= workload::kMaxSteps; ++i) c.request.add_steps();
    cases.push_back(c);
  }
  {
    Case c{RunRequest(), grpc::StatusCode::INVALID_ARGUMENT, "read.bytes"};
    c.request.add_steps()->mutable_read()->set_bytes(0);
    cases.push_back(c);
  }
  {
    Case c{RunRequest(), grpc::StatusCode::OUT_OF_RANGE, "passes the end"};
    auto* read = c.request.add_steps()->mutable_read();
    read->set_offset(1 << 20);
    read->set_bytes(1);
    cases.push_back(c);
  }
  for (const Case& c : cases) {
    RunResponse response;
    grpc::Status status = CallRun(*stub_, c.request, &response);
    EXPECT_EQ(status.error_code(), c.code) << c.request.DebugString();
    EXPECT_THAT(status.error_message(), HasSubstr(c.text));
  }
}

TEST_P(ServerModeTest, DownstreamStepWithoutADownstreamFailsPrecondition) {
  auto stub = Workload::NewStub(ChannelTo(*downstream_));
  RunRequest request;
  request.add_steps()->mutable_downstream()->set_sleep_micros(1);
  RunResponse response;
  grpc::Status status = CallRun(*stub, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("--downstream"));
}

TEST_P(ServerModeTest, DeadlineEndsALongSleep) {
  RunResponse response;
  const absl::Time start = absl::Now();
  grpc::Status status =
      CallRun(*stub_, Sleep(20'000'000), &response, absl::Milliseconds(200));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  // The handler stopped too: the server still answers promptly.
  grpc::ClientContext context;
  EchoResponse echo;
  EXPECT_TRUE(stub_->Echo(&context, EchoRequest(), &echo).ok());
}

// The downstream call carries the handler's deadline, and the handler's
// wait for it ends when that deadline ends the call.
TEST_P(ServerModeTest, DeadlineEndsADownstreamCall) {
  RunRequest request;
  request.add_steps()->mutable_downstream()->set_sleep_micros(20'000'000);
  RunResponse response;
  const absl::Time start = absl::Now();
  grpc::Status status =
      CallRun(*stub_, request, &response, absl::Milliseconds(300));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  // The handler stopped too: the server still answers, downstream calls
  // included.
  request.mutable_steps(0)->mutable_downstream()->set_sleep_micros(1000);
  status = CallRun(*stub_, request, &response, absl::Seconds(10));
  EXPECT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message();
}

TEST_P(ServerModeTest, HealthCheckSaysServing) {
  absl::StatusOr<int> health = CheckHealth(ChannelTo(*server_), "");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, kServing);
}

TEST_P(ServerModeTest, ReflectionListsTheServices) {
  absl::StatusOr<std::vector<std::string>> services =
      ListServicesByReflection(ChannelTo(*server_));
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services, Contains("umcgrpc.v1.Workload"));
  EXPECT_THAT(*services, Contains("grpc.health.v1.Health"));
  EXPECT_THAT(*services, Contains("umcgrpc.v1.ServerStats"));
}

TEST_P(ServerModeTest, StatsReportModeAndCounts) {
  RunResponse response;
  ASSERT_TRUE(CallRun(*stub_, Sleep(1000), &response).ok());
  auto stats_stub = umcgrpc::v1::ServerStats::NewStub(ChannelTo(*server_));
  grpc::ClientContext context;
  umcgrpc::v1::Stats stats;
  grpc::Status status =
      stats_stub->Get(&context, umcgrpc::v1::GetStatsRequest(), &stats);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(stats.mode(), GetParam());
  EXPECT_GE(stats.rpcs_succeeded(), 1u);
  if (GetParam() == "umcg") {
    ASSERT_TRUE(stats.has_runtime());
    EXPECT_THAT(stats.backend(), ::testing::AnyOf("kernel", "fallback"));
    EXPECT_GE(stats.runtime().servers(), 1);
    EXPECT_GE(stats.runtime().switches(), 1u);
    EXPECT_LE(stats.runtime().max_running_observed(),
              stats.runtime().servers());
  } else {
    EXPECT_EQ(stats.backend(), "none");
    EXPECT_FALSE(stats.has_runtime());
  }
}

TEST_P(ServerModeTest, SigtermDrainsInFlightRpcs) {
  // Long enough calls that they have surely reached the server when the
  // signal comes, short enough that the epoll mode (two handler threads)
  // drains all of them well within the 10 s grace.
  constexpr int kCalls = 8;
  std::vector<std::future<grpc::Status>> calls;
  calls.reserve(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(std::async(std::launch::async, [this] {
      RunResponse response;
      return CallRun(*stub_, Sleep(1'000'000), &response);
    }));
  }
  absl::SleepFor(absl::Milliseconds(500));
  server_->Signal(SIGTERM);
  for (auto& call : calls) {
    grpc::Status status = call.get();
    EXPECT_TRUE(status.ok())
        << status.error_code() << " " << status.error_message();
  }
  absl::StatusOr<int> code = server_->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << server_->Log();
  EXPECT_EQ(*code, 0) << server_->Log();
  EXPECT_THAT(server_->Log(), HasSubstr("msg=\"server stopped\""));
  EXPECT_THAT(server_->Log(), HasSubstr("cancelled_at_shutdown=0"));
  server_.reset();
}

INSTANTIATE_TEST_SUITE_P(Modes, ServerModeTest,
                         ::testing::Values("epoll", "threadpool", "umcg"));

class ServerLimitsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ServerLimitsTest, CallsPastMaxInflightAreResourceExhausted) {
  std::vector<std::string> args = ModeArgs(GetParam());
  args.push_back("--max-inflight=1");
  auto server = StartServer(args);
  ASSERT_NE(server, nullptr);
  // One connection per call: gRPC's async server sends all of a
  // connection's calls to one completion queue, so in the epoll mode calls
  // on one connection never overlap. Connections are spread over the
  // queues at random; with 16 of them, the chance that all land on the same
  // one of 2 queues is 2^-15.
  constexpr int kCalls = 16;
  std::vector<std::future<grpc::Status>> calls;
  calls.reserve(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(std::async(std::launch::async, [&server] {
      grpc::ChannelArguments channel_args;
      channel_args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      auto stub = Workload::NewStub(grpc::CreateCustomChannel(
          server->address(), grpc::InsecureChannelCredentials(), channel_args));
      RunResponse response;
      return CallRun(*stub, Sleep(1'000'000), &response);
    }));
  }
  int ok = 0;
  int exhausted = 0;
  for (auto& call : calls) {
    grpc::Status status = call.get();
    if (status.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_THAT(status.error_message(), HasSubstr("--max-inflight"));
      ++exhausted;
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(exhausted, 1);
  EXPECT_EQ(ok + exhausted, kCalls);
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(absl::Seconds(30)).value_or(-1), 0) << server->Log();
}

TEST_P(ServerLimitsTest, GraceRunOutCancelsWhatIsLeftAndExits) {
  std::vector<std::string> args = ModeArgs(GetParam());
  args.push_back("--shutdown-grace=300ms");
  auto server = StartServer(args);
  ASSERT_NE(server, nullptr);
  auto stub = Workload::NewStub(ChannelTo(*server));
  auto call = std::async(std::launch::async, [&stub] {
    RunResponse response;
    return CallRun(*stub, Sleep(30'000'000), &response, absl::Seconds(60));
  });
  absl::SleepFor(absl::Milliseconds(500));
  const absl::Time stop = absl::Now();
  server->Signal(SIGTERM);
  grpc::Status status = call.get();
  EXPECT_THAT(status.error_code(),
              ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE,
                               grpc::StatusCode::CANCELLED));
  EXPECT_EQ(server->Wait(absl::Seconds(20)).value_or(-1), 0) << server->Log();
  EXPECT_LT(absl::Now() - stop, absl::Seconds(15));
  EXPECT_THAT(server->Log(), HasSubstr("cancelled_at_shutdown=1"));
}

TEST_P(ServerLimitsTest, HealthSaysNotServingWhileDraining) {
  std::vector<std::string> args = ModeArgs(GetParam());
  args.push_back("--shutdown-grace=5s");
  auto server = StartServer(args);
  ASSERT_NE(server, nullptr);
  auto stub = Workload::NewStub(ChannelTo(*server));
  auto call = std::async(std::launch::async, [&stub] {
    RunResponse response;
    return CallRun(*stub, Sleep(2'000'000), &response);
  });
  // A channel opened before the drain, so it can still ask.
  auto channel = ChannelTo(*server);
  ASSERT_EQ(CheckHealth(channel, "").value_or(-1), kServing);
  absl::SleepFor(absl::Milliseconds(500));
  server->Signal(SIGTERM);
  ASSERT_TRUE(server->WaitForLog("msg=stopping", absl::Seconds(10)));
  absl::StatusOr<int> health = CheckHealth(channel, "");
  // Either the NOT_SERVING answer or a refused call: never SERVING.
  if (health.ok()) {
    EXPECT_EQ(*health, kNotServing);
  }
  EXPECT_TRUE(call.get().ok());
  EXPECT_EQ(server->Wait(absl::Seconds(30)).value_or(-1), 0) << server->Log();
}

// Without the health service the Workload service is unaffected, Check is
// UNIMPLEMENTED, and a graceful stop (which marks the server NOT_SERVING
// when it has a health service) still exits cleanly.
TEST_P(ServerLimitsTest, HealthServiceCanBeTurnedOff) {
  std::vector<std::string> args = ModeArgs(GetParam());
  args.push_back("--health-service=false");
  auto server = StartServer(args);
  ASSERT_NE(server, nullptr);
  auto channel = ChannelTo(*server);
  absl::StatusOr<int> health = CheckHealth(channel, "");
  EXPECT_EQ(health.status().code(), absl::StatusCode::kUnimplemented)
      << health.status();
  auto stub = Workload::NewStub(channel);
  RunResponse response;
  grpc::Status call = CallRun(*stub, Sleep(1000), &response);
  EXPECT_TRUE(call.ok()) << call.error_message();
  EXPECT_THAT(server->Log(), HasSubstr("health_service=off"));
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(absl::Seconds(30)).value_or(-1), 0) << server->Log();
}

INSTANTIATE_TEST_SUITE_P(Modes, ServerLimitsTest,
                         ::testing::Values("epoll", "threadpool", "umcg"));

// Modes whose handlers run off the completion-queue threads, so a client's
// cancellation reaches a handler while it blocks. (In the epoll mode the
// cancellation event queues behind the handler itself.)
class ServerCancellationTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ServerCancellationTest, ClientCancellationFreesTheHandler) {
  // One handler thread (or worker): if the cancelled call kept it, the
  // next call could not run until the 30 s sleep ended.
  std::vector<std::string> args =
      GetParam() == "umcg"
          ? std::vector<std::string>{"--mode=umcg", "--workers=1"}
          : std::vector<std::string>{"--mode=threadpool", "--threads=1"};
  auto server = StartServer(args);
  ASSERT_NE(server, nullptr);
  auto stub = Workload::NewStub(ChannelTo(*server));
  grpc::ClientContext context;
  RunResponse response;
  auto call = std::async(std::launch::async, [&] {
    return stub->Run(&context, Sleep(30'000'000), &response);
  });
  absl::SleepFor(absl::Milliseconds(500));
  context.TryCancel();
  EXPECT_EQ(call.get().error_code(), grpc::StatusCode::CANCELLED);

  RunResponse second;
  grpc::Status status = CallRun(*stub, Sleep(1000), &second, absl::Seconds(10));
  EXPECT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message();
  stub.reset();
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(absl::Seconds(30)).value_or(-1), 0) << server->Log();
}

// The same for a handler waiting on a downstream call, whose answer comes
// to the server's own completion queue (--downstream-cq=auto): the
// client's cancellation ends the downstream call and frees the handler,
// and at shutdown a grace that runs out cancels it before the queues stop.
TEST_P(ServerCancellationTest, CancellationEndsADownstreamCall) {
  // A threadpool downstream: its handlers see the cancellation too.
  auto downstream = StartServer({"--mode=threadpool"});
  ASSERT_NE(downstream, nullptr);
  RunRequest slow;
  slow.add_steps()->mutable_downstream()->set_sleep_micros(30'000'000);
  std::vector<std::string> args =
      GetParam() == "umcg"
          ? std::vector<std::string>{"--mode=umcg", "--workers=1"}
          : std::vector<std::string>{"--mode=threadpool", "--threads=1"};
  args.push_back("--downstream=" + downstream->address());
  args.push_back("--shutdown-grace=300ms");
  auto server = StartServer(args);
  ASSERT_NE(server, nullptr);
  ASSERT_THAT(server->Log(), HasSubstr("downstream_cq=server "));
  auto stub = Workload::NewStub(ChannelTo(*server));
  {
    grpc::ClientContext context;
    RunResponse response;
    auto call = std::async(std::launch::async, [&] {
      return stub->Run(&context, slow, &response);
    });
    absl::SleepFor(absl::Milliseconds(500));
    context.TryCancel();
    EXPECT_EQ(call.get().error_code(), grpc::StatusCode::CANCELLED);
  }
  RunResponse second;
  RunRequest quick;
  quick.add_steps()->mutable_downstream()->set_sleep_micros(1000);
  grpc::Status status = CallRun(*stub, quick, &second, absl::Seconds(10));
  EXPECT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message();

  auto call = std::async(std::launch::async, [&stub, &slow] {
    RunResponse response;
    return CallRun(*stub, slow, &response, absl::Seconds(60));
  });
  absl::SleepFor(absl::Milliseconds(500));
  const absl::Time stop = absl::Now();
  server->Signal(SIGTERM);
  EXPECT_THAT(call.get().error_code(),
              ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE,
                               grpc::StatusCode::CANCELLED));
  EXPECT_EQ(server->Wait(absl::Seconds(20)).value_or(-1), 0) << server->Log();
  EXPECT_LT(absl::Now() - stop, absl::Seconds(15));
  EXPECT_THAT(server->Log(), HasSubstr("cancelled_at_shutdown=1"));
  stub.reset();
  downstream->Signal(SIGTERM);
  EXPECT_EQ(downstream->Wait(absl::Seconds(30)).value_or(-1), 0)
      << downstream->Log();
}

INSTANTIATE_TEST_SUITE_P(Modes, ServerCancellationTest,
                         ::testing::Values("threadpool", "umcg"));

TEST(ServerStartupTest, BadFlagsExitTwoWithAMessage) {
  auto server = ServerProcess::Start(ServerBinary(), {"--mode=fast"});
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("--mode"));
}

TEST(ServerStartupTest, UmcgModeLogsTheBackendItChoseAndWhy) {
  auto server = StartServer({"--mode=umcg"});
  ASSERT_NE(server, nullptr);
  const std::string log = server->Log();
  EXPECT_THAT(log, HasSubstr("msg=\"runtime backend chosen\""));
  EXPECT_THAT(log, HasSubstr("asked=auto"));
  EXPECT_THAT(log, ::testing::ContainsRegex("backend=(kernel|fallback) "));
  EXPECT_THAT(log, HasSubstr("reason="));
}

TEST(ServerStartupTest, KernelBackendWithoutTheUmcgKernelIsAClearError) {
  if (access("/sys/kernel/umcg", F_OK) == 0) {
    GTEST_SKIP() << "this kernel has UMCG";
  }
  auto server = ServerProcess::Start(
      ServerBinary(),
      {"--mode=umcg", "--backend=kernel", "--listen=127.0.0.1:0"});
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("umcg"));
}

TEST(ServerStartupTest, OnTheUmcgKernelAutoPicksTheKernelBackend) {
  if (access("/sys/kernel/umcg", F_OK) != 0) {
    GTEST_SKIP() << "not the UMCG kernel (tests/guest/run-server-tests runs "
                    "this in the guest)";
  }
  auto server = StartServer({"--mode=umcg"});
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->Log(), HasSubstr("backend=kernel "));
}

TEST(ServerStartupTest, QueueThreadsAreBatchByDefaultInUmcgModeOnly) {
  struct Case {
    std::vector<std::string> args;
    int policy;
  };
  const std::vector<Case> cases = {
      {{"--mode=umcg"}, SCHED_BATCH},
      {{"--mode=umcg", "--cq-policy=normal"}, SCHED_OTHER},
      {{"--mode=epoll"}, SCHED_OTHER},
      {{"--mode=threadpool", "--cq-policy=batch"}, SCHED_BATCH},
  };
  for (const Case& c : cases) {
    auto server = StartServer(c.args);
    ASSERT_NE(server, nullptr);
    const std::vector<int> policies =
        PoliciesOfThreadsNamed(server->pid(), "grpc-cq");
    EXPECT_THAT(policies, ::testing::Not(::testing::IsEmpty()));
    EXPECT_THAT(policies, ::testing::Each(c.policy))
        << absl::StrJoin(c.args, " ");
  }
}

TEST(ServerStartupTest, CqNiceSetsTheQueueThreadsNiceValue) {
  if (getpriority(PRIO_PROCESS, 0) > 3) {
    GTEST_SKIP() << "this test runs at a nice value above the cases' 3 "
                    "(lowering it needs CAP_SYS_NICE)";
  }
  struct Case {
    std::vector<std::string> args;
    int nice;
  };
  // The downstream connects lazily: its client's thread exists without it.
  const std::vector<Case> cases = {
      {{"--mode=umcg", "--cq-nice=7", "--downstream-cq=own"}, 7},
      {{"--mode=threadpool", "--cq-nice=3", "--cq-threads=2",
        "--downstream-cq=own"},
       3},
      {{"--mode=umcg", "--downstream-cq=own"}, 0},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    args.push_back("--downstream=127.0.0.1:1");
    auto server = StartServer(args);
    ASSERT_NE(server, nullptr);
    const std::string what = absl::StrJoin(c.args, " ");
    const std::vector<int> queues =
        NiceValuesOfThreadsNamed(server->pid(), "grpc-cq");
    EXPECT_THAT(queues, ::testing::Not(::testing::IsEmpty())) << what;
    // 0 keeps the value the server inherited from this test.
    const int expected = c.nice != 0 ? c.nice : getpriority(PRIO_PROCESS, 0);
    EXPECT_THAT(queues, ::testing::Each(expected)) << what;
    EXPECT_THAT(NiceValuesOfThreadsNamed(server->pid(), "downstream-cq"),
                ::testing::ElementsAre(expected))
        << what;
    EXPECT_THAT(server->Log(), HasSubstr(absl::StrCat("cq_nice=", c.nice, " ")))
        << what;
  }
}

// Downstream answers arrive on the queue the call came in on, read by its
// grpc-cq thread, unless the mode runs handlers on those threads (epoll) or
// --downstream-cq=own gives the client a queue and a thread of its own.
TEST(ServerStartupTest, DownstreamAnswersArriveOnTheChosenQueue) {
  auto downstream = StartServer({"--mode=epoll"});
  ASSERT_NE(downstream, nullptr);
  struct Case {
    std::vector<std::string> args;
    std::string queue;
  };
  const std::vector<Case> cases = {
      {{"--mode=epoll"}, "own"},
      {ModeArgs("threadpool"), "server"},
      {ModeArgs("umcg"), "server"},
      {{"--mode=threadpool", "--downstream-cq=own"}, "own"},
      {{"--mode=umcg", "--downstream-cq=own"}, "own"},
      {{"--mode=umcg", "--downstream-cq=server"}, "server"},
      {{"--mode=threadpool", "--downstream-cq=server"}, "server"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    args.push_back("--downstream=" + downstream->address());
    auto server = StartServer(args);
    ASSERT_NE(server, nullptr);
    const std::string what = absl::StrJoin(c.args, " ");
    EXPECT_THAT(server->Log(), HasSubstr("downstream_cq=" + c.queue + " "))
        << what;
    EXPECT_EQ(ThreadsNamed(server->pid(), "downstream-cq").size(),
              c.queue == "own" ? 1u : 0u)
        << what;
    auto stub = Workload::NewStub(ChannelTo(*server));
    RunRequest request;
    request.add_steps()->mutable_downstream()->set_sleep_micros(2000);
    request.add_steps()->mutable_downstream()->set_sleep_micros(2000);
    RunResponse response;
    grpc::Status status = CallRun(*stub, request, &response);
    ASSERT_TRUE(status.ok()) << what << ": " << status.error_message();
    ASSERT_EQ(response.results_size(), 2) << what;
    EXPECT_GE(response.results(1).elapsed_nanos(), 2'000'000u) << what;
    stub.reset();
    server->Signal(SIGTERM);
    absl::StatusOr<int> code = server->Wait(absl::Seconds(30));
    ASSERT_TRUE(code.ok()) << what << ": " << server->Log();
    EXPECT_EQ(*code, 0) << what << ": " << server->Log();
  }
  downstream->Signal(SIGTERM);
  absl::StatusOr<int> code = downstream->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << downstream->Log();
  EXPECT_EQ(*code, 0) << downstream->Log();
}

TEST(ServerStartupTest, QueueThreadsDefaultToOnePerCpuOnlyInEpollMode) {
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  const int cpus = CPU_COUNT(&set);
  struct Case {
    std::vector<std::string> args;
    size_t threads;
  };
  const std::vector<Case> cases = {
      {{"--mode=epoll"}, static_cast<size_t>(cpus)},
      {{"--mode=umcg"}, static_cast<size_t>(std::max(1, cpus / 2))},
      {{"--mode=threadpool"}, static_cast<size_t>(std::max(1, cpus / 2))},
      {{"--mode=umcg", "--cq-threads=3"}, 3},
  };
  for (const Case& c : cases) {
    auto server = StartServer(c.args);
    ASSERT_NE(server, nullptr);
    EXPECT_EQ(PoliciesOfThreadsNamed(server->pid(), "grpc-cq").size(),
              c.threads)
        << absl::StrJoin(c.args, " ");
    EXPECT_THAT(server->Log(),
                HasSubstr(absl::StrCat("cq_threads=", c.threads, " ")))
        << absl::StrJoin(c.args, " ");
  }
}

TEST(ServerStartupTest, PortInUseIsAClearError) {
  auto first = StartServer({});
  ASSERT_NE(first, nullptr);
  auto second = ServerProcess::Start(
      ServerBinary(), {"--listen=" + first->address(), "--cq-threads=1"});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr("cannot listen"));
}

}  // namespace
}  // namespace umcg_rpc::testing
