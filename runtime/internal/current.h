// Thread-local "where am I": the worker and task the calling thread runs.
#ifndef UMCG_RPC_RUNTIME_INTERNAL_CURRENT_H_
#define UMCG_RPC_RUNTIME_INTERNAL_CURRENT_H_

#include "runtime/internal/task_state.h"
#include "runtime/internal/worker.h"

namespace umcg_rpc::runtime::internal {

// The worker the calling thread is, or nullptr on any other thread.
Worker* CurrentWorker();
// Sets the calling thread's worker (worker threads only).
void SetCurrentWorker(Worker* worker);

// The task running on the calling worker, or nullptr.
TaskState* CurrentTask();
// Sets the calling thread's task (worker threads only).
void SetCurrentTask(TaskState* task);

}  // namespace umcg_rpc::runtime::internal

#endif  // UMCG_RPC_RUNTIME_INTERNAL_CURRENT_H_
