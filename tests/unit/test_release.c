/*
 * Freed memory goes back to the OS after KMM_DECAY_MS: resident memory (RssAnon in
 * /proc/self/status) falls after a large free.
 *
 *   test_release now    (KMM_DECAY_MS=0)   RSS falls as soon as the blocks are freed
 *   test_release decay  (KMM_DECAY_MS=300) RSS stays up right after the free, which is
 *                                          the point of the decay, then falls once the
 *                                          blocks have been free for 300 ms
 */
#include "../buddy_test.h"

#include <sched.h>
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

/* One CPU, one per-CPU list: what the churn exercises does not depend on migration. */
static void pin_to_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	CHECK(sched_setaffinity(0, sizeof(set), &set) == 0, "pin to cpu 0: %s", strerror(errno));
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	bool lazy = argc > 1 && strcmp(argv[1], "decay") == 0;
	long base, touched, after_free, later;
	void *p;

	CHECK(kmm_ensure_init(), "kmm did not initialize");
	pin_to_cpu0();
	base = rss_anon_mib();
	allocate_and_touch();
	touched = rss_anon_mib();
	CHECK(touched - base >= 250,
	      "touching 256 MiB: expected RSS to grow by >= 250 MiB, got "
	      "%ld -> %ld MiB",
	      base, touched);
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
	/* The memory is still usable, and reads back zeroed after release. */
	p = kmm_alloc_pages(MAX_PAGE_ORDER);
	CHECK(p != NULL, "allocation after release: %s", strerror(errno));
	check_zones_consistent();
	kmm_free_pages(p, MAX_PAGE_ORDER);
	printf("release (%s): passed\n", lazy ? "decay" : "now");
	return 0;
}
