/*
 * What a first touch of heap memory costs: with the kernel's own page faults, or with
 * every page brought in by kmm's userfaultfd handler (KMM_UFFD=on). Three patterns over
 * a fresh block of MiB MiB (the second argument, default 512): one write per 4 KiB page in address
 * order
 * ("sequential"), one per page in a random order ("random"), and 4 KiB small blocks
 * (64 B each, 64 per page) allocated and written until SIZE is used ("small").
 * Each pattern runs in a process of its own (the argument names it), so that none reuses
 * memory another touched. Prints "name value", microseconds per MiB. Does not link kmm:
 * run it plain (glibc) and under LD_PRELOAD, with and without KMM_UFFD=on, interleaved,
 * e.g. from the build directory:
 *
 *   for rep in 1 2 3; do for t in sequential random small; do
 *     env -u LD_PRELOAD bench/first_touch $t | sed 's/^/glibc /'
 *     env LD_PRELOAD=$PWD/libkmm.so bench/first_touch $t | sed 's/^/kmm /'
 *     env LD_PRELOAD=$PWD/libkmm.so KMM_UFFD=on bench/first_touch $t | sed 's/^/kmm-uffd /'
 *   done; done
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void sequential(size_t mib)
{
	size_t size = mib << 20;
	volatile char *p = malloc(size);
	double t0 = now_us();

	for (size_t off = 0; off < size; off += 4096)
		p[off] = 1;
	printf("sequential_us_per_mib %.1f\n", (now_us() - t0) / (double)mib);
	free((void *)p);
}

static void random_order(size_t mib)
{
	size_t size = mib << 20, pages = size >> 12;
	volatile char *p = malloc(size);
	uint32_t *order = malloc(pages * sizeof(*order));
	uint64_t rng = 88172645463325252ULL;
	double t0;

	for (size_t i = 0; i < pages; i++)
		order[i] = (uint32_t)i;
	for (size_t i = pages - 1; i > 0; i--) {
		size_t j;
		uint32_t t;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		j = (size_t)(rng % (i + 1));
		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	t0 = now_us();
	for (size_t i = 0; i < pages; i++)
		p[(size_t)order[i] << 12] = 1;
	printf("random_us_per_mib %.1f\n", (now_us() - t0) / (double)mib);
	free((void *)p);
	free(order);
}

static void small_blocks(size_t mib)
{
	size_t n = (mib << 20) / 64;
	char **blocks = malloc(n * sizeof(*blocks));
	double t0 = now_us();

	for (size_t i = 0; i < n; i++) {
		blocks[i] = malloc(64);
		blocks[i][0] = 1;
	}
	printf("small_us_per_mib %.1f\n", (now_us() - t0) / (double)mib);
	for (size_t i = 0; i < n; i++)
		free(blocks[i]);
	free(blocks);
}

int main(int argc, char **argv)
{
	const char *pattern = argc > 1 ? argv[1] : "sequential";
	size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 512;

	if (strcmp(pattern, "sequential") == 0)
		sequential(mib);
	else if (strcmp(pattern, "random") == 0)
		random_order(mib);
	else if (strcmp(pattern, "small") == 0)
		small_blocks(mib / 4);
	else {
		fprintf(stderr, "first_touch: the pattern is sequential, random or small\n");
		return 2;
	}
	return 0;
}
