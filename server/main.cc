// umcg-rpc-server: the Workload gRPC service; see --help.
#include <iostream>

#include "server/common/lock_checks.h"
#include "server/common/log.h"
#include "server/options.h"
#include "server/run_server.h"

int main(int argc, char** argv) {
  umcg_rpc::UseReleaseLockChecks();
  absl::StatusOr<std::optional<umcg_rpc::ServerOptions>> options =
      umcg_rpc::ParseServerOptions(argc, argv);
  if (!options.ok()) {
    std::cerr << "umcg-rpc-server: " << options.status().message()
              << "\nRun with --help for usage.\n";
    return 2;
  }
  if (!options->has_value()) return 0;  // --help was printed.
  absl::Status status = umcg_rpc::RunServer(**options);
  if (!status.ok()) {
    umcg_rpc::Log(umcg_rpc::LogLevel::kError, "server failed",
                  {{"code", absl::StatusCodeToString(status.code())},
                   {"error", status.message()}});
    return 1;
  }
  return 0;
}
