// Calls the standard gRPC services (health, reflection) without their
// .proto files: requests are encoded and responses decoded on the wire
// format directly, which is all a test needs.
#ifndef UMCG_RPC_TESTS_SERVER_GRPC_PROBES_H_
#define UMCG_RPC_TESTS_SERVER_GRPC_PROBES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"

namespace umcg_rpc::testing {

// grpc.health.v1.HealthCheckResponse.ServingStatus values.
inline constexpr int kServing = 1;
inline constexpr int kNotServing = 2;

// Calls grpc.health.v1.Health/Check for `service` ("" = the whole server)
// and returns the ServingStatus number.
absl::StatusOr<int> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service);

// Lists the services the server's reflection service reports.
absl::StatusOr<std::vector<std::string>> ListServicesByReflection(
    const std::shared_ptr<grpc::Channel>& channel);

}  // namespace umcg_rpc::testing

#endif  // UMCG_RPC_TESTS_SERVER_GRPC_PROBES_H_
