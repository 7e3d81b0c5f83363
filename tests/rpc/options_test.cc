#include "server/options.h"

#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace umcg_rpc {
namespace {

absl::StatusOr<std::optional<ServerOptions>> Parse(
    std::vector<const char*> args) {
  args.insert(args.begin(), "umcg-rpc-server");
  return ParseServerOptions(static_cast<int>(args.size()), args.data());
}

TEST(ServerOptionsTest, DefaultsAreTheDocumentedOnes) {
  auto options = Parse({});
  ASSERT_TRUE(options.ok()) << options.status();
  ASSERT_TRUE(options->has_value());
  EXPECT_EQ((*options)->mode, ServerMode::kEpoll);
  EXPECT_EQ((*options)->listen, "127.0.0.1:50051");
  EXPECT_EQ((*options)->threads, 256);
  EXPECT_EQ((*options)->max_inflight, 10000);
  EXPECT_EQ((*options)->shutdown_grace, absl::Seconds(10));
  EXPECT_EQ((*options)->cq_policy, "auto");
  EXPECT_EQ((*options)->cq_nice, 0);
  EXPECT_EQ((*options)->runtime_policy, "batch");
  EXPECT_EQ((*options)->downstream_cq, "auto");
  EXPECT_TRUE((*options)->health_service);
}

TEST(ServerOptionsTest, ParsesEveryFlag) {
  auto options =
      Parse({"--mode=threadpool", "--listen", "0.0.0.0:0", "--cq-threads=3",
             "--cq-policy=batch", "--cq-nice=19", "--threads=7",
             "--max-inflight=9", "--data-file-size=8192",
             "--downstream=127.0.0.1:1", "--downstream-cq=own",
             "--shutdown-grace=1500ms", "--health-service=false"});
  ASSERT_TRUE(options.ok()) << options.status();
  const ServerOptions& o = **options;
  EXPECT_EQ(o.mode, ServerMode::kThreadPool);
  EXPECT_EQ(o.listen, "0.0.0.0:0");
  EXPECT_EQ(o.cq_threads, 3);
  EXPECT_EQ(o.cq_policy, "batch");
  EXPECT_EQ(o.cq_nice, 19);
  EXPECT_EQ(o.threads, 7);
  EXPECT_EQ(o.max_inflight, 9);
  EXPECT_EQ(o.data_file_size, 8192);
  EXPECT_EQ(o.downstream, "127.0.0.1:1");
  EXPECT_EQ(o.downstream_cq, "own");
  EXPECT_EQ(o.shutdown_grace, absl::Milliseconds(1500));
  EXPECT_FALSE(o.health_service);
}

TEST(ServerOptionsTest, HelpReturnsNoOptions) {
  testing::internal::CaptureStdout();
  auto options = Parse({"--help"});
  std::string help = testing::internal::GetCapturedStdout();
  ASSERT_TRUE(options.ok());
  EXPECT_FALSE(options->has_value());
  EXPECT_NE(help.find("--max-inflight"), std::string::npos);
  EXPECT_NE(help.find("--backend"), std::string::npos);
}

TEST(ServerOptionsTest, BadFlagsAreInvalidArgumentWithTheFlagName) {
  const std::vector<std::vector<const char*>> cases = {
      {"--mode=fast"},
      {"--threads=0", "--mode=threadpool"},
      {"--max-inflight=-1"},
      {"--shutdown-grace=soon"},
      {"--no-such-flag"},
      {"--cq-threads=x"},
      {"--data-file=/no/such"},
      {"--threads=4"},
      {"stray"},
      {"--backend=kernel"},
      {"--mode=umcg", "--backend=magic"},
      {"--workers=8"},
      {"--min-workers=8"},
      {"--mode=umcg", "--workers=8", "--min-workers=9"},
      {"--mode=umcg", "--min-workers=-1"},
      {"--mode=umcg", "--time-slice=never"},
      {"--cq-policy=fifo"},
      {"--cq-nice=20"},
      {"--cq-nice=-1"},
      {"--cq-nice=low"},
      {"--health-service=maybe"},
      {"--runtime-policy=batch"},
      {"--mode=umcg", "--runtime-policy=fifo"},
      {"--downstream-cq=shared", "--mode=umcg"},
      {"--downstream-cq=server", "--mode=epoll"},
  };
  for (const auto& args : cases) {
    auto options = Parse(args);
    EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument)
        << args[0];
  }
}

// The epoll mode's handlers run on the completion-queue threads, which
// must not wait for answers on their own queues.
TEST(ServerOptionsTest, DownstreamCqServerIsRefusedOnlyInEpollMode) {
  auto epoll = Parse({"--mode=epoll", "--downstream-cq=server"});
  EXPECT_EQ(epoll.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(epoll.status().message().find("--downstream-cq"), std::string::npos)
      << epoll.status();
  for (const char* mode : {"--mode=umcg", "--mode=threadpool"}) {
    auto options = Parse({mode, "--downstream-cq=server"});
    ASSERT_TRUE(options.ok()) << mode << ": " << options.status();
    EXPECT_EQ((**options).downstream_cq, "server");
  }
  auto own = Parse({"--mode=epoll", "--downstream-cq=own"});
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ((**own).downstream_cq, "own");
}

TEST(ServerOptionsTest, ParsesTheUmcgFlags) {
  auto options = Parse({"--mode=umcg", "--backend=fallback", "--workers=77",
                        "--min-workers=7", "--servers=3", "--time-slice=0s",
                        "--runtime-policy=normal"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ((*options)->mode, ServerMode::kUmcg);
  EXPECT_EQ((*options)->backend, "fallback");
  EXPECT_EQ((*options)->workers, 77);
  EXPECT_EQ((*options)->min_workers, 7);
  EXPECT_EQ((*options)->servers, 3);
  EXPECT_EQ((*options)->time_slice, absl::ZeroDuration());
  EXPECT_EQ((*options)->runtime_policy, "normal");
}

TEST(ServerOptionsTest, ConfigFileSetsFlagsAndCommandLineWins) {
  const std::string path = testing::TempDir() + "/server_options_test.conf";
  std::ofstream(path) << "# a comment\nmode = threadpool\nthreads = 12\n"
                         "max-inflight = 34\n";
  auto options = Parse({"--config", path.c_str(), "--max-inflight=56"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ((*options)->mode, ServerMode::kThreadPool);
  EXPECT_EQ((*options)->threads, 12);
  EXPECT_EQ((*options)->max_inflight, 56);
}

TEST(ServerOptionsTest, ConfigFileWithUnknownKeyIsAnError) {
  const std::string path = testing::TempDir() + "/server_options_bad.conf";
  std::ofstream(path) << "frobnicate = 3\n";
  auto options = Parse({"--config", path.c_str()});
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ServerOptionsTest, MissingConfigFileIsAnError) {
  auto options = Parse({"--config", "/no/such/file.conf"});
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace umcg_rpc
