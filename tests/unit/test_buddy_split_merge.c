/*
 * Split on allocation and merge on free, at every order, on a single zone.
 * Run with KMM_NUMA_FAKE=1 KMM_ZONE_SIZE=64M.
 */
#include "../buddy_test.h"

#include <stdint.h>

#include "buddy/page.h"

/* One block of @order taken from a zone of max-order blocks leaves one free block at
 * each order from @order up to MAX_PAGE_ORDER - 1: the halves expand() put back. */
static void test_split_shape(unsigned int order)
{
	struct zone *zone = node_zones[0];
	void *p;

	drain_all_pages();
	p = kmm_alloc_pages(order);
	CHECK(p != NULL, "order %u allocation failed: %s", order, strerror(errno));
	CHECK(((uintptr_t)p & ((KMM_PAGE_SIZE << order) - 1)) == 0,
	      "order %u block %p not aligned to its size", order, p);
	drain_all_pages();
	for (unsigned int j = 0; j < MAX_PAGE_ORDER; j++) {
		unsigned long expected = j >= order ? 1 : 0;

		CHECK(zone->free_area[j].nr_free == expected,
		      "after allocating order %u: expected %lu free blocks of order %u, got %lu",
		      order, expected, j, zone->free_area[j].nr_free);
	}
	CHECK_EQ(initialized_pages(zone) / MAX_ORDER_NR_PAGES - 1,
	         zone->free_area[MAX_PAGE_ORDER].nr_free);
	CHECK_EQ(initialized_pages(zone) - (1UL << order), zone->nr_free_pages);
	check_zones_consistent();

	kmm_free_pages(p, order);
	check_fully_merged();
}

static void shuffle(void **v, size_t n, uint64_t *seed)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rnd_next(seed) % (i + 1);
		void *t = v[i];

		v[i] = v[j];
		v[j] = t;
	}
}

/* Fill two max-order blocks with order-@order blocks, free them in random order. */
static void test_merge_back(unsigned int order, uint64_t *seed)
{
	size_t n = 2 * (MAX_ORDER_NR_PAGES >> order);
	void **blocks = calloc(n, sizeof(void *));

	for (size_t i = 0; i < n; i++) {
		blocks[i] = kmm_alloc_pages(order);
		CHECK(blocks[i] != NULL, "order %u block %zu: %s", order, i, strerror(errno));
		memset(blocks[i], (int)i, KMM_PAGE_SIZE << order);
	}
	shuffle(blocks, n, seed);
	for (size_t i = 0; i < n; i++) {
		kmm_free_pages(blocks[i], order);
		if (i == n / 2)
			check_zones_consistent();
	}
	check_fully_merged();
	free(blocks);
}

/*
 * Growing a block in place takes the free buddies above it; a taken buddy stops it and
 * changes nothing.
 */
static void test_grow_in_place(void)
{
	void *p, *q;

	drain_all_pages();
	p = kmm_alloc_pages(2);
	drain_all_pages();
	memset(p, 0x7e, KMM_PAGE_SIZE << 2);
	CHECK(grow_pages_in_place(virt_to_page(p), 2, 6), "order 2 -> 6 with free buddies failed");
	CHECK(((unsigned char *)p)[0] == 0x7e, "growing in place must keep the data");
	memset(p, 0x11, KMM_PAGE_SIZE << 6);
	check_zones_consistent();
	/* The next order-6 block is p's buddy at order 6: growing to 7 must fail now. */
	q = kmm_alloc_pages_node(0, 6);
	drain_all_pages();
	if ((char *)q == (char *)p + (KMM_PAGE_SIZE << 6))
		CHECK(!grow_pages_in_place(virt_to_page(p), 6, 7),
		      "order 6 -> 7 must fail while the buddy is allocated");
	check_zones_consistent();
	kmm_free_pages(q, 6);
	kmm_free_pages(p, 6); /* freed with its new order */
	check_fully_merged();
}

int main(void)
{
	uint64_t seed = tests_seed();

	CHECK(kmm_ensure_init(), "kmm did not initialize");
	CHECK(node_zones[0] != NULL && node_zones[1] == NULL, "expected one zone");
	for (unsigned int order = 0; order <= MAX_PAGE_ORDER; order++)
		test_split_shape(order);
	for (unsigned int order = 0; order <= MAX_PAGE_ORDER; order++)
		test_merge_back(order, &seed);
	test_grow_in_place();
	printf("buddy split/merge: all orders passed\n");
	return 0;
}
