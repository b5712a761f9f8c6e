/*
 * Freed memory goes back to the OS after KMM_DECAY_MS: resident memory (RssAnon in
 * /proc/self/status) falls after a large free.
 *
 *   test_release now    (KMM_DECAY_MS=0)   RSS falls as soon as the blocks are freed
 *   test_release decay  (KMM_DECAY_MS=300) RSS stays up right after the free, which is
 *                                          the point of the decay, then falls once the
 *                                          blocks have been free for 300 ms
 *   test_release pcp    (KMM_DECAY_MS=100) 256 MiB of single pages freed in random order:
 *                                          pages left on the per-CPU list must not pin
 *                                          their 2 MiB blocks
 *   test_release zones  (KMM_DECAY_MS=100, KMM_NUMA_FAKE=2) memory freed on node 0 goes
 *                                          back while the program runs on node 1 only
 */
#include "../buddy_test.h"

#include <sched.h>
#include <stdint.h>
#include <time.h>

#define NR_BLOCKS 64 /* 64 x 4 MiB = 256 MiB */
#define MIB_KB    1024L

static void *blocks[NR_BLOCKS];

static long rss_anon_mib(void)
{
	return proc_status_kb("RssAnon:") / MIB_KB;
}

static void allocate_and_touch(void)
{
	for (int i = 0; i < NR_BLOCKS; i++) {
		blocks[i] = kmm_alloc_pages(MAX_PAGE_ORDER);
		CHECK(blocks[i] != NULL, "block %d: %s", i, strerror(errno));
		memset(blocks[i], 0xab, KMM_PAGE_SIZE << MAX_PAGE_ORDER);
	}
}

static void free_all(void)
{
	for (int i = 0; i < NR_BLOCKS; i++)
		kmm_free_pages(blocks[i], MAX_PAGE_ORDER);
}

/*
 * Allocate/free pairs of one page: they never leave the per-CPU list (no refill, no
 * flush), so only the list's operation ticks can notice the reporting deadline.
 */
static void small_page_churn(void)
{
	for (int i = 0; i < 2 * PCP_POLL_TICKS; i++)
		kmm_free_pages(kmm_alloc_pages(0), 0);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Keep calling the allocator for @ms, the way a busy program does. */
static void churn_for(double ms)
{
	double end = now_ms() + ms;

	while (now_ms() < end)
		small_page_churn();
}

/* 256 MiB of single pages, touched, freed in random order. */
static void scattered_pages(void)
{
	enum { N = 65536 };
	void **pages = malloc(N * sizeof(void *));
	uint64_t seed = tests_seed();

	for (int i = 0; i < N; i++) {
		pages[i] = kmm_alloc_pages(0);
		CHECK(pages[i] != NULL, "page %d: %s", i, strerror(errno));
		memset(pages[i], 1, KMM_PAGE_SIZE);
	}
	for (int i = N - 1; i > 0; i--) {
		int j = (int)(rnd_next(&seed) % (uint64_t)(i + 1));
		void *t = pages[i];

		pages[i] = pages[j];
		pages[j] = t;
	}
	for (int i = 0; i < N; i++)
		kmm_free_pages(pages[i], 0);
	free(pages);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void test_scattered(void)
{
	long base = rss_anon_mib(), touched, later;

	scattered_pages();
	touched = rss_anon_mib();
	churn_for(400); /* four decay periods */
	later = rss_anon_mib();
	printf("RssAnon: %ld MiB before, %ld after freeing 256 MiB of pages, %ld after 400 ms\n",
	       base, touched, later);
	CHECK(later - base <= 16,
	      "pages freed in random order: expected RSS back near %ld MiB after 400 ms, got "
	      "%ld MiB",
	      base, later);
}

static void test_other_zone(void)
{
	long base, later;

	CHECK_EQ(2, nr_online_nodes);
	pin_to_cpu(0);
	base = rss_anon_mib();
	allocate_and_touch();
	CHECK_EQ(0, kmm_page_to_nid(blocks[0]));
	free_all();
	pin_to_cpu(1);
	churn_for(400);
	later = rss_anon_mib();
	printf("RssAnon: %ld MiB before, %ld after 400 ms on the other node\n", base, later);
	CHECK(later - base <= 16,
	      "memory freed on node 0: expected it given back while the program runs on node 1, "
	      "RSS %ld MiB (was %ld)",
	      later, base);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "now";
	bool lazy = strcmp(mode, "decay") == 0;
	long base, touched, after_free, later;
	void *p;

	CHECK(kmm_ensure_init(), "kmm did not initialize");
	if (strcmp(mode, "pcp") == 0) {
		pin_to_cpu(0);
		test_scattered();
		printf("release (pcp): passed\n");
		return 0;
	}
	if (strcmp(mode, "zones") == 0) {
		test_other_zone();
		printf("release (zones): passed\n");
		return 0;
	}
	pin_to_cpu(0);
	base = rss_anon_mib();
	allocate_and_touch();
	touched = rss_anon_mib();
	CHECK(touched - base >= 250,
	      "touching 256 MiB: expected RSS to grow by >= 250 MiB, got %ld -> %ld MiB", base,
	      touched);
	free_all();
	after_free = rss_anon_mib();
	printf("RssAnon: %ld MiB before, %ld touched, %ld right after the free\n", base, touched,
	       after_free);
	if (!lazy) {
		CHECK(after_free - base <= 16,
		      "KMM_DECAY_MS=0: expected RSS back near %ld MiB right after the free, got "
		      "%ld MiB",
		      base, after_free);
	} else {
		CHECK(after_free - base >= 200,
		      "KMM_DECAY_MS=300: expected RSS to stay up right after the free, got %ld "
		      "MiB (was %ld)",
		      after_free, touched);
		/* Prime this CPU's list, so the churn after the sleep never refills it. */
		small_page_churn();
		sleep_ms(400);
		/* Small-page churn alone runs the overdue reporting. */
		small_page_churn();
		later = rss_anon_mib();
		printf("RssAnon: %ld MiB after 400 ms and some order-0 churn\n", later);
		CHECK(later - base <= 16,
		      "KMM_DECAY_MS=300: expected RSS back near %ld MiB after the decay, got %ld "
		      "MiB",
		      base, later);
	}
	/* The memory is still usable after release. */
	p = kmm_alloc_pages(MAX_PAGE_ORDER);
	CHECK(p != NULL, "allocation after release: %s", strerror(errno));
	check_zones_consistent();
	kmm_free_pages(p, MAX_PAGE_ORDER);
	printf("release (%s): passed\n", mode);
	return 0;
}
