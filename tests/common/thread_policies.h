// Scheduling policies and nice values of a process's threads, looked up by
// thread name (shared by the runtime's and the server's tests).
#ifndef UMCG_RPC_TESTS_COMMON_THREAD_POLICIES_H_
#define UMCG_RPC_TESTS_COMMON_THREAD_POLICIES_H_

#include <sched.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace umcg_rpc::testing {

// The ids of `pid`'s threads named `name`.
inline std::vector<pid_t> ThreadsNamed(pid_t pid, const std::string& name) {
  std::vector<pid_t> tids;
  const std::filesystem::path dir =
      std::filesystem::path("/proc") / std::to_string(pid) / "task";
  for (const auto& task : std::filesystem::directory_iterator(dir)) {
    std::ifstream comm(task.path() / "comm");
    std::string thread_name;
    std::getline(comm, thread_name);
    if (thread_name == name) {
      tids.push_back(std::stoi(task.path().filename().string()));
    }
  }
  return tids;
}

// sched_getscheduler() of each of `pid`'s threads named `name`.
inline std::vector<int> PoliciesOfThreadsNamed(pid_t pid,
                                               const std::string& name) {
  std::vector<int> policies;
  for (pid_t tid : ThreadsNamed(pid, name)) {
    policies.push_back(sched_getscheduler(tid));
  }
  return policies;
}

// The nice value of each of `pid`'s threads named `name`.
inline std::vector<int> NiceValuesOfThreadsNamed(pid_t pid,
                                                 const std::string& name) {
  std::vector<int> values;
  for (pid_t tid : ThreadsNamed(pid, name)) {
    values.push_back(getpriority(PRIO_PROCESS, static_cast<id_t>(tid)));
  }
  return values;
}

}  // namespace umcg_rpc::testing

#endif  // UMCG_RPC_TESTS_COMMON_THREAD_POLICIES_H_
