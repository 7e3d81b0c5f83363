// SPDX-License-Identifier: GPL-2.0
/*
 * UMCG functional selftests. Each test runs in its own process (TAP).
 *
 *   umcg_basic [TEST]      run all tests, or only TEST
 *   umcg_basic --list
 */
#include "umcg_test.h"

#include <fcntl.h>
#include <poll.h>
#include <linux/futex.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

static char *self_exe;

static struct umcg_task *new_task(void)
{
	struct umcg_task *t = aligned_alloc(UMCG_TASK_ALIGN, 2 * sizeof(*t));

	memset(t, 0, 2 * sizeof(*t));
	t->state = UMCG_TASK_RUNNING;
	return t;
}

/* ---- discovery ---------------------------------------------------------- */

static void t_discovery(void)
{
	CHECK(read_sysfs_long(UMCG_SYSFS_ABI_VERSION) == UMCG_ABI_VERSION,
	      "abi_version %ld", read_sysfs_long(UMCG_SYSFS_ABI_VERSION));
	CHECK(nr_umcg_ctl > 0 && nr_umcg_wait > 0 && nr_umcg_ctl != nr_umcg_wait,
	      "syscall numbers %ld %ld", nr_umcg_ctl, nr_umcg_wait);
	tap_diag("umcg_ctl=%ld umcg_wait=%ld", nr_umcg_ctl, nr_umcg_wait);
}

/* ---- registration and every bad input ---------------------------------- */

static void t_register_errors(void)
{
	struct umcg_task *t = new_task(), *t2 = new_task();
	uint64_t head = 0;
	uint32_t srv = 0;
	void *unmapped;

	unmapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(unmapped, 4096);

	/* flags */
	CHECK_ERR(sys_umcg_ctl(0, t), EINVAL);
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_WORKER, t), EINVAL);
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_UNREGISTER, t), EINVAL);
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_UNREGISTER | UMCG_CTL_WORKER, NULL), EINVAL);
	CHECK_ERR(sys_umcg_ctl(0x80000000u | UMCG_CTL_REGISTER, t), EINVAL);
	/* pointers */
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER, NULL), EINVAL);
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER, (struct umcg_task *)((char *)t + 8)), EINVAL);
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER, unmapped), EFAULT);
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER, (struct umcg_task *)0xffff888000000000ull), EFAULT);
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER, (struct umcg_task *)0xffffffffffffffc0ull), EFAULT);
	/* contents */
	t->__reserved[1] = 1;
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER, t), EINVAL);
	t->__reserved[1] = 0;
	t->state = UMCG_TASK_IDLE;
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER, t), EINVAL);
	t->state = UMCG_TASK_RUNNING | UMCG_TF_PREEMPTED;
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER, t), EINVAL);
	t->state = 0x77;
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER, t), EINVAL);
	t->state = UMCG_TASK_RUNNING;
	t->idle_workers_ptr = (uintptr_t)&head;	/* servers have no idle list */
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER, t), EINVAL);
	t->idle_workers_ptr = 0;
	t->server_tid = 1;
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER, t), EINVAL);
	t->server_tid = 0;
	/* workers */
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, t), EINVAL);
	t->idle_workers_ptr = (uintptr_t)unmapped;
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, t), EFAULT);
	t->idle_workers_ptr = (uintptr_t)&head + 1;
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, t), EINVAL);
	t->idle_workers_ptr = (uintptr_t)&head;
	t->idle_server_tid_ptr = (uintptr_t)unmapped;
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, t), EFAULT);
	t->idle_server_tid_ptr = (uintptr_t)&srv + 2;
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER | UMCG_CTL_WORKER, t), EINVAL);
	t->idle_workers_ptr = 0;
	t->idle_server_tid_ptr = 0;

	/* unregister without registration, wait without registration */
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_UNREGISTER, NULL), EINVAL);
	CHECK_ERR(sys_umcg_wait(0, 0), EINVAL);

	/* a good registration, then double registration */
	CHECK_OK(sys_umcg_ctl(UMCG_CTL_REGISTER, t));
	CHECK(state_of(t) == UMCG_TASK_RUNNING, "state %llx", (unsigned long long)t->state);
	CHECK(UMCG_TASK_TS(t->state) != 0, "no timestamp after registration");
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER, t), EBUSY);
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER, t2), EBUSY);
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_UNREGISTER, t2), EINVAL);

	/* umcg_wait bad input while registered */
	CHECK_ERR(sys_umcg_wait(0x100, 0), EINVAL);
	CHECK_ERR(sys_umcg_wait(0, 0), EINVAL);		/* state RUNNING */
	CHECK_ERR(sys_umcg_wait(UMCG_WAIT_WAKE_ONLY, 0), EINVAL);	/* no next_tid */
	t->next_tid = (uint32_t)gettid_();
	CHECK_ERR(sys_umcg_wait(UMCG_WAIT_WAKE_ONLY, 1), EINVAL);	/* timeout */
	CHECK_ERR(sys_umcg_wait(UMCG_WAIT_WAKE_ONLY, 0), EAGAIN);	/* self RUNNING */
	t->next_tid = 0x7fffffff;
	CHECK_ERR(sys_umcg_wait(UMCG_WAIT_WAKE_ONLY, 0), ESRCH);
	t->next_tid = 0xffffffff;
	CHECK_ERR(sys_umcg_wait(UMCG_WAIT_WAKE_ONLY, 0), ESRCH);
	t->next_tid = (uint32_t)getppid();	/* not in our thread group */
	CHECK_ERR(sys_umcg_wait(UMCG_WAIT_WAKE_ONLY, 0), ESRCH);
	t->next_tid = (uint32_t)gettid_();
	state_cas(t, UMCG_TASK_RUNNING, UMCG_TASK_IDLE);
	CHECK_ERR(sys_umcg_wait(0, 0), EINVAL);		/* switch to self */
	CHECK(state_of(t) == UMCG_TASK_IDLE, "state changed on an EINVAL");
	t->next_tid = 0;
	state_cas(t, UMCG_TASK_IDLE, UMCG_TASK_RUNNING);

	CHECK_OK(sys_umcg_ctl(UMCG_CTL_UNREGISTER, t));
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_UNREGISTER, NULL), EINVAL);
	/* register again: allowed after unregister */
	CHECK_OK(sys_umcg_ctl(UMCG_CTL_REGISTER, t));
	CHECK_OK(sys_umcg_ctl(UMCG_CTL_UNREGISTER, NULL));
}

