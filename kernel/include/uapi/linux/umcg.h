/* SPDX-License-Identifier: GPL-2.0+ WITH Linux-syscall-note */
#ifndef _UAPI_LINUX_UMCG_H
#define _UAPI_LINUX_UMCG_H

/*
 * UMCG: User Managed Concurrency Groups.
 *
 * A process registers some of its threads as UMCG "servers" and others as
 * UMCG "workers". A server runs at most one worker at a time and sleeps
 * while that worker runs. When a worker blocks in the kernel (any syscall,
 * a page fault), the kernel marks it BLOCKED and wakes its server on the
 * same CPU, so the server can run another worker. When the blocking
 * operation ends, the worker does not simply continue: at its next return
 * to user mode it marks itself IDLE, pushes itself onto the process's
 * idle-worker list, wakes an idle server if one is published, and waits
 * until a server runs it again.
 *
 * This header is the single source of truth for the ABI. It is used by the
 * kernel and, unchanged, by C and C++ user space. Full documentation:
 * Documentation/userspace-api/umcg.rst.
 *
 * Who writes what: every field below states which side (kernel, or user
 * space) writes it, and when. A field "written by user space" is only read
 * by the kernel; the kernel never relies on it for its own memory safety.
 */

#include <linux/types.h>

/*
 * ABI version published in UMCG_SYSFS_ABI_VERSION. Bumped on any
 * incompatible change of this header.
 */
#define UMCG_ABI_VERSION		1

/*
 * Discovery. The syscall numbers of umcg_ctl() and umcg_wait() are not
 * part of any upstream syscall table: the numbers used by a UMCG kernel
 * may belong to other syscalls on a stock kernel. User space must read
 * them from sysfs and must not issue a UMCG syscall if the directory is
 * missing or the ABI version differs from UMCG_ABI_VERSION.
 *
 * Each file holds one decimal number followed by a newline.
 */
#define UMCG_SYSFS_DIR			"/sys/kernel/umcg"
#define UMCG_SYSFS_ABI_VERSION		UMCG_SYSFS_DIR "/abi_version"
#define UMCG_SYSFS_NR_UMCG_CTL		UMCG_SYSFS_DIR "/nr_umcg_ctl"
#define UMCG_SYSFS_NR_UMCG_WAIT		UMCG_SYSFS_DIR "/nr_umcg_wait"

/*
 * umcg_task.state layout (64 bits):
 *
 *   bits  0..7   task state: one of UMCG_TASK_{NONE,RUNNING,IDLE,BLOCKED}
 *   bits  8..15  task flags: UMCG_TF_*
 *   bits 16..63  timestamp, in units of UMCG_TASK_TS_UNIT_NS nanoseconds of
 *                CLOCK_MONOTONIC, modulo 2^48
 *
 * Every time the kernel changes the state word it also stores a new
 * timestamp that is strictly greater (modulo 2^48) than the one it
 * replaced: max(now, old + 1). User space can therefore detect ABA races
 * (the state went RUNNING -> BLOCKED -> IDLE -> RUNNING between two reads)
 * by comparing whole 64-bit words. User space that changes the state word
 * itself should do the same (UMCG_TASK_TS_NEXT() below) but the kernel
 * does not depend on it.
 */
#define UMCG_TASK_NONE			0ULL
#define UMCG_TASK_RUNNING		1ULL
#define UMCG_TASK_IDLE			2ULL
#define UMCG_TASK_BLOCKED		3ULL
#define UMCG_TASK_STATE_MASK		0xffULL

/*
 * UMCG_TF_LOCKED: user space is in the middle of changing this task's state
 * and wants the kernel to leave it alone. A RUNNING|LOCKED worker that
 * blocks is not reported (it stays RUNNING, its server is not woken) and is
 * not queued when it wakes; UMCG_TF_PREEMPTED is ignored while LOCKED is
 * set. Set and cleared only by user space.
 *
 * UMCG_TF_PREEMPTED: user space asks the kernel to preempt a RUNNING
 * worker. User space sets it with a compare-and-swap on a RUNNING worker and
 * then sends the worker a signal that is not ignored (a handler must be
 * installed, or the signal blocked). The preemption takes effect at the
 * worker's next return to user mode, never inside the kernel: the worker
 * becomes IDLE (the flag is cleared), is pushed onto the idle-worker list,
 * and its server is woken on the current CPU.
 */
#define UMCG_TF_LOCKED			(1ULL << 8)
#define UMCG_TF_PREEMPTED		(1ULL << 9)
#define UMCG_TF_MASK			0xff00ULL

#define UMCG_TASK_TS_SHIFT		16
#define UMCG_TASK_TS_BITS		48
#define UMCG_TASK_TS_MASK		(~0ULL << UMCG_TASK_TS_SHIFT)
#define UMCG_TASK_TS_UNIT_NS		1024ULL

