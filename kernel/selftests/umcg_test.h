/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the UMCG selftests: TAP output, syscall discovery through
 * sysfs, and a tiny user-space scheduler (servers, workers, idle list)
 * that follows the protocol in Documentation/userspace-api/umcg.rst.
 */
#ifndef UMCG_TEST_H
#define UMCG_TEST_H

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "../include/uapi/linux/umcg.h"

/* ---- TAP ---------------------------------------------------------------- */

static int tap_failed;
static int tap_count;

static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	fflush(stdout);
}

/* In-process check: counts a failure and prints a diagnostic. */
#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		tap_diag("%s:%d: check failed: %s", __FILE__, __LINE__, #cond); \
		tap_diag(__VA_ARGS__);					\
		tap_failed++;						\
	}								\
} while (0)

#define CHECK_ERR(expr, err) do {					\
	long __r = (expr);						\
	int __e = errno;						\
	CHECK(__r == -1 && __e == (err), "%s: got %ld errno %d (%s), want errno %d (%s)", \
	      #expr, __r, __r == -1 ? __e : 0, __r == -1 ? strerror(__e) : "-", \
	      (err), strerror(err));					\
} while (0)

#define CHECK_OK(expr) do {						\
	long __r = (expr);						\
	int __e = errno;						\
	CHECK(__r == 0, "%s: got %ld errno %d (%s)", #expr, __r,	\
	      __r == -1 ? __e : 0, __r == -1 ? strerror(__e) : "-");	\
} while (0)

/* ---- discovery and syscalls -------------------------------------------- */

static long nr_umcg_ctl = -1, nr_umcg_wait = -1;

static inline long read_sysfs_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* Returns 0 if this kernel has UMCG with our ABI version. */
static inline int umcg_discover(void)
{
	if (read_sysfs_long(UMCG_SYSFS_ABI_VERSION) != UMCG_ABI_VERSION)
		return -1;
	nr_umcg_ctl = read_sysfs_long(UMCG_SYSFS_NR_UMCG_CTL);
	nr_umcg_wait = read_sysfs_long(UMCG_SYSFS_NR_UMCG_WAIT);
	if (nr_umcg_ctl <= 0 || nr_umcg_wait <= 0)
		return -1;
	return 0;
}

static inline long sys_umcg_ctl(uint32_t flags, struct umcg_task *self)
{
	return syscall(nr_umcg_ctl, flags, self);
}

static inline long sys_umcg_wait(uint32_t flags, uint64_t abs_timeout)
{
	return syscall(nr_umcg_wait, flags, abs_timeout);
}

static inline pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static inline void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- state word helpers ------------------------------------------------- */

static inline uint64_t state_load(struct umcg_task *t)
{
	return __atomic_load_n(&t->state, __ATOMIC_SEQ_CST);
}

static inline uint64_t state_of(struct umcg_task *t)
{
	return UMCG_TASK_STATE(state_load(t));
}

