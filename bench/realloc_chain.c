/*
 * realloc growth chains, the shape of a growing string or vector: malloc(16), then
 * realloc to ever larger sizes up to 8 MiB, writing every byte of the new tail after
 * each step (memset), then free. Mode "double" doubles the size at each step (16 B to
 * 8 MiB, 19 reallocs); mode "grow50" adds half of it (+50 %, 33 reallocs, the last one
 * clamped to 8 MiB). After each step the last byte of the old contents is checked.
 *
 * Prints "<mode>_first_us", the time of the first chain (memory the process has never
 * used), and "<mode>_us", the mean time of the chains after it, in microseconds.
 * Arguments: mode (default double), chains (default 100). Does not link kmm.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAIN_START ((size_t)16)
#define CHAIN_END   ((size_t)8 << 20)

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static size_t next_size(size_t size, int grow50)
{
	size_t next = grow50 ? size + size / 2 : size * 2;

	return next > CHAIN_END ? CHAIN_END : next;
}

static void chain(int grow50)
{
	size_t size = CHAIN_START;
	unsigned char fill = 1;
	unsigned char *p = malloc(size);

	if (!p) {
		fprintf(stderr, "malloc(%zu) failed\n", size);
		exit(1);
	}
	memset(p, fill, size);
	while (size < CHAIN_END) {
		size_t next = next_size(size, grow50);
		unsigned char *q = realloc(p, next);

		if (!q) {
			fprintf(stderr, "realloc(%zu) failed\n", next);
			exit(1);
		}
		if (q[size - 1] != fill) {
			fprintf(stderr, "realloc(%zu -> %zu) lost the old contents\n", size, next);
			exit(1);
		}
		fill++;
		memset(q + size, fill, next - size);
		p = q;
		size = next;
	}
	free(p);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "double";
	long chains = argc > 2 ? atol(argv[2]) : 100;
	int grow50;
	double t0, t1, t2;

	if (strcmp(mode, "double") == 0) {
		grow50 = 0;
	} else if (strcmp(mode, "grow50") == 0) {
		grow50 = 1;
	} else {
		fprintf(stderr, "usage: %s [double|grow50] [chains]\n", argv[0]);
		return 2;
	}
	if (chains < 2) {
		fprintf(stderr, "chains must be at least 2\n");
		return 2;
	}
	t0 = now_us();
	chain(grow50);
	t1 = now_us();
	for (long i = 1; i < chains; i++)
		chain(grow50);
	t2 = now_us();
	printf("%s_first_us %.1f\n", mode, t1 - t0);
	printf("%s_us %.1f\n", mode, (t2 - t1) / (chains - 1));
	return 0;
}
