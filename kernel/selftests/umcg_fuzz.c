// SPDX-License-Identifier: GPL-2.0
/*
 * A small UMCG fuzzer: random flags, pointers, states, tids and timeouts
 * thrown at umcg_ctl() and umcg_wait() from several threads at once, in
 * short-lived child processes. The kernel must survive without a warning
 * (deploy/vm/run checks the log) and every child must be killable.
 *
 *   umcg_fuzz [SECONDS]   (default 20)
 */
#include "umcg_test.h"

#include <sys/mman.h>

#define NTHREADS 4
#define NTASKS 8

static struct umcg_task *tasks;		/* NTASKS shared structs */
static uint64_t *heads;
static uint32_t *slots;
static pid_t tids[NTHREADS + 1];
static void *unmapped;

static uint64_t rnd(unsigned int *seed)
{
	return ((uint64_t)rand_r(seed) << 33) ^ ((uint64_t)rand_r(seed) << 11) ^ rand_r(seed);
}

static struct umcg_task *pick_ptr(unsigned int *seed)
{
	switch (rand_r(seed) % 8) {
	case 0: return NULL;
	case 1: return (struct umcg_task *)((char *)&tasks[rand_r(seed) % NTASKS] + 8);
	case 2: return unmapped;
	case 3: return (struct umcg_task *)0xffff888000000000ull;
	case 4: return (struct umcg_task *)(uintptr_t)(rnd(seed) & ~63ull);
	default: return &tasks[rand_r(seed) % NTASKS];
	}
}

static uint32_t pick_tid(unsigned int *seed)
{
	switch (rand_r(seed) % 6) {
	case 0: return 0;
	case 1: return (uint32_t)getppid();
	case 2: return (uint32_t)rnd(seed);
	case 3: return 1;
	default: return (uint32_t)tids[rand_r(seed) % (NTHREADS + 1)];
	}
}

static uint64_t pick_state(unsigned int *seed)
{
	static const uint64_t states[] = {
		UMCG_TASK_RUNNING, UMCG_TASK_IDLE, UMCG_TASK_BLOCKED, UMCG_TASK_NONE,
		UMCG_TASK_RUNNING | UMCG_TF_PREEMPTED, UMCG_TASK_IDLE | UMCG_TF_LOCKED,
		UMCG_TASK_RUNNING | UMCG_TF_LOCKED, 0xff, 0xffff,
	};
	uint64_t s = states[rand_r(seed) % (sizeof(states) / sizeof(states[0]))];

	return rand_r(seed) % 8 ? s : rnd(seed);
}

static uint64_t pick_u64_ptr(unsigned int *seed)
{
	switch (rand_r(seed) % 6) {
	case 0: return 0;
	case 1: return (uintptr_t)unmapped;
	case 2: return rnd(seed);
	case 3: return (uintptr_t)&heads[0] + 3;
	default: return (uintptr_t)&heads[rand_r(seed) % 2];
	}
}

static void scribble(unsigned int *seed)
{
	struct umcg_task *t = &tasks[rand_r(seed) % NTASKS];

	switch (rand_r(seed) % 8) {
	case 0: __atomic_store_n(&t->state, pick_state(seed), __ATOMIC_RELAXED); break;
	case 1: t->next_tid = pick_tid(seed); break;
	case 2: t->server_tid = pick_tid(seed); break;
	case 3: t->idle_workers_ptr = pick_u64_ptr(seed); break;
	case 4: t->idle_server_tid_ptr = rand_r(seed) % 2 ? (uintptr_t)&slots[rand_r(seed) % 2] : pick_u64_ptr(seed); break;
	case 5: slots[rand_r(seed) % 2] = pick_tid(seed); break;
	case 6: heads[rand_r(seed) % 2] = rand_r(seed) % 2 ? (uintptr_t)&tasks[rand_r(seed) % NTASKS] : rnd(seed); break;
	case 7: t->__reserved[0] = rand_r(seed) % 4 ? 0 : 1; break;
	}
}

