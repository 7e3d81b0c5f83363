#include "server/rpc/async_server.h"

#include <memory>
#include <utility>

#include "gtest/gtest.h"
#include "server/rpc/executor.h"
#include "server/rpc/workload_handlers.h"
#include "server/workload/data_file.h"

namespace umcg_rpc {
namespace {

// A handler on its queue's own thread cannot wait for an answer on that
// queue: lending queues to inline handlers would hang, so it is refused.
TEST(AsyncServerTest, RefusesToLendQueuesToHandlersOnTheQueueThreads) {
  absl::StatusOr<std::unique_ptr<workload::DataFile>> data =
      workload::DataFile::CreateTemporary(testing::TempDir(), 4096);
  ASSERT_TRUE(data.ok()) << data.status();
  WorkloadHandlers handlers(*std::move(data), nullptr);
  InlineExecutor executor;
  AsyncServerOptions options;
  options.listen = "127.0.0.1:0";
  options.lend_queues_to_handlers = true;
  absl::StatusOr<std::unique_ptr<AsyncServer>> server =
      AsyncServer::Start(options, handlers, executor);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);

  options.lend_queues_to_handlers = false;
  server = AsyncServer::Start(options, handlers, executor);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  (*server)->Shutdown(absl::ZeroDuration());
}

}  // namespace
}  // namespace umcg_rpc
