#include "runtime/internal/current.h"

namespace umcg_rpc::runtime::internal {
namespace {

// initial-exec keeps the access async-signal-safe (no lazy TLS allocation);
// the preemption handler reads tls_worker.
__attribute__((tls_model("initial-exec"))) thread_local Worker* tls_worker =
    nullptr;
__attribute__((tls_model("initial-exec"))) thread_local TaskState* tls_task =
    nullptr;

}  // namespace

Worker* CurrentWorker() { return tls_worker; }
void SetCurrentWorker(Worker* worker) { tls_worker = worker; }
TaskState* CurrentTask() { return tls_task; }
void SetCurrentTask(TaskState* task) { tls_task = task; }

}  // namespace umcg_rpc::runtime::internal
