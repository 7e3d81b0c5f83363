#include "tests/server/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "absl/memory/memory.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace umcg_rpc::testing {

ServerProcess::ServerProcess(pid_t pid, int stderr_fd) : pid_(pid) {
  reader_ = std::thread([this, stderr_fd] { ReadLoop(stderr_fd); });
}

ServerProcess::~ServerProcess() {
  if (!exited_) {
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }
  if (reader_.joinable()) reader_.join();
}

void ServerProcess::ReadLoop(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    absl::MutexLock lock(&mu_);
    if (n <= 0) {
      eof_ = true;
      break;
    }
    log_.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& binary, const std::vector<std::string>& args,
    absl::Duration timeout) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, "pipe2");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  std::vector<std::string> argv_storage = {binary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  argv.reserve(argv_storage.size() + 1);
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  int err = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(),
                        environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (err != 0) {
    ::close(pipe_fds[0]);
    return absl::ErrnoToStatus(err, absl::StrCat("spawning ", binary));
  }
  auto process = absl::WrapUnique(new ServerProcess(pid, pipe_fds[0]));

  const std::string kStarted = "msg=\"server started\"";
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    {
      absl::MutexLock lock(&process->mu_);
      size_t at = process->log_.find(kStarted);
      size_t port_at = process->log_.find(" port=", at);
      size_t end = process->log_.find(' ', port_at + 6);
      if (at != std::string::npos && port_at != std::string::npos &&
          end != std::string::npos) {
        if (!absl::SimpleAtoi(absl::string_view(process->log_)
                                  .substr(port_at + 6, end - port_at - 6),
                              &process->port_)) {
          return absl::InternalError("bad port in: " + process->log_);
        }
        return process;
      }
      // absl::Condition reads the flag with mu_ held.
      if (process->mu_.AwaitWithTimeout(absl::Condition(&process->eof_),
                                        absl::Milliseconds(20))) {
        return absl::UnavailableError("server exited before starting: " +
                                      process->log_);
      }
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError("server did not start: " +
                                         process->Log());
    }
  }
}

void ServerProcess::Signal(int sig) { ::kill(pid_, sig); }

absl::StatusOr<int> ServerProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int status;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError("server still running");
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

std::string ServerProcess::Log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

bool ServerProcess::WaitForLog(const std::string& text,
                               absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto found = [this, &text]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return log_.find(text) != std::string::npos || eof_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&found), timeout);
  return log_.find(text) != std::string::npos;
}

}  // namespace umcg_rpc::testing
