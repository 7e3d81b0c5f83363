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
	volatile int done;
	volatile int yielded;		/* set by worker_yield() */
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

static inline void runq_push(struct group *g, struct worker *w)
{
	pthread_mutex_lock(&g->lock);
	if (g->runq_len < MAX_RUNQ)
		g->runq[g->runq_len++] = w;
	else
		abort();
	pthread_mutex_unlock(&g->lock);
}

static inline struct worker *runq_pop(struct group *g)
{
	struct worker *w = NULL;

	pthread_mutex_lock(&g->lock);
	if (g->runq_len) {
		w = g->runq[0];
		memmove(&g->runq[0], &g->runq[1], --g->runq_len * sizeof(w));
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

/*
 * Run @w on this server until it blocks, yields, is preempted or exits.
 * Returns the result of umcg_wait (0 or -errno).
 */
static inline int server_run(struct server *s, struct worker *w)
{
	long r;

	/* The kernel sets w->ut.server_tid once the switch claimed w. */
	s->ut.next_tid = (uint32_t)w->tid;
	if (!state_cas(&s->ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE))
		return -EPROTO;
	/* A generous deadline: nothing legitimate keeps us here for 10 s. */
	r = sys_umcg_wait(0, now_ns() + 10000000000ull);
	s->ut.next_tid = 0;
	if (r && errno == ETIMEDOUT) {
		tap_diag("server %d: lost wake-up from worker %d: worker state %llx done %d "
			 "server_tid %u yielded %d", s->tid, w->tid,
			 (unsigned long long)state_load(&w->ut), w->done, w->ut.server_tid,
			 w->yielded);
		tap_failed++;
		return -ETIMEDOUT;
	}
	if (r) {
		int e = errno;

		state_cas(&s->ut, UMCG_TASK_IDLE, UMCG_TASK_RUNNING);
		return -e;
	}
	__atomic_fetch_add(&s->g->switches, 1, __ATOMIC_RELAXED);
	/*
	 * Spurious wake-ups (a stale idle-server slot) are possible: while
	 * the worker is still RUNNING, wait for it to stop.
	 */
	while (state_of(&w->ut) == UMCG_TASK_RUNNING && !w->done) {
		__atomic_fetch_add(&s->g->spurious, 1, __ATOMIC_RELAXED);
		if (!state_cas(&s->ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE))
			break;
		r = sys_umcg_wait(0, now_ns() + 20000000ull);
		if (r && errno != ETIMEDOUT)
			break;
	}
	/* A worker that yielded to us goes back on the run queue. */
	if (w->yielded && state_of(&w->ut) == UMCG_TASK_IDLE) {
		w->yielded = 0;
		runq_push(s->g, w);
	}
	return 0;
}

/* Wait as an idle server for up to @ms. Returns 0 when woken/timeout. */
static inline void server_idle(struct server *s, int ms)
{
	struct group *g = s->g;

	if (!state_cas(&s->ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE))
		return;
	__atomic_store_n(&g->idle_server_tid, (uint32_t)s->tid, __ATOMIC_SEQ_CST);
	/* Mirror of the kernel's push-then-read: publish, then look. */
	if (__atomic_load_n(&g->idle_head, __ATOMIC_SEQ_CST) || g->runq_len || g->stop) {
		uint32_t me = (uint32_t)s->tid;

		__atomic_compare_exchange_n(&g->idle_server_tid, &me, 0, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		state_cas(&s->ut, UMCG_TASK_IDLE, UMCG_TASK_RUNNING);
		if (state_of(&s->ut) == UMCG_TASK_RUNNING)
			return;
	}
	sys_umcg_wait(0, now_ns() + (uint64_t)ms * 1000000ull);
	{
		uint32_t me = (uint32_t)s->tid;

		__atomic_compare_exchange_n(&g->idle_server_tid, &me, 0, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
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

			if (r && r != -EAGAIN && r != -ESRCH) {
				tap_diag("server_run: %s", strerror(-r));
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
 * It must not make itself runnable (visible to other servers) before it
 * has switched away: another server could run it in between. The server
 * it switches to requeues it (see server_run()).
 */
static inline long worker_yield(struct worker *w)
{
	long r;

	int tries;

	w->yielded = 1;
	w->ut.next_tid = w->ut.server_tid;
	/*
	 * A pending preemption request is moot: we are yielding anyway. The
	 * state can change under us between the two attempts (a request
	 * lands, or one already pending is carried out by the signal that
	 * interrupts us here and we come back RUNNING), so retry a while.
	 */
	for (tries = 0;; tries++) {
		if (state_cas(&w->ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE) ||
		    state_cas(&w->ut, UMCG_TASK_RUNNING | UMCG_TF_PREEMPTED,
			      UMCG_TASK_IDLE))
			break;
		if (tries == 1000) {
			w->yielded = 0;
			return -EPROTO;
		}
	}
	r = sys_umcg_wait(0, 0);
	return r ? -errno : 0;
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
