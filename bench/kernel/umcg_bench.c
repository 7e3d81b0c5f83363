// SPDX-License-Identifier: GPL-2.0
/*
 * Context-switch round trip between two threads, three ways:
 *   umcg   - a UMCG server runs a worker, the worker switches straight back
 *            (umcg_wait with next_tid on both sides, same CPU)
 *   futex  - FUTEX_WAKE + FUTEX_WAIT ping-pong (free placement, and both
 *            threads pinned to one CPU)
 *   pipe   - one-byte ping-pong over two pipes (free, and pinned)
 * Prints ns per round trip and the ratios to the UMCG round trip, and for
 * UMCG the context switches per round trip (both threads, voluntary and
 * involuntary, from getrusage(RUSAGE_THREAD)): 2 if each switch hands the
 * CPU straight over, 4 if the woken thread preempts the waker first.
 *
 *   umcg_bench [ROUND_TRIPS]   (default 20000)
 */
#include "../../kernel/selftests/umcg_test.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/resource.h>

static long rounds;

/* ---- UMCG ---- */

static int pin_cpu = -1;

/* This thread's context switches so far, voluntary and involuntary. */
static long thread_switches(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		abort();
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

/* The worker's switches over the measured round trips (umcg_pong()). */
static long pong_switches;

static void pin(void)
{
	cpu_set_t set;

	if (pin_cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(pin_cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}


static void *umcg_pong(struct worker *w)
{
	long first = 0;

	pin();
	for (long i = 0; i < rounds; i++) {
		/* The server measures round trips 1 .. rounds - 1. */
		if (i == 1)
			first = thread_switches();
		w->ut.next_tid = w->ut.server_tid;
		if (!state_cas(&w->ut, UMCG_TASK_RUNNING, UMCG_TASK_IDLE))
			abort();
		if (sys_umcg_wait(0, 0))
			abort();
	}
	pong_switches = thread_switches() - first;
	return NULL;
}

static void unpin(void)
{
	cpu_set_t set;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&set);
	for (long i = 0; i < n; i++)
		CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* ns per round trip; *switches: context switches per round trip. */
static double bench_umcg(int cpu, double *switches)
{
	static struct group g;
	static struct server s;
	struct worker *w;
	uint64_t t0, t1;
	long sw0, sw1;

	pin_cpu = cpu;
	pin();
	group_init(&g);
	s.g = &g;
	if (server_register(&s))
		abort();
	w = worker_new(&g, umcg_pong, NULL);
	while (!__atomic_load_n(&g.idle_head, __ATOMIC_SEQ_CST))
		sleep_ms(1);
	drain_idle_list(&g);
	runq_pop(&g);
	server_run(&s, w);	/* warm-up: first switch */
	sw0 = thread_switches();
	t0 = now_ns();
	for (long i = 1; i < rounds; i++)
		server_run(&s, w);
	t1 = now_ns();
	sw1 = thread_switches();
	server_run(&s, w);	/* let it finish */
	pthread_join(w->thread, NULL);
	sys_umcg_ctl(UMCG_CTL_UNREGISTER, NULL);
	*switches = (double)(sw1 - sw0 + pong_switches) / (rounds - 1);
	return (double)(t1 - t0) / (rounds - 1);
}

/* ---- futex ---- */

static uint32_t fx[2];

static void fx_wait(uint32_t *w)
{
	while (!__atomic_exchange_n(w, 0, __ATOMIC_SEQ_CST))
		syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
}

static void fx_wake(uint32_t *w)
{
	__atomic_store_n(w, 1, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *futex_pong(void *arg)
{
	(void)arg;
	pin();
	for (long i = 0; i < rounds; i++) {
		fx_wait(&fx[0]);
		fx_wake(&fx[1]);
	}
	return NULL;
}

static double bench_futex(int cpu)
{
	pthread_t th;
	uint64_t t0;

	pin_cpu = cpu;
	fx[0] = fx[1] = 0;
	pin();
	pthread_create(&th, NULL, futex_pong, NULL);
	t0 = now_ns();
	for (long i = 0; i < rounds; i++) {
		fx_wake(&fx[0]);
		fx_wait(&fx[1]);
	}
	t0 = now_ns() - t0;
	pthread_join(th, NULL);
	return (double)t0 / rounds;
}

/* ---- pipe ---- */

static int p1[2], p2[2];

static void *pipe_pong(void *arg)
{
	char c;

	(void)arg;
	pin();
	for (long i = 0; i < rounds; i++)
		if (read(p1[0], &c, 1) != 1 || write(p2[1], &c, 1) != 1)
			abort();
	return NULL;
}

static double bench_pipe(int cpu)
{
	pthread_t th;
	uint64_t t0;
	char c = 'x';

	pin_cpu = cpu;
	if (pipe(p1) || pipe(p2))
		abort();
	pin();
	pthread_create(&th, NULL, pipe_pong, NULL);
	t0 = now_ns();
	for (long i = 0; i < rounds; i++)
		if (write(p1[1], &c, 1) != 1 || read(p2[0], &c, 1) != 1)
			abort();
	t0 = now_ns() - t0;
	pthread_join(th, NULL);
	close(p1[0]); close(p1[1]); close(p2[0]); close(p2[1]);
	return (double)t0 / rounds;
}

int main(int argc, char **argv)
{
	double umcg_pinned, umcg, futex_free, futex_pinned, pipe_free, pipe_pinned;
	double umcg_sw, umcg_pinned_sw;

	rounds = argc > 1 ? atol(argv[1]) : 20000;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (umcg_discover()) {
		fprintf(stderr, "umcg_bench: no UMCG in this kernel\n");
		return 1;
	}
	printf("umcg_bench: %ld round trips each, %ld CPUs\n", rounds,
	       sysconf(_SC_NPROCESSORS_ONLN));
	umcg = bench_umcg(-1, &umcg_sw);
	unpin();
	umcg_pinned = bench_umcg(0, &umcg_pinned_sw);
	unpin();
	futex_free = bench_futex(-1);
	futex_pinned = bench_futex(0);
	unpin();
	pipe_free = bench_pipe(-1);
	pipe_pinned = bench_pipe(0);
	unpin();
	printf("%-30s %10.0f ns   %.2f context switches\n", "umcg_wait switch (free)", umcg,
	       umcg_sw);
	printf("%-30s %10.0f ns   %.2f context switches\n", "umcg_wait switch (1 CPU)",
	       umcg_pinned, umcg_pinned_sw);
	printf("%-30s %10.0f ns   vs umcg free %.2fx\n", "futex ping-pong (2 CPUs)", futex_free, futex_free / umcg);
	printf("%-30s %10.0f ns   vs umcg 1 CPU %.2fx\n", "futex ping-pong (1 CPU)", futex_pinned, futex_pinned / umcg_pinned);
	printf("%-30s %10.0f ns   vs umcg free %.2fx\n", "pipe ping-pong (2 CPUs)", pipe_free, pipe_free / umcg);
	printf("%-30s %10.0f ns   vs umcg 1 CPU %.2fx\n", "pipe ping-pong (1 CPU)", pipe_pinned, pipe_pinned / umcg_pinned);
	printf("RESULT umcg_switches=%.2f umcg_pinned_switches=%.2f\n", umcg_sw, umcg_pinned_sw);
	printf("RESULT umcg_ns=%.0f umcg_pinned_ns=%.0f futex_ns=%.0f futex_pinned_ns=%.0f pipe_ns=%.0f "
	       "pipe_pinned_ns=%.0f futex_ratio=%.2f futex_pinned_ratio=%.2f pipe_ratio=%.2f "
	       "pipe_pinned_ratio=%.2f\n", umcg, umcg_pinned, futex_free, futex_pinned, pipe_free,
	       pipe_pinned, futex_free / umcg, futex_pinned / umcg_pinned, pipe_free / umcg,
	       pipe_pinned / umcg_pinned);
	return 0;
}
