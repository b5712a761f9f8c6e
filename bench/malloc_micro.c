/*
 * Two quick shapes of the C library's allocation API, for a first look before the
 * full suite: malloc(32) + free pairs, and 1 M malloc(64) freed in shuffled order. Run
 * it as it is (glibc) and under LD_PRELOAD=libkmm.so; it does not link kmm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(void)
{
	enum { PAIRS = 20000000, OBJECTS = 1000000 };
	void *volatile sink;
	void **objects = malloc(sizeof(void *) * OBJECTS);
	double t0, t1, t2, t3;

	t0 = now_ns();
	for (int i = 0; i < PAIRS; i++) {
		sink = malloc(32);
		free(sink);
	}
	t1 = now_ns();
	for (int i = 0; i < OBJECTS; i++)
		objects[i] = malloc(64);
	srand(1);
	for (int i = OBJECTS - 1; i > 0; i--) {
		int j = rand() % (i + 1);
		void *t = objects[i];

		objects[i] = objects[j];
		objects[j] = t;
	}
	t2 = now_ns();
	for (int i = 0; i < OBJECTS; i++)
		free(objects[i]);
	t3 = now_ns();
	printf("malloc(32)+free pair: %.1f ns, free of 1M shuffled 64 B objects: %.1f ns each\n",
	       (t1 - t0) / PAIRS, (t3 - t2) / OBJECTS);
	free(objects);
	return 0;
}
