/*
 * malloc(n) + free pairs in one thread, n = 16, 32, 48 and 64 bytes: the fast path of
 * every thread-caching allocator. Prints one line per size, "pair_<n>_ns <ns per pair>".
 * The size is read through a volatile so that the compiler cannot specialise or drop
 * the calls. Argument: pairs per size (default 20000000). Does not link kmm: run it
 * plain (glibc) and under LD_PRELOAD.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static double pairs_ns(size_t size, long pairs)
{
	volatile size_t vsize = size;
	void *volatile sink;
	double t0;

	/* Warm up: the first calls set up the thread's cache and the size class. */
	for (long i = 0; i < 100000; i++) {
		sink = malloc(vsize);
		free(sink);
	}
	t0 = now_ns();
	for (long i = 0; i < pairs; i++) {
		sink = malloc(vsize);
		free(sink);
	}
	return (now_ns() - t0) / pairs;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {16, 32, 48, 64};
	long pairs = argc > 1 ? atol(argv[1]) : 20000000;

	if (pairs <= 0) {
		fprintf(stderr, "usage: %s [pairs per size]\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		printf("pair_%zu_ns %.2f\n", sizes[i], pairs_ns(sizes[i], pairs));
	return 0;
}
