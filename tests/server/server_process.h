// Runs the real umcg-rpc-server binary as a child process for tests.
#ifndef UMCG_RPC_TESTS_SERVER_SERVER_PROCESS_H_
#define UMCG_RPC_TESTS_SERVER_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace umcg_rpc::testing {

// A started server; killed (SIGKILL) if still running on destruction.
class ServerProcess {
 public:
  // Starts `binary` with `args`, waits for its "server started" log line and
  // reads the bound port from it. Fails if the process exits first.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& binary, const std::vector<std::string>& args,
      absl::Duration timeout = absl::Seconds(30));

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess();

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }

  // Sends `sig` to the server.
  void Signal(int sig);

  // Waits for exit; returns the exit status (or 128 + signal), or
  // DEADLINE_EXCEEDED if it is still running after `timeout`.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // Everything the server wrote to stderr so far.
  std::string Log() const;

  // Waits until the stderr log contains `text`.
  bool WaitForLog(const std::string& text, absl::Duration timeout) const;

 private:
  ServerProcess(pid_t pid, int stderr_fd);
  void ReadLoop(int fd);

  pid_t pid_;
  int port_ = 0;
  bool exited_ = false;
  mutable absl::Mutex mu_;
  std::string log_ ABSL_GUARDED_BY(mu_);
  bool eof_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reader_;
};

}  // namespace umcg_rpc::testing

#endif  // UMCG_RPC_TESTS_SERVER_SERVER_PROCESS_H_