/* ---- fork and execve reset --------------------------------------------- */

static void *thread_check_unregistered(void *arg)
{
	(void)arg;
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_UNREGISTER, NULL), EINVAL);
	return NULL;
}

static void t_fork_reset(void)
{
	struct umcg_task *t = new_task(), *t2 = new_task();
	pthread_t th;
	pid_t pid;
	int status;

	CHECK_OK(sys_umcg_ctl(UMCG_CTL_REGISTER, t));
	pthread_create(&th, NULL, thread_check_unregistered, NULL);
	pthread_join(th, NULL);

	pid = fork();
	if (pid == 0) {
		/* The child is not registered... */
		if (sys_umcg_ctl(UMCG_CTL_UNREGISTER, NULL) != -1 || errno != EINVAL)
			_exit(1);
		if (sys_umcg_wait(0, 0) != -1 || errno != EINVAL)
			_exit(2);
		/* ...and may register afresh. */
		if (sys_umcg_ctl(UMCG_CTL_REGISTER, t2))
			_exit(3);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %x", status);
	/* The parent still is. */
	CHECK_ERR(sys_umcg_ctl(UMCG_CTL_REGISTER, t), EBUSY);
	CHECK_OK(sys_umcg_ctl(UMCG_CTL_UNREGISTER, NULL));
}

/* Runs in the image started by execve(): nothing may be left registered. */
static int exec_child_main(void)
{
	struct umcg_task *t = new_task();

	if (umcg_discover())
		return 10;
	if (sys_umcg_ctl(UMCG_CTL_UNREGISTER, NULL) != -1 || errno != EINVAL)
		return 11;
	/* Block a few times: a stale registration would be used here. */
	sleep_ms(20);
	sleep_ms(20);
	if (sys_umcg_ctl(UMCG_CTL_REGISTER, t))
		return 12;
	if (sys_umcg_ctl(UMCG_CTL_UNREGISTER, NULL))
		return 13;
	return 0;
}

static void *worker_exec(struct worker *w)
{
	(void)w;
	execl(self_exe, self_exe, "--exec-child", NULL);
	_exit(99);
}

static void t_exec_reset(void)
{
	pid_t pid;
	int status;

	/* A registered server execs. */
	pid = fork();
	if (pid == 0) {
		struct umcg_task *t = new_task();

		if (sys_umcg_ctl(UMCG_CTL_REGISTER, t))
			_exit(20);
		execl(self_exe, self_exe, "--exec-child", NULL);
		_exit(21);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "server exec: status %x", status);

	/* A running worker execs (its server thread is killed by de_thread). */
	pid = fork();
	if (pid == 0) {
		static struct group g;
		static struct server s;

		group_init(&g);
		s.g = &g;
		worker_new(&g, worker_exec, NULL);
		server_main(&s);
		_exit(22);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker exec: status %x", status);
}

/* ---- block detection ------------------------------------------------------ */

/*
 * One server runs one worker that performs @op. The test checks that the
 * server is woken while the worker is BLOCKED, that the worker comes back
 * through the idle list to the idle server, and that it then completes.
 */
enum block_op { OP_PIPE, OP_NANOSLEEP, OP_FUTEX, OP_UFFD, OP_FILE };

struct block_ctx {
	enum block_op op;
	int pipefd[2];
	uint32_t futex;
	char *uffd_area;
	int uffd;
	char *file_map;
	volatile int op_done;
	volatile int helper_go;
	long result;
};

static void *block_helper(void *arg)
{
	struct block_ctx *c = arg;

	while (!c->helper_go)
		sleep_ms(1);
	sleep_ms(200);
	switch (c->op) {
	case OP_PIPE:
		if (write(c->pipefd[1], "x", 1) != 1)
			abort();
		break;
	case OP_FUTEX:
		__atomic_store_n(&c->futex, 1, __ATOMIC_SEQ_CST);
		syscall(SYS_futex, &c->futex, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		break;
	case OP_UFFD: {
		struct uffd_msg msg;
		struct uffdio_copy copy;
		static char page[4096] __attribute__((aligned(4096)));

		if (read(c->uffd, &msg, sizeof(msg)) != sizeof(msg))
			abort();
		memset(page, 0x5a, sizeof(page));
		copy.dst = msg.arg.pagefault.address & ~4095ull;
		copy.src = (uintptr_t)page;
		copy.len = 4096;
		copy.mode = 0;
		if (ioctl(c->uffd, UFFDIO_COPY, &copy))
			abort();
		break;
	}
	default:
		break;
	}
	return NULL;
}

static void *block_worker(struct worker *w)
{
	struct block_ctx *c = w->arg;
	char ch;
	struct timespec ts = { 0, 200000000 };

	c->helper_go = 1;
	switch (c->op) {
	case OP_PIPE:
		c->result = read(c->pipefd[0], &ch, 1);
		break;
	case OP_NANOSLEEP:
		c->result = nanosleep(&ts, NULL);
		break;
	case OP_FUTEX:
		while (!__atomic_load_n(&c->futex, __ATOMIC_SEQ_CST))
			syscall(SYS_futex, &c->futex, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
		c->result = 0;
		break;
	case OP_UFFD:
		c->result = c->uffd_area[100] == 0x5a ? 0 : -1;
		break;
	case OP_FILE:
		c->result = c->file_map[5000] == 'q' ? 0 : -1;
		break;
	}
	c->op_done = 1;
	return NULL;
}

static int setup_uffd(struct block_ctx *c)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;

	c->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (c->uffd < 0)
		return -1;
	if (ioctl(c->uffd, UFFDIO_API, &api))
		return -1;
	c->uffd_area = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	reg.range.start = (uintptr_t)c->uffd_area;
	reg.range.len = 4096;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	return ioctl(c->uffd, UFFDIO_REGISTER, &reg);
}

static void block_test(enum block_op op)
{
	static struct group g;
	static struct server s;
	static struct block_ctx c;
	struct worker *w;
	pthread_t helper;
	uint64_t st;
	int r;

	group_init(&g);
	memset(&c, 0, sizeof(c));
	c.op = op;
	if (op == OP_PIPE && pipe(c.pipefd))
		abort();
	if (op == OP_UFFD && setup_uffd(&c)) {
		tap_diag("userfaultfd: %s", strerror(errno));
		tap_failed++;
		return;
	}
	if (op == OP_FILE) {
		const char *dir = getenv("UMCG_TEST_SHARE");
		char path[256];
		int fd;

		if (!dir) {
			tap_diag("UMCG_TEST_SHARE not set (a 9p mount): skipping");
			exit(77);
		}
		snprintf(path, sizeof(path), "%s/umcg-fault-%d", dir, getpid());
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
		if (fd < 0)
			return;
		{
			static char buf[8192];

			memset(buf, 'q', sizeof(buf));
			if (write(fd, buf, sizeof(buf)) != sizeof(buf))
				abort();
		}
		close(fd);
		/* Re-open: no pages cached for this new open with cache=none. */
		fd = open(path, O_RDONLY);
		c.file_map = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
		CHECK(c.file_map != MAP_FAILED, "mmap: %s", strerror(errno));
		close(fd);
		unlink(path);
		if (c.file_map == MAP_FAILED)
			return;
	}
	pthread_create(&helper, NULL, block_helper, &c);

	s.g = &g;
	CHECK_OK(server_register(&s));
	w = worker_new(&g, block_worker, &c);

	/* Wait for the worker to park on the idle list. */
	for (r = 0; r < 2000 && !__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST); r++)
		sleep_ms(1);
	CHECK(drain_idle_list(&g) == 1, "worker not on the idle list after registration");
	CHECK(runq_pop(&g) == w, "wrong worker");
	CHECK(state_of(&w->ut) == UMCG_TASK_IDLE, "registered worker not IDLE");

	/* Run it: we come back when it blocks. */
	r = server_run(&s, w);
	CHECK(r == 0, "server_run %d", r);
	st = state_load(&w->ut);
	if (op == OP_FILE && UMCG_TASK_STATE(st) != UMCG_TASK_BLOCKED && c.op_done) {
		tap_diag("file fault did not block (page cached?): skipping");
		exit(77);
	}
	/*
	 * A file fault can also end before we look (the 9p read was quicker
	 * than this server, on a loaded host): the worker blocked and is
	 * already IDLE on the idle list. A fault that did not block would
	 * have left it RUNNING.
	 */
	CHECK(UMCG_TASK_STATE(st) == UMCG_TASK_BLOCKED ||
	      (op == OP_FILE && UMCG_TASK_STATE(st) == UMCG_TASK_IDLE),
	      "worker state %llx, want BLOCKED", (unsigned long long)st);
	CHECK(!c.op_done || op == OP_FILE, "worker finished before the server woke");
	CHECK(state_of(&s.ut) == UMCG_TASK_RUNNING, "server not RUNNING");

	/* Go idle: the worker's wake-up must come back to us. */
	CHECK(!__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST) || op == OP_FILE,
	      "idle list not empty before the wake");
	CHECK(state_cas(&s.ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE), "cas");
	__atomic_store_n(&g.idle_server_tid, (uint32_t)s.tid, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST)) {
		r = (int)sys_umcg_wait(0, now_ns() + 10000000000ull);
		CHECK(r == 0, "idle wait: %s", strerror(errno));
	} else {
		/*
		 * File fault only: the wake-up came before we published our
		 * tid, so nobody takes the slot; empty it ourselves.
		 */
		state_cas(&s.ut, UMCG_TASK_IDLE, UMCG_TASK_RUNNING);
		__atomic_store_n(&g.idle_server_tid, 0, __ATOMIC_SEQ_CST);
	}
	CHECK(__atomic_load_n(&g.idle_server_tid, __ATOMIC_SEQ_CST) == 0,
	      "kernel did not take the idle server slot");
	CHECK(state_of(&w->ut) == UMCG_TASK_IDLE, "woken worker not IDLE");
	CHECK(w->ut.idle_next == UMCG_IDLE_NODE_END, "idle_next %llx",
	      (unsigned long long)w->ut.idle_next);
	CHECK(drain_idle_list(&g) == 1, "woken worker not on the idle list");
	CHECK(runq_pop(&g) == w, "wrong worker");
	CHECK(!c.op_done, "worker ran without a server");

	/* Run it to completion. */
	r = server_run(&s, w);
	CHECK(r == 0, "server_run %d", r);
	pthread_join(w->thread, NULL);
	CHECK(c.op_done && c.result == (op == OP_PIPE ? 1 : 0), "op result %ld", c.result);
	pthread_join(helper, NULL);
	CHECK_OK(sys_umcg_ctl(UMCG_CTL_UNREGISTER, NULL));
}

