/*
 * Exhaustion: every page of the zone can be allocated, the next allocation fails with
 * ENOMEM (no crash, no hang), and after freeing everything a max-order block can be
 * allocated again. Pages held on per-CPU lists must not make allocation fail early.
 * Run with KMM_NUMA_FAKE=1 KMM_ZONE_SIZE=16M.
 */
#include "../buddy_test.h"

static void **pages;

static size_t allocate_all(unsigned int order)
{
	size_t n = 0;

	for (;;) {
		void *p;

		errno = 0;
		p = kmm_alloc_pages(order);
		if (!p)
			break;
		pages[n++] = p;
	}
	CHECK(errno == ENOMEM, "order %u: exhaustion should set ENOMEM, got %d", order, errno);
	return n;
}

/*
 * Leave a few order-0 pages on the per-CPU list (fewer than its high mark, so they stay
 * there). They split max-order blocks, so a higher-order exhaustion only reaches every
 * page if the allocator drains the lists before it gives up.
 */
static void park_pages_on_pcp(void)
{
	void *p[4];
	int parked = 0;

	for (int i = 0; i < 4; i++)
		p[i] = kmm_alloc_pages(0);
	for (int i = 0; i < 4; i++)
		kmm_free_pages(p[i], 0);
	for (unsigned int cpu = 0; cpu < nr_cpu_ids; cpu++)
		parked += node_zones[0]->per_cpu_pageset[cpu].count;
	CHECK(parked > 0, "expected pages parked on a per-CPU list, got %d", parked);
}

int main(void)
{
	unsigned long total;
	size_t n;
	void *big;

	CHECK(kmm_ensure_init(), "kmm did not initialize");
	total = total_zone_pages();
	CHECK_EQ(4096, total);
	pages = calloc(total, sizeof(void *));

	for (unsigned int order = 0; order <= MAX_PAGE_ORDER; order += 3) {
		if (order > 0)
			park_pages_on_pcp();
		n = allocate_all(order);
		CHECK(n == total >> order, "order %u: expected %lu blocks before ENOMEM, got %zu",
		      order, total >> order, n);
		CHECK_EQ(0, available_pages());
		/* Failing again is still clean. */
		CHECK(kmm_alloc_pages(0) == NULL && errno == ENOMEM, "expected a second ENOMEM");
		for (size_t i = 0; i < n; i++)
			kmm_free_pages(pages[i], order);
		check_fully_merged();
	}
	big = kmm_alloc_pages(MAX_PAGE_ORDER);
	CHECK(big != NULL, "a max-order block after freeing everything: %s", strerror(errno));
	kmm_free_pages(big, MAX_PAGE_ORDER);
	printf("exhaustion: passed\n");
	return 0;
}