/* Change our own or another task's state from @from to @to (flags incl.) */
static inline bool state_cas(struct umcg_task *t, uint64_t from, uint64_t to)
{
	uint64_t old = state_load(t);

	for (;;) {
		if ((old & (UMCG_TASK_STATE_MASK | UMCG_TF_MASK)) != from)
			return false;
		if (__atomic_compare_exchange_n(&t->state, &old,
						(UMCG_TASK_TS_NEXT(old) & UMCG_TASK_TS_MASK) | to,
						false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			return true;
	}
}

/* ---- a tiny user-space scheduler ---------------------------------------- */

struct group;

struct worker {
	struct umcg_task ut;		/* must stay first: list nodes point here */
	struct group *g;
	pid_t tid;
	pthread_t thread;
	void *(*fn)(struct worker *);
	void *arg;
	long iterations;
	int started;			/* registered and run: may be preempted */
	volatile int done;
	uint32_t yielded_to;		/* worker_yield(): the server to requeue us */
};

#define MAX_RUNQ 256

struct group {
	uint64_t idle_head;		/* the idle-worker list head */
	uint32_t idle_server_tid;	/* published idle server */
	pthread_mutex_t lock;		/* protects runq */
	struct worker *runq[MAX_RUNQ];
	int runq_len;
	int live_workers;		/* atomic */
	volatile int stop;
	long spurious, switches, blocks;
};

static inline void group_init(struct group *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
}

/*
 * A worker must be in at most one queue (this run queue or the kernel's
 * idle list): two servers that switch to it at once both store their tid
 * in its server_tid, and the one whose switch fails may leave its own tid
 * there, so the other server never hears from the worker again. Queuing a
 * worker twice is a scheduler bug: report it.
 */
static inline void runq_push(struct group *g, struct worker *w)
{
	int i;

	pthread_mutex_lock(&g->lock);
	for (i = 0; i < g->runq_len; i++) {
		if (g->runq[i] == w) {
			tap_diag("worker %d queued twice: state %llx", w->tid,
				 (unsigned long long)state_load(&w->ut));
			tap_failed++;
		}
	}
	if (g->runq_len == MAX_RUNQ)
		abort();
	g->runq[g->runq_len] = w;
	__atomic_store_n(&g->runq_len, g->runq_len + 1, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&g->lock);
}

static inline struct worker *runq_pop(struct group *g)
{
	struct worker *w = NULL;

	pthread_mutex_lock(&g->lock);
	if (g->runq_len) {
		w = g->runq[0];
		memmove(&g->runq[0], &g->runq[1], (g->runq_len - 1) * sizeof(w));
		__atomic_store_n(&g->runq_len, g->runq_len - 1, __ATOMIC_SEQ_CST);
	}
	pthread_mutex_unlock(&g->lock);
	return w;
}

/* Detach the whole idle list and move it to the run queue. */
static inline int drain_idle_list(struct group *g)
{
	uint64_t node = __atomic_exchange_n(&g->idle_head, 0, __ATOMIC_SEQ_CST);
	int n = 0;

	while (node != UMCG_IDLE_NODE_END) {
		struct umcg_task *ut = (struct umcg_task *)(uintptr_t)node;
		uint64_t next;

		/* The kernel may still be linking this node. */
		while ((next = __atomic_load_n(&ut->idle_next, __ATOMIC_ACQUIRE)) ==
		       UMCG_IDLE_NODE_PENDING)
			__builtin_ia32_pause();
		runq_push(g, (struct worker *)ut);
		n++;
		node = next;
	}
	return n;
}

struct server {
	struct umcg_task ut;
	struct group *g;
	pid_t tid;
	pthread_t thread;
	long ran;
	int max_idle_ms;		/* give up after so long with no work */
	int exit_when_idle;		/* return once stop && no live workers */
};

static inline int server_register(struct server *s)
{
	memset(&s->ut, 0, sizeof(s->ut));
	s->ut.state = UMCG_TASK_RUNNING;
	s->tid = gettid_();
	return (int)sys_umcg_ctl(UMCG_CTL_REGISTER, &s->ut);
}

/* Give up on a wake-up after this long: nothing legitimate takes 10 s. */
#define LOST_WAKEUP_NS	10000000000ull

static inline void report_lost_wakeup(struct server *s, struct worker *w)
{
	tap_diag("server %d: lost wake-up from worker %d: worker state %llx done %d server_tid %u yielded_to %u",
		 s->tid, w->tid, (unsigned long long)state_load(&w->ut), w->done,
		 w->ut.server_tid, __atomic_load_n(&w->yielded_to, __ATOMIC_SEQ_CST));
	tap_failed++;
}

/*
 * Wait until @w, which this server has just switched to, stops running
 * (blocks, yields, is preempted or finishes). Returns 0, or -errno.
 *
 * Being woken proves nothing: a server can be woken spuriously (through a
 * tid that sat in the idle-server slot, or by a notification from an
 * earlier run whose end we already saw). Only @w's state counts, and the
 * order matters. We become IDLE first and only then look at @w. The kernel
 * changes @w's state (a locked compare-and-swap) before it tries to wake
 * us, and only wakes us if we are IDLE: so either we see @w's new state
 * here, or the kernel sees us IDLE and wakes us, and we cannot sleep
 * through the notification. Looking at @w first and going IDLE afterwards
 * would let a wake-up that found us still RUNNING be dropped in between.
 *
 * RUNNING is not enough to tell that @w still runs for us: by the time we
 * look, @w may have stopped, gone through the idle list and been switched
 * to by another server (RUNNING -> BLOCKED -> IDLE -> RUNNING). The kernel
 * stores the new server's tid in server_tid before the compare-and-swap
 * that makes @w RUNNING, and we load server_tid after the state: a RUNNING
 * @w whose server_tid is not ours is another server's run, and ours ended.
 * (Nobody else stores our tid there: only our own switches do.)
 */
static inline int server_wait_worker(struct server *s, struct worker *w)
{
	uint32_t me = (uint32_t)s->tid;
	long r;

	for (;;) {
		if (!state_cas(&s->ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE))
			return -EPROTO;
		if (state_of(&w->ut) != UMCG_TASK_RUNNING ||
		    __atomic_load_n(&w->ut.server_tid, __ATOMIC_SEQ_CST) != me || w->done) {
			/* Fails only if a wake-up made us RUNNING meanwhile. */
			state_cas(&s->ut, UMCG_TASK_IDLE, UMCG_TASK_RUNNING);
			return 0;
		}
		/* Woken, or about to wait, while @w still runs. */
		__atomic_fetch_add(&s->g->spurious, 1, __ATOMIC_RELAXED);
		r = sys_umcg_wait(0, now_ns() + LOST_WAKEUP_NS);
		if (!r || errno == EINTR)
			continue;
		if (errno == ETIMEDOUT) {
			report_lost_wakeup(s, w);
			return -ETIMEDOUT;
		}
		/* EINVAL: a wake-up made us RUNNING before the kernel looked. */
		if (errno == EINVAL && state_of(&s->ut) == UMCG_TASK_RUNNING)
			continue;
		r = -errno;
		state_cas(&s->ut, UMCG_TASK_IDLE, UMCG_TASK_RUNNING);
		return (int)r;
	}
}

/*
 * Run @w on this server until it blocks, yields, is preempted or exits.
 * Returns 0 or -errno; any error is a bug somewhere (@w must be IDLE and
 * in no other queue).
 */
static inline int server_run(struct server *s, struct worker *w)
{
	uint32_t me = (uint32_t)s->tid;
	long r;
	int e;

	/* The kernel sets w->ut.server_tid once the switch claimed w. */
	s->ut.next_tid = (uint32_t)w->tid;
	for (;;) {
		if (!state_cas(&s->ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE))
			return -EPROTO;
		r = sys_umcg_wait(0, now_ns() + LOST_WAKEUP_NS);
		/*
		 * EINVAL with our state RUNNING: a spurious wake-up landed
		 * between our IDLE and the kernel's check, which fails the
		 * call before anything happened. Switch again.
		 */
		if (!r || errno != EINVAL || state_of(&s->ut) != UMCG_TASK_RUNNING)
			break;
		__atomic_fetch_add(&s->g->spurious, 1, __ATOMIC_RELAXED);
	}
	e = errno;
	s->ut.next_tid = 0;
	if (r && e == ETIMEDOUT) {
		report_lost_wakeup(s, w);
		return -ETIMEDOUT;
	}
	if (r) {
		state_cas(&s->ut, UMCG_TASK_IDLE, UMCG_TASK_RUNNING);
		return -e;
	}
	__atomic_fetch_add(&s->g->switches, 1, __ATOMIC_RELAXED);
	r = server_wait_worker(s, w);
	if (r)
		return (int)r;
	/*
	 * A worker that yielded to us is on no queue: requeue it. One that
	 * the kernel parked (block, preemption) is on the idle list, and
	 * yielded_to is not ours (see worker_yield()).
	 */
	if (__atomic_compare_exchange_n(&w->yielded_to, &me, 0, false,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		runq_push(s->g, w);
	return 0;
}

/* Wait as an idle server for up to @ms, or until woken. */
static inline void server_idle(struct server *s, int ms)
{
	struct group *g = s->g;
	uint32_t me = (uint32_t)s->tid;

	if (!state_cas(&s->ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE))
		return;
	__atomic_store_n(&g->idle_server_tid, me, __ATOMIC_SEQ_CST);
	/* Mirror of the kernel's push-then-read: publish, then look. */
	if (__atomic_load_n(&g->idle_head, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&g->runq_len, __ATOMIC_SEQ_CST) || g->stop) {
		__atomic_compare_exchange_n(&g->idle_server_tid, &me, 0, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		/* Fails only if a wake-up made us RUNNING meanwhile. */
		state_cas(&s->ut, UMCG_TASK_IDLE, UMCG_TASK_RUNNING);
		return;
	}
	/*
	 * Returns once we are RUNNING again: woken (0), timed out, or, with
	 * EINVAL, woken before the kernel looked at our state.
	 */
	sys_umcg_wait(0, now_ns() + (uint64_t)ms * 1000000ull);
	state_cas(&s->ut, UMCG_TASK_IDLE, UMCG_TASK_RUNNING);
	/* A stale tid left here would only cause a spurious wake-up. */
	__atomic_compare_exchange_n(&g->idle_server_tid, &me, 0, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static inline void *server_main(void *arg)
{
	struct server *s = arg;
	struct group *g = s->g;
	uint64_t last_work = now_ns();

	if (server_register(s)) {
		tap_diag("server register: %s", strerror(errno));
		tap_failed++;
		return NULL;
	}
	for (;;) {
		struct worker *w;

		drain_idle_list(g);
		w = runq_pop(g);
		if (w) {
			int r = server_run(s, w);

			if (r && r != -ETIMEDOUT) {	/* that one is reported */
				tap_diag("server %d: run worker %d: %s", s->tid, w->tid,
					 strerror(-r));
				tap_failed++;
			}
			s->ran++;
			last_work = now_ns();
			continue;
		}
		if (g->stop && __atomic_load_n(&g->live_workers, __ATOMIC_SEQ_CST) == 0)
			break;
		if (s->max_idle_ms && now_ns() - last_work > (uint64_t)s->max_idle_ms * 1000000ull)
			break;
		server_idle(s, 50);
	}
	sys_umcg_ctl(UMCG_CTL_UNREGISTER, NULL);
	return NULL;
}

/* Worker thread body: registers (parks until a server runs it), runs fn. */
static inline void *worker_main(void *arg)
{
	struct worker *w = arg;
	void *ret;

	w->tid = gettid_();
	w->ut.state = UMCG_TASK_RUNNING;
	w->ut.idle_workers_ptr = (uint64_t)(uintptr_t)&w->g->idle_head;
	w->ut.idle_server_tid_ptr = (uint64_t)(uintptr_t)&w->g->idle_server_tid;
	if (sys_umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, &w->ut)) {
		tap_diag("worker register: %s", strerror(errno));
		tap_failed++;
		__atomic_fetch_sub(&w->g->live_workers, 1, __ATOMIC_SEQ_CST);
		return NULL;
	}
	/* Only a registered worker that runs may be asked to stop. */
	__atomic_store_n(&w->started, 1, __ATOMIC_SEQ_CST);
	ret = w->fn(w);
	w->done = 1;
	if (sys_umcg_ctl(UMCG_CTL_UNREGISTER, NULL)) {
		tap_diag("worker unregister: %s", strerror(errno));
		tap_failed++;
	}
	/* Only now may servers consider this worker gone. */
	__atomic_fetch_sub(&w->g->live_workers, 1, __ATOMIC_SEQ_CST);
	return ret;
}

static inline struct worker *worker_new(struct group *g, void *(*fn)(struct worker *), void *arg)
{
	struct worker *w = aligned_alloc(UMCG_TASK_ALIGN, sizeof(*w));

	memset(w, 0, sizeof(*w));
	w->g = g;
	w->fn = fn;
	w->arg = arg;
	__atomic_fetch_add(&g->live_workers, 1, __ATOMIC_SEQ_CST);
	if (pthread_create(&w->thread, NULL, worker_main, w))
		abort();
	return w;
}

/*
 * A worker gives its CPU back to its server and waits to be run again.
 * Returns 0 once a server runs it, or -errno.
 *
 * The kernel does not put a yielding worker on the idle list: the server
 * it yields to requeues it (server_run()). That server must tell a yield
 * from a park by the kernel (after a block or a preemption the worker is on
 * the idle list already, and requeuing it too puts it in two queues, see
 * runq_push()): yielded_to names the server a yield is for. It must be set
 * before we become IDLE, and nothing may park us in between, so:
 *
 *  1. RUNNING (or RUNNING|PREEMPTED: the request is moot, we stop anyway)
 *     -> RUNNING|LOCKED. A preemption request, a compare-and-swap from
 *     RUNNING, can no longer land, and the kernel ignores one whose signal
 *     is still on its way while we are LOCKED. Without this step the
 *     signal could park us (IDLE, idle list) after yielded_to was set.
 *  2. yielded_to = next_tid = our server. server_tid is stable while we
 *     are RUNNING: only a switch to us writes it.
 *  3. RUNNING|LOCKED -> IDLE. From here our server may see us stopped.
 *  4. umcg_wait(): switch to our server.
 */
static inline long worker_yield(struct worker *w)
{
	uint32_t server;
	uint64_t t0;
	int tries;

	/*
	 * The state can change between the two attempts: a request lands,
	 * or one already pending is carried out by the signal that interrupts
	 * us here and we come back RUNNING.
	 */
	for (tries = 0;; tries++) {
		if (state_cas(&w->ut, UMCG_TASK_RUNNING,
			      UMCG_TASK_RUNNING | UMCG_TF_LOCKED) ||
		    state_cas(&w->ut, UMCG_TASK_RUNNING | UMCG_TF_PREEMPTED,
			      UMCG_TASK_RUNNING | UMCG_TF_LOCKED))
			break;
		if (tries == 1000)
			return -EPROTO;
	}
	server = w->ut.server_tid;
	__atomic_store_n(&w->yielded_to, server, __ATOMIC_SEQ_CST);
	w->ut.next_tid = server;
	/* Nobody else changes a LOCKED state. */
	if (!state_cas(&w->ut, UMCG_TASK_RUNNING | UMCG_TF_LOCKED, UMCG_TASK_IDLE))
		return -EPROTO;

	t0 = now_ns();
	for (;;) {
		if (!sys_umcg_wait(0, 0))
			return 0;
		/*
		 * EINVAL, no longer IDLE: our server requeued us and another
		 * server ran us before we got here. We are running: done.
		 */
		if (errno == EINVAL && state_of(&w->ut) != UMCG_TASK_IDLE)
			return 0;
		if (errno != EAGAIN)
			return -errno;
		/*
		 * EAGAIN: our server was not IDLE. It was woken spuriously and
		 * has not gone back to sleep yet (server_wait_worker()); going
		 * IDLE it will see us IDLE and requeue us. We still have to
		 * wait to be run, and a worker waits only through a switch:
		 * try again. At worst we wake our server spuriously.
		 */
		if (now_ns() - t0 > LOST_WAKEUP_NS)
			return -ETIMEDOUT;
		sched_yield();
	}
}

/* ---- test runner ------------------------------------------------------- */

struct test {
	const char *name;
	void (*fn)(void);
	int timeout_s;
};

/* Run each test in its own process, with a timeout. */
static inline int run_tests(const struct test *tests, int n, const char *only)
{
	int i, failed = 0, planned = 0;

	for (i = 0; i < n; i++)
		if (!only || !strcmp(only, tests[i].name))
			planned++;
	printf("TAP version 13\n1..%d\n", planned);
	fflush(stdout);
	for (i = 0; i < n; i++) {
		const struct test *t = &tests[i];
		uint64_t t0;
		pid_t pid;
		int status;

		if (only && strcmp(only, t->name))
			continue;
		t0 = now_ns();
		pid = fork();
		if (pid == 0) {
			alarm(t->timeout_s ? t->timeout_s : 60);
			tap_failed = 0;
			t->fn();
			fflush(stdout);
			_exit(tap_failed ? 1 : 0);
		}
		waitpid(pid, &status, 0);
		tap_count++;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("ok %d - %s (%.2f s)\n", tap_count, t->name,
			       (now_ns() - t0) / 1e9);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
			printf("ok %d - %s # SKIP\n", tap_count, t->name);
		} else {
			failed++;
			if (WIFSIGNALED(status))
				printf("not ok %d - %s (killed by signal %d%s)\n", tap_count,
				       t->name, WTERMSIG(status),
				       WTERMSIG(status) == SIGALRM ? ": timeout" : "");
			else
				printf("not ok %d - %s (exit %d)\n", tap_count, t->name,
				       WEXITSTATUS(status));
		}
		fflush(stdout);
	}
	printf("# %d/%d passed\n", planned - failed, planned);
	return failed ? 1 : 0;
}

#endif /* UMCG_TEST_H */