static void t_block_pipe(void) { block_test(OP_PIPE); }
static void t_block_nanosleep(void) { block_test(OP_NANOSLEEP); }
static void t_block_futex(void) { block_test(OP_FUTEX); }
static void t_block_pagefault_uffd(void) { block_test(OP_UFFD); }
static void t_block_pagefault_file(void) { block_test(OP_FILE); }

/* ---- context switch ----------------------------------------------------- */

#define PINGPONG 2000

static void *pingpong_worker(struct worker *w)
{
	for (int i = 0; i < PINGPONG; i++) {
		w->iterations++;
		/* Switch straight back to the server. */
		w->ut.next_tid = w->ut.server_tid;
		if (!state_cas(&w->ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE))
			abort();
		if (sys_umcg_wait(0, 0)) {
			tap_diag("worker umcg_wait: %s", strerror(errno));
			tap_failed++;
			break;
		}
	}
	return NULL;
}

static void t_context_switch(void)
{
	static struct group g;
	static struct server s;
	struct worker *w;
	uint64_t t0;
	int i;

	group_init(&g);
	s.g = &g;
	CHECK_OK(server_register(&s));
	w = worker_new(&g, pingpong_worker, NULL);
	while (!__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST))
		sleep_ms(1);
	drain_idle_list(&g);
	runq_pop(&g);
	t0 = now_ns();
	for (i = 0; i <= PINGPONG; i++) {
		long before = w->iterations;

		CHECK(server_run(&s, w) == 0, "switch %d", i);
		if (i < PINGPONG)
			CHECK(w->iterations == before + 1, "worker did not run exactly once");
	}
	tap_diag("%d round trips, %.2f us each", PINGPONG, (now_ns() - t0) / 1e3 / PINGPONG);
	pthread_join(w->thread, NULL);
	CHECK(w->iterations == PINGPONG, "iterations %ld", w->iterations);
	CHECK(g.spurious == 0, "%ld spurious wake-ups", g.spurious);
}

