// Conversions between absl::Status and grpc::Status; codes map one to one.
#ifndef UMCG_RPC_SERVER_COMMON_STATUS_CONVERT_H_
#define UMCG_RPC_SERVER_COMMON_STATUS_CONVERT_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace umcg_rpc {

// The gRPC status with the same code and message.
inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

// The absl status with the same code and message.
inline absl::Status ToAbslStatus(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

}  // namespace umcg_rpc

#endif  // UMCG_RPC_SERVER_COMMON_STATUS_CONVERT_H_
