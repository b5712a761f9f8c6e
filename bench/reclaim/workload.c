/*
 * The workload of the reclaim anchor (docs of /work/shared/research/reclaim-anchor.md):
 * how long a program takes over a working set larger than its memory limit, phase by
 * phase, so that kmm's reclaim (KMM_MEM_LIMIT) and the kernel's (a memory cgroup with
 * swap) can each be compared with the same program run unlimited.
 *
 *   workload MIB [hashed|2to1] [THREADS]
 *
 * The working set is MIB MiB from one malloc, used as 4 KiB pages (the block is rounded
 * up to a 4 KiB boundary so that a page is one page of the kernel's). Each page is filled
 * with 512 words derived from its index and a per-page generation, so every word read can
 * be checked: "hashed" (the default) makes every word a hash, incompressible; "2to1" makes
 * the first half of the page hashes and the second half one word repeated, which lz4
 * compresses about 2:1. The phases, after the fill:
 *
 *   seq      three sequential read passes, every word verified
 *   rand     262144 uniform random page reads, four words of each verified
 *   skew     262144 reads, 90 % of them to a hot 10 % of the pages scattered over the set
 *   write    262144 random page rewrites, each with the page's next generation
 *   verify   one sequential pass, every word verified
 *   threads  THREADS threads (default 4) doing 262144 random page reads between them
 *
 * Prints "phase seconds" a line, then "total seconds" (fill included). Exits 1 on any
 * wrong word (after printing the first few), 2 on bad arguments or allocation failure.
 * Build: cc -std=gnu11 -O2 -pthread -o workload workload.c
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE_SIZE  4096
#define PAGE_WORDS (PAGE_SIZE / sizeof(uint64_t))
#define NR_OPS     262144

static uint64_t *pages; /* nr_pages pages of PAGE_WORDS words */
static size_t nr_pages;
static uint32_t *generation; /* per page, bumped by each rewrite */
static int compressible;     /* 2to1 data */
static atomic_long nr_bad;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* A splitmix64 stream: each thread's random page numbers. */
static uint64_t next_random(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ULL;
	return mix64(*state);
}

static uint64_t page_seed(size_t page, uint32_t gen)
{
	return mix64(((uint64_t)page << 20) ^ gen ^ 0x5851f42d4c957f2dULL);
}

/* Word @i of a page whose seed is @seed: cheap, distinct, no repeats lz4 could find. */
static uint64_t expected_word(uint64_t seed, size_t i)
{
	uint64_t x;

	if (compressible && i >= PAGE_WORDS / 2)
		return seed;
	x = (seed + i) * 0x9e3779b97f4a7c15ULL;
	return x ^ (x >> 29);
}

static uint64_t *page_at(size_t page)
{
	return pages + page * PAGE_WORDS;
}

static void fill_page(size_t page)
{
	uint64_t *p = page_at(page);
	uint64_t seed = page_seed(page, generation[page]);

	for (size_t i = 0; i < PAGE_WORDS; i++)
		p[i] = expected_word(seed, i);
}

static void report_bad(size_t page, size_t i, uint64_t want, uint64_t got)
{
	if (atomic_fetch_add(&nr_bad, 1) < 8)
		fprintf(stderr, "workload: page %zu word %zu: want %016llx, got %016llx\n", page, i,
		        (unsigned long long)want, (unsigned long long)got);
}

static void verify_page(size_t page)
{
	const volatile uint64_t *p = page_at(page);
	uint64_t seed = page_seed(page, generation[page]);
	uint64_t diff = 0;

	for (size_t i = 0; i < PAGE_WORDS; i++)
		diff |= p[i] ^ expected_word(seed, i);
	if (!diff)
		return;
	for (size_t i = 0; i < PAGE_WORDS; i++)
		if (p[i] != expected_word(seed, i))
			report_bad(page, i, expected_word(seed, i), p[i]);
}

/* A random read checks four words spread over the page: both halves, both ends. */
static void verify_some(size_t page)
{
	static const size_t which[] = {0, 170, 341, PAGE_WORDS - 1};
	const volatile uint64_t *p = page_at(page);
	uint64_t seed = page_seed(page, generation[page]);

	for (size_t k = 0; k < sizeof(which) / sizeof(which[0]); k++) {
		uint64_t want = expected_word(seed, which[k]);
		uint64_t got = p[which[k]];

		if (got != want)
			report_bad(page, which[k], want, got);
	}
}