/* A worker hands the CPU directly to another worker. */
static struct worker *w_b;
static volatile int b_ran;

static void *switch_a(struct worker *w)
{
	/* A -> B directly; the kernel hands our server on to B. */
	w->ut.next_tid = (uint32_t)w_b->tid;
	runq_push(w->g, w);
	if (!state_cas(&w->ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE))
		abort();
	CHECK_OK(sys_umcg_wait(0, 0));
	CHECK(b_ran, "B did not run before A resumed");
	return NULL;
}

static void *switch_b(struct worker *w)
{
	(void)w;
	b_ran = 1;
	return NULL;
}

static void t_worker_to_worker(void)
{
	static struct group g;
	static struct server s;
	struct worker *a;

	group_init(&g);
	s.g = &g;
	CHECK_OK(server_register(&s));
	w_b = worker_new(&g, switch_b, NULL);
	while (!__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST))
		sleep_ms(1);
	drain_idle_list(&g);
	runq_pop(&g);		/* B: to be run by A, not by us */
	a = worker_new(&g, switch_a, NULL);
	while (!__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST))
		sleep_ms(1);
	drain_idle_list(&g);
	runq_pop(&g);
	CHECK(server_run(&s, a) == 0, "run A");
	/* B finished (unregister woke us). A is on our run queue. */
	pthread_join(w_b->thread, NULL);
	CHECK(b_ran, "B never ran");
	CHECK(w_b->ut.server_tid == (uint32_t)s.tid, "B's server_tid %u, want %d",
	      w_b->ut.server_tid, s.tid);
	CHECK(runq_pop(&g) == a, "A not queued");
	CHECK(server_run(&s, a) == 0, "run A again");
	pthread_join(a->thread, NULL);
}

