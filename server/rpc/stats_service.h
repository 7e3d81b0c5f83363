// The umcgrpc.v1.ServerStats service: exports the server's and the
// runtime's counters over gRPC (reflection lets grpcurl call it).
#ifndef UMCG_RPC_SERVER_RPC_STATS_SERVICE_H_
#define UMCG_RPC_SERVER_RPC_STATS_SERVICE_H_

#include <atomic>
#include <string>

#include "runtime/scheduler.h"
#include "server/rpc/async_server.h"
#include "umcgrpc/v1/stats.grpc.pb.h"

namespace umcg_rpc {

// A synchronous service: it runs on gRPC's own threads, never on a worker.
class StatsService final : public umcgrpc::v1::ServerStats::Service {
 public:
  // `mode` and `backend` are reported as given.
  StatsService(std::string mode, std::string backend)
      : mode_(std::move(mode)), backend_(std::move(backend)) {}

  // Where the counters come from; until set, Get answers UNAVAILABLE. The
  // objects must outlive the service's last call (the gRPC server).
  void SetSources(const AsyncServer* server,
                  const runtime::Scheduler* scheduler);

  grpc::Status Get(grpc::ServerContext* context,
                   const umcgrpc::v1::GetStatsRequest* request,
                   umcgrpc::v1::Stats* response) override;

 private:
  const std::string mode_;
  const std::string backend_;
  std::atomic<const AsyncServer*> server_{nullptr};
  std::atomic<const runtime::Scheduler*> scheduler_{nullptr};
};

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_RPC_STATS_SERVICE_H_
