/*
 * malloc(n) + free pairs in one thread, n = 16, 32, 48 and 64 bytes: the fast path of
 * every thread-caching allocator. Prints one line per size, "pair_<n>_ns <ns per pair>".
 * The size is read through a volatile so that the compiler cannot specialise or drop
 * the calls. Arguments: pairs per size (default 20000000), and optionally a number of
 * bursts: the pairs are then timed in that many equal bursts on the thread's CPU
 * clock and the fastest burst is reported, which filters out what other processes on
 * a shared machine add (preemption, caches and branch predictors disturbed).
 * Does not link kmm: run it plain (glibc) and under LD_PRELOAD.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static double pairs_ns(size_t size, long pairs, long bursts)
{
	clockid_t clock = bursts > 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
	long per_burst = pairs / bursts;
	volatile size_t vsize = size;
	void *volatile sink;
	double best = 0;

	/* Warm up: the first calls set up the thread's cache and the size class. */
	for (long i = 0; i < 100000; i++) {
		sink = malloc(vsize);
		free(sink);
	}
	for (long b = 0; b < bursts; b++) {
		double t0 = now_ns(clock), ns;

		for (long i = 0; i < per_burst; i++) {
			sink = malloc(vsize);
			free(sink);
		}
		ns = (now_ns(clock) - t0) / per_burst;
		if (b == 0 || ns < best)
			best = ns;
	}
	return best;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {16, 32, 48, 64};
	long pairs = argc > 1 ? atol(argv[1]) : 20000000;
	long bursts = argc > 2 ? atol(argv[2]) : 1;

	if (pairs <= 0 || bursts <= 0 || bursts > pairs) {
		fprintf(stderr, "usage: %s [pairs per size [bursts]]\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		printf("pair_%zu_ns %.2f\n", sizes[i], pairs_ns(sizes[i], pairs, bursts));
	return 0;
}