/* ---- timeouts --------------------------------------------------------------- */

static void *timeout_worker(struct worker *w)
{
	long r;

	w->ut.next_tid = w->ut.server_tid;
	if (!state_cas(&w->ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE))
		abort();
	r = sys_umcg_wait(0, now_ns() + 100000000ull);
	w->iterations = r == -1 ? -errno : r;
	return NULL;
}

static void t_timeouts(void)
{
	static struct group g;
	static struct server s;
	struct worker *w;
	uint64_t t0, t1;
	long r;

	group_init(&g);
	s.g = &g;
	CHECK_OK(server_register(&s));

	/* Server: relative 50 ms as an absolute CLOCK_MONOTONIC time. */
	state_cas(&s.ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE);
	t0 = now_ns();
	r = sys_umcg_wait(0, t0 + 50000000ull);
	t1 = now_ns();
	CHECK(r == -1 && errno == ETIMEDOUT, "r %ld errno %d", r, errno);
	CHECK(t1 - t0 >= 50000000ull, "woke early: %llu ns", (unsigned long long)(t1 - t0));
	CHECK(t1 - t0 < 5000000000ull, "woke late: %llu ns", (unsigned long long)(t1 - t0));
	CHECK(state_of(&s.ut) == UMCG_TASK_RUNNING, "state after timeout not RUNNING");

	/* A timeout in the past. */
	state_cas(&s.ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE);
	CHECK_ERR(sys_umcg_wait(0, 1), ETIMEDOUT);
	CHECK(state_of(&s.ut) == UMCG_TASK_RUNNING, "state after timeout not RUNNING");

	/* A worker's timeout: back through the idle list, then -ETIMEDOUT. */
	w = worker_new(&g, timeout_worker, NULL);
	while (!__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST))
		sleep_ms(1);
	drain_idle_list(&g);
	runq_pop(&g);
	CHECK(server_run(&s, w) == 0, "run");
	CHECK(state_of(&w->ut) == UMCG_TASK_IDLE, "worker not IDLE after switching back");
	state_cas(&s.ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE);
	__atomic_store_n(&g.idle_server_tid, (uint32_t)s.tid, __ATOMIC_SEQ_CST);
	r = sys_umcg_wait(0, now_ns() + 5000000000ull);
	CHECK(r == 0, "idle server not woken by the timed-out worker: %s", strerror(errno));
	CHECK(drain_idle_list(&g) == 1, "timed-out worker not on the idle list");
	CHECK(runq_pop(&g) == w, "wrong worker");
	CHECK(server_run(&s, w) == 0, "run 2");
	pthread_join(w->thread, NULL);
	CHECK(w->iterations == -ETIMEDOUT, "worker umcg_wait returned %ld", w->iterations);
}

/* ---- preemption -------------------------------------------------------------- */

static volatile int spin_stop;
static volatile int sig_seen;

static void on_sigusr1(int sig)
{
	(void)sig;
	sig_seen++;
}

