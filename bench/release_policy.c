/*
 * What the release policy costs and buys, measured: run it under different
 * KMM_DECAY_MS values.
 *
 * 1. reuse: 30 cycles of allocate 256 MiB (64 max-order blocks), touch every 4 KiB
 *    page, free. Memory given back at once must be faulted in again on every cycle.
 * 2. timeline: allocate and touch 256 MiB, free it, then for 2 s keep the program busy
 *    with small-page churn and sample RssAnon every 100 ms.
 */
#define _GNU_SOURCE
#include <kmm/kmm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define NR_BLOCKS 64
#define CYCLES    30

static void *blocks[NR_BLOCKS];

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static long rss_anon_mib(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "RssAnon:", 8) == 0)
			kb = strtol(line + 8, NULL, 10);
	if (f)
		fclose(f);
	return kb / 1024;
}

static void allocate_and_touch(void)
{
	for (int i = 0; i < NR_BLOCKS; i++) {
		char *p = kmm_alloc_pages(KMM_MAX_PAGE_ORDER);

		if (!p) {
			perror("kmm_alloc_pages");
			exit(1);
		}
		for (size_t off = 0; off < (KMM_PAGE_SIZE << KMM_MAX_PAGE_ORDER); off += 4096)
			p[off] = 1;
		blocks[i] = p;
	}
}

static void free_all(void)
{
	for (int i = 0; i < NR_BLOCKS; i++)
		kmm_free_pages(blocks[i], KMM_MAX_PAGE_ORDER);
}

static void small_page_churn(void)
{
	void *p[32];

	for (int i = 0; i < 32; i++)
		p[i] = kmm_alloc_pages(0);
	for (int i = 0; i < 32; i++)
		kmm_free_pages(p[i], 0);
}

int main(void)
{
	const char *decay = getenv("KMM_DECAY_MS");
	double t0, elapsed;
	long faults;

	/* Warm up once so the first cycle's descriptor initialization is not counted. */
	allocate_and_touch();
	free_all();

	t0 = now_ms();
	faults = minor_faults();
	for (int c = 0; c < CYCLES; c++) {
		allocate_and_touch();
		free_all();
	}
	elapsed = now_ms() - t0;
	faults = minor_faults() - faults;
	printf("KMM_DECAY_MS=%s reuse: %.2f ms per 256 MiB cycle, %.0f page faults per cycle\n",
	       decay ? decay : "1000 (default)", elapsed / CYCLES, (double)faults / CYCLES);

	allocate_and_touch();
	free_all();
	t0 = now_ms();
	printf("KMM_DECAY_MS=%s timeline (ms after the free: RssAnon MiB):",
	       decay ? decay : "1000");
	for (int i = 0; i <= 20; i++) {
		while (now_ms() - t0 < i * 100.0)
			small_page_churn();
		printf(" %d:%ld", i * 100, rss_anon_mib());
	}
	printf("\n");
	return 0;
}
