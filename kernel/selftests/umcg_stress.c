// SPDX-License-Identifier: GPL-2.0
/*
 * UMCG stress test: many workers, two servers, random blocking, yielding
 * and preemption requests for a fixed time. Passes if every worker keeps
 * making progress and all of them finish: no worker is ever lost.
 *
 *   umcg_stress [SECONDS [WORKERS]]     (default 60 s, 16 workers)
 */
#include "umcg_test.h"

#include <linux/futex.h>

#define NSERVERS 2

struct wstate {
	int req[2], resp[2];		/* pipe ping-pong with an echo thread */
	uint32_t futex_word;
	unsigned int seed;
};

static volatile int stop_echo;

static void *echo_main(void *arg)
{
	struct wstate *ws = arg;
	char c;

	while (read(ws->req[0], &c, 1) == 1) {
		if (c == 'q')
			break;
		if (write(ws->resp[1], &c, 1) != 1)
			break;
	}
	return NULL;
}

static void on_sig(int sig)
{
	(void)sig;
}

static void *stress_worker(struct worker *w)
{
	struct wstate *ws = w->arg;
	struct timespec ts;
	char c = 'p';
	volatile unsigned long spin;

	while (!w->g->stop) {
		switch (rand_r(&ws->seed) % 6) {
		case 0:
			for (spin = rand_r(&ws->seed) % 20000; spin; spin--)
				;
			break;
		case 1:
			ts.tv_sec = 0;
			ts.tv_nsec = (rand_r(&ws->seed) % 2000) * 1000;
			nanosleep(&ts, NULL);
			break;
		case 2:
			if (write(ws->req[1], &c, 1) != 1 || read(ws->resp[0], &c, 1) != 1) {
				tap_diag("pipe ping failed: %s", strerror(errno));
				tap_failed++;
			}
			break;
		case 3: {
			long r = worker_yield(w);

			if (r) {
				tap_diag("yield: %s", strerror((int)-r));
				tap_failed++;
			}
			break;
		}
		case 4:
			getppid();
			break;
		case 5:
			/* futex wait with a short timeout: blocks, times out */
			ts.tv_sec = 0;
			ts.tv_nsec = 200000;
			syscall(SYS_futex, &ws->futex_word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
			break;
		}
		__atomic_fetch_add(&w->iterations, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 60;
	int nworkers = argc > 2 ? atoi(argv[2]) : 16;
	static struct group g;
	static struct server servers[NSERVERS];
	struct worker **workers = calloc(nworkers, sizeof(*workers));
	struct wstate *ws = calloc(nworkers, sizeof(*ws));
	pthread_t *echo = calloc(nworkers, sizeof(*echo));
	struct sigaction sa = { .sa_handler = on_sig, .sa_flags = SA_RESTART };
	long *last = calloc(nworkers, sizeof(*last));
	uint64_t t_end, t_last_progress;
	long preempts = 0, total = 0;
	int i, stalled_for = 0, ticks = 0;
	unsigned int seed = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..1\n");
	if (umcg_discover()) {
		printf("not ok 1 - stress # no UMCG in this kernel\n");
		return 1;
	}
	sigaction(SIGUSR1, &sa, NULL);
	group_init(&g);
	for (i = 0; i < NSERVERS; i++) {
		servers[i].g = &g;
		pthread_create(&servers[i].thread, NULL, server_main, &servers[i]);
	}
	for (i = 0; i < nworkers; i++) {
		if (pipe(ws[i].req) || pipe(ws[i].resp))
			abort();
		ws[i].seed = 1000 + i;
		pthread_create(&echo[i], NULL, echo_main, &ws[i]);
		workers[i] = worker_new(&g, stress_worker, &ws[i]);
	}

	t_end = now_ns() + (uint64_t)seconds * 1000000000ull;
	t_last_progress = now_ns();
	while (now_ns() < t_end) {
		/*
		 * Ask for a preemption of a random RUNNING worker; not before
		 * it has registered: until then RUNNING is its own initial
		 * state, which registration checks.
		 */
		struct worker *w = workers[rand_r(&seed) % nworkers];

		if (__atomic_load_n(&w->started, __ATOMIC_SEQ_CST) &&
		    state_cas(&w->ut, UMCG_TASK_RUNNING,
			      UMCG_TASK_RUNNING | UMCG_TF_PREEMPTED)) {
			syscall(SYS_tgkill, getpid(), w->tid, SIGUSR1);
			preempts++;
		}
		sleep_ms(5);
		if (now_ns() - t_last_progress > 1000000000ull) {
			int progressed = 0;

			for (i = 0; i < nworkers; i++) {
				long it = __atomic_load_n(&workers[i]->iterations, __ATOMIC_RELAXED);

				if (it != last[i])
					progressed++;
				last[i] = it;
			}
			stalled_for = progressed ? 0 : stalled_for + 1;
			if (++ticks % 10 == 0) {
				long sum = 0;

				for (i = 0; i < nworkers; i++)
					sum += last[i];
				tap_diag("t=%ds: %ld operations, %d/%d workers progressed in the last second",
					 ticks, sum, progressed, nworkers);
			}
			if (stalled_for >= 15) {
				tap_diag("no worker made progress for 15 s");
				for (i = 0; i < nworkers; i++)
					tap_diag("worker %d tid %d state %llx it %ld", i, workers[i]->tid,
						 (unsigned long long)state_load(&workers[i]->ut),
						 workers[i]->iterations);
				printf("not ok 1 - stress (stalled)\n");
				return 1;
			}
			t_last_progress = now_ns();
		}
	}

	/* Stop; every worker must finish. */
	g.stop = 1;
	for (i = 0; i < 30000 && __atomic_load_n(&g.live_workers, __ATOMIC_SEQ_CST); i++)
		sleep_ms(1);
	if (__atomic_load_n(&g.live_workers, __ATOMIC_SEQ_CST)) {
		tap_diag("%d workers lost", g.live_workers);
		for (i = 0; i < nworkers; i++)
			if (!workers[i]->done)
				tap_diag("lost worker %d tid %d state %llx", i, workers[i]->tid,
					 (unsigned long long)state_load(&workers[i]->ut));
		printf("not ok 1 - stress (lost workers)\n");
		return 1;
	}
	for (i = 0; i < nworkers; i++) {
		pthread_join(workers[i]->thread, NULL);
		CHECK(workers[i]->iterations > 0, "worker %d never ran", i);
		total += workers[i]->iterations;
		if (write(ws[i].req[1], "q", 1) != 1)
			abort();
		pthread_join(echo[i], NULL);
	}
	for (i = 0; i < NSERVERS; i++)
		pthread_join(servers[i].thread, NULL);
	tap_diag("%d s, %d workers: %ld operations, %ld switches, %ld preemption requests, %ld spurious server wake-ups",
		 seconds, nworkers, total, g.switches, preempts, g.spurious);
	printf("%s 1 - stress\n", tap_failed ? "not ok" : "ok");
	return tap_failed ? 1 : 0;
}