static void *spin_worker(struct worker *w)
{
	while (!spin_stop)
		__atomic_fetch_add(&w->iterations, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *preempter(void *arg)
{
	struct worker *w = arg;

	sleep_ms(200);
	if (!state_cas(&w->ut, UMCG_TASK_RUNNING, UMCG_TASK_RUNNING | UMCG_TF_PREEMPTED))
		tap_diag("preempter: worker not RUNNING");
	syscall(SYS_tgkill, getpid(), w->tid, SIGUSR1);
	return NULL;
}

static void t_preemption(void)
{
	static struct group g;
	static struct server s;
	struct worker *w;
	struct sigaction sa = { .sa_handler = on_sigusr1 };
	pthread_t ctl;
	long r;

	sigaction(SIGUSR1, &sa, NULL);
	group_init(&g);
	s.g = &g;
	CHECK_OK(server_register(&s));
	w = worker_new(&g, spin_worker, NULL);
	while (!__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST))
		sleep_ms(1);
	drain_idle_list(&g);
	runq_pop(&g);

	/* A helper asks for preemption after 200 ms. */
	pthread_create(&ctl, NULL, preempter, w);

	r = server_run(&s, w);
	CHECK(r == 0, "run: %ld", r);
	pthread_join(ctl, NULL);
	CHECK(state_of(&w->ut) == UMCG_TASK_IDLE, "preempted worker state %llx",
	      (unsigned long long)state_load(&w->ut));
	CHECK(!(state_load(&w->ut) & UMCG_TF_PREEMPTED), "PREEMPTED not cleared");
	CHECK(w->iterations > 0, "worker never ran");
	CHECK(drain_idle_list(&g) == 1, "preempted worker not on the idle list");
	CHECK(runq_pop(&g) == w, "wrong worker");
	CHECK(sig_seen == 0, "signal handler ran before the server ran the worker again");
	spin_stop = 1;
	CHECK(server_run(&s, w) == 0, "run again");
	pthread_join(w->thread, NULL);
	CHECK(sig_seen == 1, "signal handler ran %d times", sig_seen);
}

/* ---- exits while referenced ------------------------------------------------- */

static void *exiting_worker(struct worker *w)
{
	(void)w;
	/* Exit without unregistering. */
	syscall(SYS_exit, 0);
	return NULL;
}

static void t_worker_exit(void)
{
	static struct group g;
	static struct server s;
	struct worker *w;

	group_init(&g);
	s.g = &g;
	CHECK_OK(server_register(&s));
	w = worker_new(&g, exiting_worker, NULL);
	while (!__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST))
		sleep_ms(1);
	drain_idle_list(&g);
	runq_pop(&g);
	/* Must return: the exiting worker wakes us. */
	CHECK(server_run(&s, w) == 0, "run");
	CHECK(state_of(&w->ut) == UMCG_TASK_BLOCKED, "exited worker state %llx",
	      (unsigned long long)state_load(&w->ut));
	/* Its tid is stale now. */
	sleep_ms(50);
	s.ut.next_tid = (uint32_t)w->tid;
	CHECK_ERR(sys_umcg_wait(UMCG_WAIT_WAKE_ONLY, 0), ESRCH);
	s.ut.next_tid = 0;
}

static struct server exit_srv;

static void *exiting_server(void *arg)
{
	struct group *g = arg;

	exit_srv.g = g;
	if (server_register(&exit_srv))
		abort();
	while (!__atomic_load_n(&g->idle_head, __ATOMIC_SEQ_CST))
		sleep_ms(1);
	drain_idle_list(g);
	server_run(&exit_srv, runq_pop(g));
	/* The worker is BLOCKED in read(); publish ourselves idle and die. */
	__atomic_store_n(&g->idle_server_tid, (uint32_t)exit_srv.tid, __ATOMIC_SEQ_CST);
	return NULL;
}

static void t_server_exit(void)
{
	static struct group g;
	static struct server s;
	static struct block_ctx c;
	struct worker *w;
	pthread_t srv, helper;
	int i;

	group_init(&g);
	memset(&c, 0, sizeof(c));
	c.op = OP_PIPE;
	if (pipe(c.pipefd))
		abort();
	w = worker_new(&g, block_worker, &c);
	pthread_create(&srv, NULL, exiting_server, &g);
	pthread_join(srv, NULL);	/* server gone; worker references it */
	CHECK(state_of(&w->ut) == UMCG_TASK_BLOCKED, "worker not BLOCKED");
	pthread_create(&helper, NULL, block_helper, &c);
	/* The wake-up finds a dead idle server: worker must still be queued. */
	for (i = 0; i < 5000 && !__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST); i++)
		sleep_ms(1);
	CHECK(__atomic_load_n(&g.idle_server_tid, __ATOMIC_SEQ_CST) == 0, "slot not taken");
	s.g = &g;
	CHECK_OK(server_register(&s));
	CHECK(drain_idle_list(&g) == 1, "worker lost");
	CHECK(runq_pop(&g) == w, "wrong worker");
	CHECK(server_run(&s, w) == 0, "run");
	pthread_join(w->thread, NULL);
	pthread_join(helper, NULL);
	CHECK(c.op_done && c.result == 1, "read result %ld", c.result);
}

/* ---- foreign tids (review point 3) ---------------------------------------- */