/* Accessors for a state word (a __u64 value, not a pointer). */
#define UMCG_TASK_STATE(s)		((s) & UMCG_TASK_STATE_MASK)
#define UMCG_TASK_FLAGS(s)		((s) & UMCG_TF_MASK)
#define UMCG_TASK_TS(s)			((s) >> UMCG_TASK_TS_SHIFT)
/* @s with its timestamp advanced by one unit (wraps modulo 2^48). */
#define UMCG_TASK_TS_NEXT(s)		((s) + (1ULL << UMCG_TASK_TS_SHIFT))

/*
 * The idle-worker list is a singly linked LIFO of struct umcg_task,
 * anchored in a __u64 head owned by user space (see idle_workers_ptr). The
 * kernel only pushes; user space only detaches the whole list at once
 * (atomic exchange of the head with 0) and then walks it privately.
 *
 * A push by the kernel is three steps:
 *   1. node->idle_next = UMCG_IDLE_NODE_PENDING
 *   2. old = xchg(*head, address of node)
 *   3. node->idle_next = old
 *
 * Between steps 2 and 3 the node is already reachable from the head, but
 * its link is not known yet. UMCG_IDLE_NODE_PENDING is the value a walker
 * sees in that window: it means "the kernel is still linking this node;
 * re-read idle_next until it changes". It can never be a node address
 * because struct umcg_task is 64-byte aligned. The window is short (the
 * kernel completes step 3 before the worker waits) but not bounded by a
 * fixed time, so walkers must re-read, not give up.
 *
 * UMCG_IDLE_NODE_END (0) terminates the list.
 */
#define UMCG_IDLE_NODE_END		0ULL
#define UMCG_IDLE_NODE_PENDING		1ULL

/* Alignment of struct umcg_task; a misaligned pointer gets -EINVAL. */
#define UMCG_TASK_ALIGN			64

/**
 * struct umcg_task - per-thread UMCG state shared by user space and kernel
 *
 * One per registered thread, allocated by user space, 64-byte aligned,
 * zero-initialised except where stated, and alive until the thread
 * unregisters or exits. All fields must be accessed with atomic
 * instructions (or at least single-copy-atomic loads and stores) when
 * another thread or the kernel may touch them concurrently.
 */
struct umcg_task {
	/*
	 * @state: see the layout above.
	 *
	 * Written by the kernel:
	 *   - worker RUNNING -> BLOCKED, when the worker blocks in the kernel
	 *     (from the scheduler, without faulting: if the page is not
	 *     resident the block is not reported and the worker keeps its
	 *     server waiting until it returns to user mode);
	 *   - worker BLOCKED -> IDLE, and RUNNING|PREEMPTED -> IDLE, at the
	 *     worker's next return to user mode, before it is pushed onto the
	 *     idle-worker list;
	 *   - worker RUNNING -> IDLE in umcg_ctl(UMCG_CTL_REGISTER|WORKER);
	 *   - any task IDLE -> RUNNING when it is the target of umcg_wait()
	 *     (next_tid) or of an idle-server wake-up;
	 *   - the caller of umcg_wait() IDLE -> RUNNING when its wait ends
	 *     without a wake-up (timeout, signal, error).
	 * Written by user space:
	 *   - before umcg_ctl(UMCG_CTL_REGISTER): UMCG_TASK_RUNNING;
	 *   - the calling thread RUNNING -> IDLE just before umcg_wait();
	 *   - another worker RUNNING -> RUNNING|UMCG_TF_PREEMPTED;
	 *   - UMCG_TF_LOCKED set/cleared on its own terms.
	 */
	__u64	state;

	/*
	 * @next_tid: the thread to run instead of the caller.
	 *
	 * Written by user space before umcg_wait(): the tid of a thread of the
	 * same process whose state is IDLE. umcg_wait() moves it to RUNNING
	 * and wakes it on the current CPU, then waits. 0 means "nobody".
	 * Read by the kernel in umcg_wait() only; never written by it.
	 */
	__u32	next_tid;

	/*
	 * @server_tid: for a worker, the tid of the server currently running
	 * it (the server that sleeps in umcg_wait() while the worker runs).
	 *
	 * Written by the kernel in umcg_wait() when it switches to this worker,
	 * just before it moves the worker IDLE -> RUNNING: the caller's tid if
	 * the caller is a server, the caller's own server_tid if the caller is
	 * a worker. User space may write it too (e.g. before a WAKE_ONLY wake).
	 * A worker must be in at most one run queue: if two servers switch to
	 * it at once, one gets EAGAIN but may have overwritten this field.
	 * Read by the kernel when the worker blocks, is preempted, exits or
	 * unregisters, to wake that server on the current CPU. Must be 0 at
	 * registration of a server.
	 */
	__u32	server_tid;

	/*
	 * @idle_workers_ptr: for a worker, the user address of the __u64 head
	 * of the idle-worker list this worker is pushed onto when it becomes
	 * IDLE in the kernel. Required (non-zero) for workers, must be 0 for
	 * servers.
	 *
	 * Written by user space before registration, not changed afterwards.
	 * The head itself is written by the kernel (push) and by user space
	 * (detach with an atomic exchange with 0).
	 */
	__u64	idle_workers_ptr;