static void *fuzz_thread(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;
	int idx = (int)(seed % (NTHREADS + 1));

	tids[idx] = gettid_();
	for (;;) {
		uint32_t flags;

		switch (rand_r(&seed) % 6) {
		case 0:
		case 1:
			scribble(&seed);
			break;
		case 2:
			flags = rand_r(&seed) % 4 ? (uint32_t[]){ UMCG_CTL_REGISTER,
				UMCG_CTL_REGISTER | UMCG_CTL_WORKER, UMCG_CTL_UNREGISTER }[rand_r(&seed) % 3]
				: (uint32_t)rnd(&seed);
			sys_umcg_ctl(flags, pick_ptr(&seed));
			break;
		case 3:
		case 4: {
			uint64_t timeout = 0;

			switch (rand_r(&seed) % 4) {
			case 0: timeout = 0; break;
			case 1: timeout = 1; break;
			case 2: timeout = now_ns() + 1000000; break;
			case 3: timeout = rnd(&seed); break;
			}
			flags = rand_r(&seed) % 4 ? (uint32_t)(rand_r(&seed) % 4) : (uint32_t)rnd(&seed);
			sys_umcg_wait(flags, timeout);
			break;
		}
		case 5: {
			struct timespec ts = { 0, 100000 };

			nanosleep(&ts, NULL);	/* block: exercise the hooks */
			break;
		}
		}
	}
	return NULL;
}

static void on_sig(int sig)
{
	(void)sig;
}

static void fuzz_child(unsigned int seed)
{
	pthread_t th[NTHREADS];
	struct sigaction sa = { .sa_handler = on_sig };
	int i;

	sigaction(SIGUSR1, &sa, NULL);
	tasks = aligned_alloc(UMCG_TASK_ALIGN, NTASKS * sizeof(*tasks));
	memset(tasks, 0, NTASKS * sizeof(*tasks));
	for (i = 0; i < NTASKS; i++)
		tasks[i].state = UMCG_TASK_RUNNING;
	heads = calloc(2, sizeof(*heads));
	slots = calloc(2, sizeof(*slots));
	unmapped = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(unmapped, 4096);
	for (i = 0; i < NTHREADS; i++)
		pthread_create(&th[i], NULL, fuzz_thread, (void *)(uintptr_t)(seed * 16 + i + 1));
	tids[NTHREADS] = gettid_();
	/* The main thread sends preemption signals at random. */
	for (i = 0; i < 200; i++) {
		sleep_ms(1);
		if (tids[i % NTHREADS])
			syscall(SYS_tgkill, getpid(), tids[i % NTHREADS], SIGUSR1);
		scribble(&seed);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 20;
	uint64_t end;
	unsigned int seed = 12345;
	long children = 0, killed = 0, exited = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..1\n");
	if (umcg_discover()) {
		printf("not ok 1 - fuzz # no UMCG in this kernel\n");
		return 1;
	}
	end = now_ns() + (uint64_t)seconds * 1000000000ull;
	while (now_ns() < end) {
		pid_t pid = fork();
		int status, i;

		if (pid == 0)
			fuzz_child(seed);
		seed++;
		children++;
		/* Give it up to 1 s, then kill it: it must die promptly. */
		for (i = 0; i < 1000; i++) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				break;
			sleep_ms(1);
		}
		if (i == 1000) {
			kill(pid, SIGKILL);
			for (i = 0; i < 10000; i++) {
				if (waitpid(pid, &status, WNOHANG) == pid)
					break;
				sleep_ms(1);
			}
			if (i == 10000) {
				tap_diag("child %d is unkillable", pid);
				printf("not ok 1 - fuzz\n");
				return 1;
			}
		}
		if (WIFSIGNALED(status))
			killed++;
		else
			exited++;
	}
	tap_diag("%ld children: %ld exited, %ld killed (by the kernel for contract breaches, or by us)",
		 children, exited, killed);
	printf("ok 1 - fuzz\n");
	return 0;
}
