/*
 * What dropping pages costs one at a time (madvise) against in one batch
 * (process_madvise of the process itself, Linux 6.13 for MADV_DONTNEED), with a second
 * thread of the process running on the other CPU, as the program does while kswapd
 * reclaims: each madvise call flushes the other CPU's TLB, a batch flushes it once.
 *
 *   cc -std=gnu11 -O2 -Wall -Wextra -Werror -pthread -o /tmp/madvise_batch \
 *           bench/reclaim/madvise_batch.c
 *   /tmp/madvise_batch [ROUNDS]     # µs per 32 scattered pages, each way, median of 5
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PAGES                   32
#define PIDFD_SELF_THREAD_GROUP (-10001)

static volatile int stop;

static void *spin(void *arg)
{
	(void)arg;
	while (!stop)
		;
	return NULL;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* µs per batch of PAGES pages, every other page of @p, dropped one way or the other. */
static double drop(char *p, int batched, long rounds)
{
	struct iovec iov[PAGES];
	double total = 0;

	for (long r = 0; r < rounds; r++) {
		double t0;

		for (int i = 0; i < PAGES; i++)
			p[i * 2 * 4096] = 1;
		t0 = now();
		if (batched) {
			for (int i = 0; i < PAGES; i++)
				iov[i] = (struct iovec){p + i * 2 * 4096, 4096};
			if (syscall(SYS_process_madvise, PIDFD_SELF_THREAD_GROUP, iov, PAGES,
			            MADV_DONTNEED, 0) != PAGES * 4096) {
				perror("process_madvise");
				exit(1);
			}
		} else {
			for (int i = 0; i < PAGES; i++)
				madvise(p + i * 2 * 4096, 4096, MADV_DONTNEED);
		}
		total += now() - t0;
		if (p[0]) {
			fprintf(stderr, "a page was not dropped\n");
			exit(1);
		}
	}
	return total / (double)rounds * 1e6;
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 2000;
	char *p = mmap(NULL, PAGES * 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	               -1, 0);
	double one[5], batch[5];
	pthread_t thread;

	if (p == MAP_FAILED || pthread_create(&thread, NULL, spin, NULL) != 0)
		return 1;
	for (int i = 0; i < 5; i++) {
		one[i] = drop(p, 0, rounds);
		batch[i] = drop(p, 1, rounds);
	}
	qsort(one, 5, sizeof(double), cmp);
	qsort(batch, 5, sizeof(double), cmp);
	printf("%d scattered pages: madvise one by one %.1f us, process_madvise %.1f us\n", PAGES,
	       one[2], batch[2]);
	stop = 1;
	pthread_join(thread, NULL);
	return 0;
}
