#include "server/rpc/stats_service.h"

namespace umcg_rpc {

void StatsService::SetSources(const AsyncServer* server,
                              const runtime::Scheduler* scheduler) {
  scheduler_.store(scheduler, std::memory_order_release);
  server_.store(server, std::memory_order_release);
}

grpc::Status StatsService::Get(grpc::ServerContext* /*context*/,
                               const umcgrpc::v1::GetStatsRequest* /*request*/,
                               umcgrpc::v1::Stats* response) {
  const AsyncServer* server = server_.load(std::memory_order_acquire);
  if (server == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "the server is still starting");
  }
  const AsyncServerStats stats = server->stats();
  response->set_mode(mode_);
  response->set_backend(backend_);
  response->set_rpcs_succeeded(stats.succeeded);
  response->set_rpcs_failed(stats.failed);
  response->set_rpcs_rejected(stats.rejected);
  response->set_rpcs_inflight(stats.inflight);
  const runtime::Scheduler* scheduler =
      scheduler_.load(std::memory_order_acquire);
  if (scheduler == nullptr) return grpc::Status::OK;

  const runtime::MetricsSnapshot m = scheduler->metrics();
  umcgrpc::v1::RuntimeStats* r = response->mutable_runtime();
  r->set_servers(m.servers);
  r->set_workers(m.workers);
  r->set_idle_workers(m.idle_workers);
  r->set_running_workers(m.running_workers);
  r->set_runnable_workers(m.runnable_workers);
  r->set_blocked_workers(m.blocked_workers);
  r->set_queued_tasks(m.queued_tasks);
  r->set_switches(m.switches);
  r->set_blocks(m.blocks);
  r->set_wakes(m.wakes);
  r->set_direct_wakes(m.direct_wakes);
  r->set_direct_dispatches(m.direct_dispatches);
  r->set_preemptions(m.preemptions);
  r->set_detected_blocks(m.detected_blocks);
  r->set_steals(m.steals);
  r->set_workers_created(m.workers_created);
  r->set_workers_retired(m.workers_retired);
  r->set_stack_trims(m.stack_trims);
  r->set_max_running_observed(m.max_running_observed);
  r->set_queue_delay_p50_micros(m.queue_delay.QuantileUpperBoundMicros(0.5));
  r->set_queue_delay_p99_micros(m.queue_delay.QuantileUpperBoundMicros(0.99));
  return grpc::Status::OK;
}

}  // namespace umcg_rpc
