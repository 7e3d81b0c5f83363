#include "server/workload/step_runner.h"

#include <time.h>

#include <string>
#include <thread>

#include "grpcpp/completion_queue.h"
#include "gtest/gtest.h"
#include "server/common/completion_tag.h"
#include "server/workload/fnv.h"

namespace umcg_rpc::workload {
namespace {

using umcgrpc::v1::RunRequest;
using umcgrpc::v1::RunResponse;

class StepRunnerTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<DataFile>> file =
        DataFile::CreateTemporary(testing::TempDir(), 64 << 10);
    ASSERT_TRUE(file.ok()) << file.status();
    data_file_ = *std::move(file);
    context_.data_file = data_file_.get();
    context_.cancellation = &cancellation_;
  }

  std::unique_ptr<DataFile> data_file_;
  Cancellation cancellation_;
  StepContext context_;
};

absl::Duration ThreadCpu() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

TEST_F(StepRunnerTest, SpinBurnsAtLeastTheAskedCpuTime) {
  RunRequest request;
  request.add_steps()->mutable_spin()->set_micros(20'000);
  const absl::Duration before = ThreadCpu();
  absl::StatusOr<RunResponse> response = RunSteps(request, context_);
  const absl::Duration used = ThreadCpu() - before;
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->results_size(), 1);
  EXPECT_GT(response->results(0).work(), 0u);
  EXPECT_NE(response->results(0).checksum(), 0u);
  EXPECT_GE(used, absl::Milliseconds(20));
}

TEST_F(StepRunnerTest, SleepBlocksForAtLeastTheAskedTime) {
  RunRequest request;
  request.add_steps()->mutable_sleep()->set_micros(30'000);
  const absl::Time start = absl::Now();
  absl::StatusOr<RunResponse> response = RunSteps(request, context_);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(30));
  EXPECT_GE(response->results(0).elapsed_nanos(), 30'000'000u);
  EXPECT_GE(response->elapsed_nanos(), 30'000'000u);
}

TEST_F(StepRunnerTest, ReadReturnsTheBytesChecksum) {
  std::string expected(100, '\0');
  ASSERT_TRUE(
      data_file_->ReadAt(1000, {expected.data(), expected.size()}).ok());
  RunRequest request;
  auto* read = request.add_steps()->mutable_read();
  read->set_offset(1000);
  read->set_bytes(100);
  absl::StatusOr<RunResponse> response = RunSteps(request, context_);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->results(0).work(), 100u);
  EXPECT_EQ(response->results(0).checksum(), Fnv1a64(expected));
}

TEST_F(StepRunnerTest, ReadPastTheEndIsOutOfRange) {
  RunRequest request;
  auto* read = request.add_steps()->mutable_read();
  read->set_offset(data_file_->size() - 10);
  read->set_bytes(11);
  absl::StatusOr<RunResponse> response = RunSteps(request, context_);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(StepRunnerTest, DownstreamWithoutOneIsFailedPrecondition) {
  RunRequest request;
  request.add_steps()->mutable_downstream()->set_sleep_micros(1);
  absl::StatusOr<RunResponse> response = RunSteps(request, context_);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kFailedPrecondition);
}

// A client of a downstream that refuses connections, with no completion
// queue of its own; null (and a test failure) if it cannot be made.
std::unique_ptr<DownstreamClient> ClientWithoutQueue() {
  DownstreamOptions options;
  options.own_queue = false;
  absl::StatusOr<std::unique_ptr<DownstreamClient>> client =
      DownstreamClient::Create("127.0.0.1:1", options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

// A request with one short downstream step.
RunRequest OneDownstream() {
  RunRequest request;
  request.add_steps()->mutable_downstream()->set_sleep_micros(1);
  return request;
}

// A client made without a queue of its own needs the caller's: without one
// the step fails at once, naming why, instead of waiting for an answer that
// no thread would read.
TEST_F(StepRunnerTest, DownstreamWithNoQueueToAnswerOnIsFailedPrecondition) {
  std::unique_ptr<DownstreamClient> client = ClientWithoutQueue();
  ASSERT_NE(client, nullptr);
  context_.downstream = client.get();
  absl::StatusOr<RunResponse> response = RunSteps(OneDownstream(), context_);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(response.status().message().find("completion queue"),
            std::string::npos)
      << response.status();
}

// With the caller's queue, the answer is read by whoever drains that queue:
// here a downstream that refuses the connection, so UNAVAILABLE naming it
// (not FAILED_PRECONDITION: the queue given was used).
TEST_F(StepRunnerTest, DownstreamAnswerArrivesOnTheCallersQueue) {
  std::unique_ptr<DownstreamClient> client = ClientWithoutQueue();
  ASSERT_NE(client, nullptr);
  grpc::CompletionQueue queue;
  std::thread drainer([&queue] { DrainCompletionQueue(queue); });
  context_.downstream = client.get();
  context_.downstream_queue = &queue;
  absl::StatusOr<RunResponse> response = RunSteps(OneDownstream(), context_);
  queue.Shutdown();
  drainer.join();
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(response.status().message().find("127.0.0.1:1"), std::string::npos)
      << response.status();
}

TEST_F(StepRunnerTest, InvalidRequestRunsNothing) {
  // A valid 30 s sleep, then an invalid step: the whole request must be
  // refused before the sleep starts. (The bound is far from 30 s, so load
  // on the machine cannot make this fail.)
  RunRequest request;
  request.add_steps()->mutable_sleep()->set_micros(30'000'000);
  request.add_steps();
  const absl::Time start = absl::Now();
  absl::StatusOr<RunResponse> response = RunSteps(request, context_);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
}

TEST_F(StepRunnerTest, DeadlineCutsASleepShort) {
  RunRequest request;
  request.add_steps()->mutable_sleep()->set_micros(10'000'000);
  context_.deadline = absl::Now() + absl::Milliseconds(20);
  absl::StatusOr<RunResponse> response = RunSteps(request, context_);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_GE(absl::Now(), context_.deadline);
}

TEST_F(StepRunnerTest, DeadlineCutsASpinShort) {
  RunRequest request;
  request.add_steps()->mutable_spin()->set_micros(1'000'000);
  context_.deadline = absl::Now() + absl::Milliseconds(20);
  absl::StatusOr<RunResponse> response = RunSteps(request, context_);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(StepRunnerTest, CancellationWakesASleepWithItsReason) {
  RunRequest request;
  request.add_steps()->mutable_sleep()->set_micros(10'000'000);
  std::thread canceller([this] {
    absl::SleepFor(absl::Milliseconds(20));
    cancellation_.Cancel(absl::UnavailableError("stopping"));
  });
  absl::StatusOr<RunResponse> response = RunSteps(request, context_);
  canceller.join();
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(response.status().message(), "stopping");
}

TEST_F(StepRunnerTest, CancelledCallRunsNoFurtherStep) {
  cancellation_.Cancel(absl::CancelledError("gone"));
  RunRequest request;
  request.add_steps()->mutable_spin()->set_micros(1);
  absl::StatusOr<RunResponse> response = RunSteps(request, context_);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace umcg_rpc::workload