static void t_foreign_tid(void)
{
	/* Shared with the child so that we can see its state. */
	struct umcg_task *ct = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct umcg_task *t = new_task();
	uint64_t before;
	pid_t pid;
	int status, fds[2];
	char ch;

	if (pipe(fds))
		abort();
	memset(ct, 0, sizeof(*ct));
	ct->state = UMCG_TASK_RUNNING;
	pid = fork();
	if (pid == 0) {
		/* An idle server of another process. */
		if (sys_umcg_ctl(UMCG_CTL_REGISTER, ct))
			_exit(1);
		state_cas(ct, UMCG_TASK_RUNNING, UMCG_TASK_IDLE);
		if (write(fds[1], "r", 1) != 1)
			_exit(2);
		sys_umcg_wait(0, now_ns() + 3000000000ull);
		_exit(0);
	}
	if (read(fds[0], &ch, 1) != 1)
		abort();
	sleep_ms(50);
	before = state_load(ct);
	CHECK(UMCG_TASK_STATE(before) == UMCG_TASK_IDLE, "child not idle");

	CHECK_OK(sys_umcg_ctl(UMCG_CTL_REGISTER, t));
	t->next_tid = (uint32_t)pid;
	CHECK_ERR(sys_umcg_wait(UMCG_WAIT_WAKE_ONLY, 0), ESRCH);
	state_cas(t, UMCG_TASK_RUNNING, UMCG_TASK_IDLE);
	CHECK_ERR(sys_umcg_wait(0, now_ns() + 100000000ull), ESRCH);
	CHECK(state_of(t) == UMCG_TASK_IDLE, "state changed by a failed switch");
	state_cas(t, UMCG_TASK_IDLE, UMCG_TASK_RUNNING);
	t->next_tid = 0;
	CHECK(state_load(ct) == before, "the other process's state changed: %llx -> %llx",
	      (unsigned long long)before, (unsigned long long)state_load(ct));

	/* A foreign tid in the idle-server slot is ignored by a waking worker. */
	{
		static struct group g;
		static struct server s;
		static struct block_ctx c;
		struct worker *w;
		pthread_t helper;

		CHECK_OK(sys_umcg_ctl(UMCG_CTL_UNREGISTER, NULL));
		group_init(&g);
		memset(&c, 0, sizeof(c));
		c.op = OP_NANOSLEEP;
		s.g = &g;
		CHECK_OK(server_register(&s));
		w = worker_new(&g, block_worker, &c);
		while (!__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST))
			sleep_ms(1);
		drain_idle_list(&g);
		runq_pop(&g);
		pthread_create(&helper, NULL, block_helper, &c);
		CHECK(server_run(&s, w) == 0, "run");
		__atomic_store_n(&g.idle_server_tid, (uint32_t)pid, __ATOMIC_SEQ_CST);
		while (!__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST))
			sleep_ms(1);
		CHECK(state_load(ct) == before, "foreign idle server was touched");
		drain_idle_list(&g);
		runq_pop(&g);
		CHECK(server_run(&s, w) == 0, "run 2");
		pthread_join(w->thread, NULL);
		pthread_join(helper, NULL);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %x", status);
	CHECK(UMCG_TASK_STATE(state_load(ct)) == UMCG_TASK_RUNNING, "child did not time out cleanly");
}

/* ---- review point 7: a worker holding a kernel lock ------------------------- */

/*
 * In a child process, a worker blocks in a page fault (userfaultfd) inside
 * pipe_read(), i.e. while holding the pipe's mutex. Its server is woken;
 * user space then misbehaves: the server never runs the worker again. The
 * fault is resolved. The worker must finish pipe_read() (dropping the
 * mutex) and leave the kernel before it parks, so that
 *  - another thread of the child can take the mmap lock (mmap/munmap), and
 *  - a bystander process (the parent) can use the pipe.
 * With waiting inside the scheduler callback (UMCG v0.5), the worker would
 * park holding the pipe mutex and the bystander would hang.
 */
static int *lock_fds;
static int lock_status;
static struct block_ctx lock_ctx;
static struct worker *lock_worker;

static void *lock_reader(struct worker *w)
{
	(void)w;
	/* Faults on the destination while holding pipe->mutex. */
	if (read(lock_fds[0], lock_ctx.uffd_area, 4) != 4)
		_exit(30);
	return NULL;
}

static void *lock_resolver(void *arg)
{
	struct uffd_msg msg;
	struct uffdio_copy copy;
	static char page[4096] __attribute__((aligned(4096)));
	struct pollfd pfd = { .fd = lock_ctx.uffd, .events = POLLIN };
	void *m;
	int i;

	(void)arg;
	if (poll(&pfd, 1, 10000) != 1 || read(lock_ctx.uffd, &msg, sizeof(msg)) != sizeof(msg))
		_exit(40);
	sleep_ms(100);
	if (write(lock_status, "B", 1) != 1)
		_exit(41);
	copy.dst = msg.arg.pagefault.address & ~4095ull;
	copy.src = (uintptr_t)page;
	copy.len = 4096;
	copy.mode = 0;
	if (ioctl(lock_ctx.uffd, UFFDIO_COPY, &copy))
		_exit(42);
	/* The worker must now park at return to user mode, holding nothing. */
	for (i = 0; i < 5000 && state_of(&lock_worker->ut) != UMCG_TASK_IDLE; i++)
		sleep_ms(1);
	if (write(lock_status, state_of(&lock_worker->ut) == UMCG_TASK_IDLE ? "P" : "R", 1) != 1)
		_exit(43);
	/* The mmap lock is free. */
	m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || munmap(m, 4096))
		_exit(44);
	if (write(lock_status, "M", 1) != 1)
		_exit(45);
	return NULL;
}