	/*
	 * @idle_server_tid_ptr: for a worker, the user address of a __u32 that
	 * holds the tid of an idle server, or 0. Optional for workers (0: no
	 * idle server is ever woken), must be 0 for servers.
	 *
	 * Written by user space before registration. The __u32 it points to
	 * is written by user space (a server publishes its tid there after
	 * setting itself IDLE and before checking the idle-worker list and
	 * calling umcg_wait()) and by the kernel (after a push it exchanges
	 * the value with 0 and, if it got a tid, wakes that server).
	 */
	__u64	idle_server_tid_ptr;

	/*
	 * @idle_next: the link of this worker in the idle-worker list: the
	 * address of the next struct umcg_task, UMCG_IDLE_NODE_END or
	 * UMCG_IDLE_NODE_PENDING.
	 *
	 * Written by the kernel while pushing the worker. Read by user space
	 * after it has detached the list. User space may reuse the field
	 * while the worker is off the list.
	 */
	__u64	idle_next;

	/* @__reserved: must be zero at registration; ignored afterwards. */
	__u64	__reserved[3];
} __attribute__((aligned(UMCG_TASK_ALIGN)));

/*
 * umcg_ctl(flags, self): register or unregister the calling thread.
 *
 *   long umcg_ctl(__u32 flags, struct umcg_task *self);
 *
 * UMCG_CTL_REGISTER: register with @self. As a server: @self->state must be
 *   UMCG_TASK_RUNNING. As a worker (with UMCG_CTL_WORKER): @self->state must
 *   be UMCG_TASK_RUNNING and @self->idle_workers_ptr non-zero; the kernel
 *   then makes the worker IDLE, pushes it onto the idle-worker list, wakes
 *   an idle server and returns 0 only once a server has run it (its state
 *   is RUNNING again).
 * UMCG_CTL_UNREGISTER: unregister; @self must be NULL or the registered
 *   pointer. A worker's server (server_tid) is woken, as if it had blocked.
 * UMCG_CTL_WORKER: with UMCG_CTL_REGISTER, register as a worker.
 *
 * Errors: EINVAL (unknown or inconsistent flags, misaligned @self, bad
 * initial state, non-zero reserved field, unregister while not registered
 * or with another pointer), EFAULT (@self or a pointer in it not
 * accessible), EBUSY (already registered).
 *
 * Registration is reset by fork() (the child is not registered) and by
 * execve(). A registered thread that exits is unregistered; an exiting
 * worker wakes its server.
 */
#define UMCG_CTL_REGISTER		0x00001
#define UMCG_CTL_UNREGISTER		0x00002
#define UMCG_CTL_WORKER			0x10000

/*
 * umcg_wait(flags, abs_timeout): switch to next_tid and/or wait.
 *
 *   long umcg_wait(__u32 flags, __u64 abs_timeout);
 *
 * Without UMCG_WAIT_WAKE_ONLY: the caller must have set its own state to
 * UMCG_TASK_IDLE. If its next_tid is non-zero, that thread is moved
 * IDLE -> RUNNING and woken on the current CPU. The caller then sleeps
 * until its state is RUNNING again (somebody ran it) or the timeout
 * passes. @abs_timeout is an absolute CLOCK_MONOTONIC time in
 * nanoseconds; 0 means no timeout. On every return the caller's state is
 * RUNNING: on timeout or signal the kernel itself moves it IDLE -> RUNNING
 * (and returns 0 instead if a wake-up won that race).
 *
 * A worker must give the CPU to somebody (next_tid non-zero, normally its
 * server). A worker's wait is not interrupted by non-fatal signals (they
 * are delivered once a server runs it), and a worker whose timeout expires
 * is pushed onto the idle-worker list like a woken worker, then waits to be
 * run, then returns -ETIMEDOUT.
 *
 * UMCG_WAIT_WAKE_ONLY: only wake next_tid (IDLE -> RUNNING), do not wait;
 *   the caller's state is not touched. @abs_timeout must be 0.
 * UMCG_WAIT_WF_CURRENT_CPU: with WAKE_ONLY, wake next_tid on the current
 *   CPU (a context switch always does).
 *
 * Errors: EINVAL (unknown flags, caller not registered, caller's state not
 * IDLE for a wait, worker without next_tid, timeout with WAKE_ONLY),
 * ESRCH (next_tid is not a registered UMCG thread of the caller's
 * process, or has exited), EAGAIN (next_tid is not IDLE), EFAULT (the
 * caller's struct umcg_task is not accessible), ETIMEDOUT, EINTR (servers
 * only).
 */
#define UMCG_WAIT_WAKE_ONLY		0x00001
#define UMCG_WAIT_WF_CURRENT_CPU	0x00002

#endif /* _UAPI_LINUX_UMCG_H */
