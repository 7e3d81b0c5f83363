// Scheduling policies of a process's threads, looked up by thread name
// (shared by the runtime's and the server's tests).
#ifndef UMCG_RPC_TESTS_COMMON_THREAD_POLICIES_H_
#define UMCG_RPC_TESTS_COMMON_THREAD_POLICIES_H_

#include <sched.h>
#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace umcg_rpc::testing {

// sched_getscheduler() of each of `pid`'s threads named `name`.
inline std::vector<int> PoliciesOfThreadsNamed(pid_t pid,
                                               const std::string& name) {
  std::vector<int> policies;
  const std::filesystem::path dir =
      std::filesystem::path("/proc") / std::to_string(pid) / "task";
  for (const auto& task : std::filesystem::directory_iterator(dir)) {
    std::ifstream comm(task.path() / "comm");
    std::string thread_name;
    std::getline(comm, thread_name);
    if (thread_name != name) continue;
    policies.push_back(
        sched_getscheduler(std::stoi(task.path().filename().string())));
  }
  return policies;
}

}  // namespace umcg_rpc::testing

#endif  // UMCG_RPC_TESTS_COMMON_THREAD_POLICIES_H_