/* Hot page @j of nr_pages / 10: one in each run of ten pages, at a hashed offset. */
static size_t hot_page(size_t j)
{
	size_t page = j * 10 + mix64(j) % 10;

	return page < nr_pages ? page : nr_pages - 1;
}

struct reader {
	pthread_t thread;
	uint64_t state;
	long nr_reads;
};

static void *random_reads(void *arg)
{
	struct reader *r = arg;

	for (long k = 0; k < r->nr_reads; k++)
		verify_some(next_random(&r->state) % nr_pages);
	return NULL;
}

static void phase(const char *name, double *t)
{
	double t1 = now();

	printf("%s %.6f\n", name, t1 - *t);
	fflush(stdout);
	*t = t1;
}

int main(int argc, char **argv)
{
	long mib = argc > 1 ? strtol(argv[1], NULL, 0) : 0;
	const char *kind = argc > 2 ? argv[2] : "hashed";
	long nr_threads = argc > 3 ? strtol(argv[3], NULL, 0) : 4;
	uint64_t state = 42;
	size_t nr_hot;
	double start, t;
	void *block;

	if (mib <= 0 || nr_threads <= 0 || nr_threads > 1024 ||
	    (strcmp(kind, "hashed") && strcmp(kind, "2to1"))) {
		fprintf(stderr, "usage: %s MIB [hashed|2to1] [THREADS]\n", argv[0]);
		return 2;
	}
	compressible = !strcmp(kind, "2to1");
	nr_pages = (size_t)mib << 20 >> 12;
	nr_hot = nr_pages / 10 ? nr_pages / 10 : 1;
	generation = calloc(nr_pages, sizeof(*generation));
	block = malloc(((size_t)mib << 20) + PAGE_SIZE);
	if (!generation || !block) {
		fprintf(stderr, "workload: cannot allocate %ld MiB\n", mib);
		return 2;
	}
	pages = (uint64_t *)(((uintptr_t)block + PAGE_SIZE - 1) & ~(uintptr_t)(PAGE_SIZE - 1));

	start = t = now();
	for (size_t page = 0; page < nr_pages; page++)
		fill_page(page);
	phase("fill", &t);

	for (int pass = 0; pass < 3; pass++)
		for (size_t page = 0; page < nr_pages; page++)
			verify_page(page);
	phase("seq", &t);

	for (long k = 0; k < NR_OPS; k++)
		verify_some(next_random(&state) % nr_pages);
	phase("rand", &t);

	for (long k = 0; k < NR_OPS; k++) {
		uint64_t r = next_random(&state);

		if (r % 10 < 9)
			verify_some(hot_page((r >> 8) % nr_hot));
		else
			verify_some((r >> 8) % nr_pages);
	}
	phase("skew", &t);

	for (long k = 0; k < NR_OPS; k++) {
		size_t page = next_random(&state) % nr_pages;

		generation[page]++;
		fill_page(page);
	}
	phase("write", &t);

	for (size_t page = 0; page < nr_pages; page++)
		verify_page(page);
	phase("verify", &t);

	struct reader *readers = calloc(nr_threads, sizeof(*readers));

	if (!readers) {
		fprintf(stderr, "workload: cannot allocate %ld threads\n", nr_threads);
		return 2;
	}
	for (long n = 0; n < nr_threads; n++) {
		readers[n].state = 1000 + n;
		readers[n].nr_reads = NR_OPS / nr_threads + (n < NR_OPS % nr_threads);
		if (pthread_create(&readers[n].thread, NULL, random_reads, &readers[n])) {
			fprintf(stderr, "workload: cannot create thread %ld\n", n);
			return 2;
		}
	}
	for (long n = 0; n < nr_threads; n++)
		pthread_join(readers[n].thread, NULL);
	phase("threads", &t);

	printf("total %.6f\n", t - start);
	if (nr_bad) {
		fprintf(stderr, "workload: %ld wrong words\n", (long)nr_bad);
		return 1;
	}
	free(readers);
	free(block);
	free(generation);
	return 0;
}
