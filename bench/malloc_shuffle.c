/*
 * One million malloc(64), then free of all of them in a shuffled order: the free of an
 * object whose neighbours were freed long ago or not yet, with the allocator's metadata
 * out of cache. Two rounds in the same process: round 1 runs on memory the process has
 * never used, round 2 on what round 1 gave back. Prints "alloc_r<k>_ns" and
 * "free_r<k>_ns", the time per malloc and per free, one per line. The shuffle uses a
 * fixed seed and its own generator, so every allocator frees in the same order of
 * allocation indices. Arguments: objects (default 1000000), and "threaded" to start
 * an idle thread first: then the process is multi-threaded, as most large programs
 * are, and allocators that skip atomic instructions while it has one thread (glibc,
 * kmm) no longer can. Does not link kmm.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <unistd.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t next_random(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static void round_ns(void **objects, long n, int round)
{
	double t0, t1, t2, t3;

	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		objects[i] = malloc(64);
		if (!objects[i]) {
			fprintf(stderr, "malloc(64) failed at object %ld\n", i);
			exit(1);
		}
	}
	t1 = now_ns();
	for (long i = n - 1; i > 0; i--) {
		long j = (long)(next_random() % (uint64_t)(i + 1));
		void *t = objects[i];

		objects[i] = objects[j];
		objects[j] = t;
	}
	t2 = now_ns();
	for (long i = 0; i < n; i++)
		free(objects[i]);
	t3 = now_ns();
	printf("alloc_r%d_ns %.2f\n", round, (t1 - t0) / n);
	printf("free_r%d_ns %.2f\n", round, (t3 - t2) / n);
}

static void *idle(void *arg)
{
	for (;;)
		pause();
	return arg;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	int threaded = argc > 2 && strcmp(argv[2], "threaded") == 0;
	pthread_t thread;
	void **objects;

	if (n <= 0 || argc > 3 || (argc > 2 && !threaded)) {
		fprintf(stderr, "usage: %s [objects [threaded]]\n", argv[0]);
		return 2;
	}
	if (threaded && pthread_create(&thread, NULL, idle, NULL) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	objects = malloc(sizeof(void *) * n);
	if (!objects)
		return 1;
	/* Fault the array in before timing: only the allocator's work is measured. */
	memset(objects, 0, sizeof(void *) * n);
	for (int round = 1; round <= 2; round++)
		round_ns(objects, n, round);
	free(objects);
	return 0;
}