static void *bystander_write(void *arg)
{
	int fd = *(int *)arg;

	if (write(fd, "wxyz", 4) != 4)
		abort();
	return NULL;
}

static void t_lock_holder(void)
{
	int fds[2], st[2];
	pid_t pid;
	int status;

	if (pipe(fds) || pipe(st))
		abort();
	if (write(fds[1], "abcd", 4) != 4)
		abort();

	pid = fork();
	if (pid == 0) {
		static struct group g;
		static struct server s;
		pthread_t res;

		if (setup_uffd(&lock_ctx))
			_exit(29);
		lock_fds = fds;
		lock_status = st[1];
		group_init(&g);
		s.g = &g;
		if (server_register(&s))
			_exit(31);
		lock_worker = worker_new(&g, lock_reader, NULL);
		while (!__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST))
			sleep_ms(1);
		drain_idle_list(&g);
		runq_pop(&g);
		pthread_create(&res, NULL, lock_resolver, NULL);
		server_run(&s, lock_worker);
		if (state_of(&lock_worker->ut) != UMCG_TASK_BLOCKED)
			_exit(32);
		/* Misbehave: never run the worker again, never look at it. */
		for (;;)
			pause();
	}
	{
		struct pollfd pfd = { .fd = st[0], .events = POLLIN };
		char got[4] = "";
		int i;

		for (i = 0; i < 3; i++) {
			CHECK(poll(&pfd, 1, 10000) == 1, "child progress stalled at step %d", i);
			if (read(st[0], &got[i], 1) != 1)
				break;
		}
		CHECK(!strcmp(got, "BPM"), "child steps: '%s' (want BPM: blocked, parked, mmap ok)", got);
	}
	/* The bystander: the pipe must be usable although the worker never ran again. */
	{
		pthread_t th;
		uint64_t t0 = now_ns();
		char buf[8];
		int i;

		pthread_create(&th, NULL, bystander_write, &fds[1]);
		for (i = 0; i < 5000; i++) {
			struct pollfd pfd = { .fd = fds[0], .events = POLLIN };

			if (poll(&pfd, 1, 1) == 1)
				break;
		}
		CHECK(i < 5000, "bystander write did not complete in 5 s");
		if (i < 5000) {
			pthread_join(th, NULL);
			CHECK(read(fds[0], buf, 4) == 4 && !memcmp(buf, "wxyz", 4), "bystander read");
		}
		tap_diag("bystander used the pipe after %.1f ms", (now_ns() - t0) / 1e6);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	      "misbehaving child status %x", status);
}

/* A worker whose state word is garbage at return to user mode is killed. */
static void t_contract_breach(void)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		static struct group g;
		static struct server s;
		static struct block_ctx c;
		struct worker *w;
		pthread_t helper;

		group_init(&g);
		memset(&c, 0, sizeof(c));
		c.op = OP_NANOSLEEP;
		s.g = &g;
		if (server_register(&s))
			_exit(1);
		w = worker_new(&g, block_worker, &c);
		while (!__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST))
			sleep_ms(1);
		drain_idle_list(&g);
		runq_pop(&g);
		pthread_create(&helper, NULL, block_helper, &c);
		server_run(&s, w);
		__atomic_store_n(&w->ut.state, 0x42, __ATOMIC_SEQ_CST);
		sleep_ms(3000);
		_exit(2);	/* should have been killed */
	}
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %x", status);
}

static const struct test tests[] = {
	{ "discovery", t_discovery, 10 },
	{ "register_errors", t_register_errors, 30 },
	{ "fork_reset", t_fork_reset, 30 },
	{ "exec_reset", t_exec_reset, 60 },
	{ "block_pipe", t_block_pipe, 30 },
	{ "block_nanosleep", t_block_nanosleep, 30 },
	{ "block_futex", t_block_futex, 30 },
	{ "block_pagefault_uffd", t_block_pagefault_uffd, 30 },
	{ "block_pagefault_file", t_block_pagefault_file, 30 },
	{ "context_switch", t_context_switch, 120 },
	{ "worker_to_worker", t_worker_to_worker, 30 },
	{ "timeouts", t_timeouts, 30 },
	{ "preemption", t_preemption, 30 },
	{ "worker_exit", t_worker_exit, 30 },
	{ "server_exit", t_server_exit, 30 },
	{ "foreign_tid", t_foreign_tid, 30 },
	{ "lock_holder", t_lock_holder, 60 },
	{ "contract_breach", t_contract_breach, 30 },
};

int main(int argc, char **argv)
{
	self_exe = "/proc/self/exe";
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "--exec-child"))
		return exec_child_main();
	if (argc > 1 && !strcmp(argv[1], "--list")) {
		for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
			puts(tests[i].name);
		return 0;
	}
	if (umcg_discover()) {
		printf("TAP version 13\n1..0 # SKIP no UMCG in this kernel (%s)\n",
		       UMCG_SYSFS_ABI_VERSION);
		return 4;
	}
	return run_tests(tests, sizeof(tests) / sizeof(tests[0]), argc > 1 ? argv[1] : NULL);
}
