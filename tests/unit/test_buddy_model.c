/*
 * Random allocate/free sequences checked against a model after every step: no two live
 * blocks overlap, every block is aligned to its size and lies inside one zone, the
 * allocator's free-page count equals the model's, and contents survive.
 * Run with KMM_NUMA_FAKE=2 KMM_ZONE_SIZE=16M (two zones, 8192 pages).
 */
#include "../buddy_test.h"

#include <stdint.h>

#include "buddy/page.h"

#define STEPS    200000
#define MAX_LIVE 4096

struct block {
	uint64_t *addr;
	unsigned int order;
	uint64_t tag;
};

static struct block live[MAX_LIVE];
static size_t nr_live;
static unsigned long model_allocated;
static uint8_t *pfn_used; /* the model's map of allocated frames */

static unsigned int random_order(uint64_t *seed)
{
	uint64_t r = rnd_next(seed) % 100;

	if (r < 50)
		return 0;
	if (r < 80)
		return 1 + (unsigned int)(r % 3); /* per-CPU list orders */
	return (unsigned int)(rnd_next(seed) % (MAX_PAGE_ORDER + 1));
}

static void check_new_block(void *p, unsigned int order)
{
	unsigned long pfn = virt_to_pfn(p), n = 1UL << order;
	int nid = kmm_page_to_nid(p);

	CHECK(((uintptr_t)p & ((KMM_PAGE_SIZE << order) - 1)) == 0,
	      "order %u block %p not aligned to its size", order, p);
	CHECK(nid >= 0 && zone_spans_pfn(node_zones[nid], pfn) &&
	              zone_spans_pfn(node_zones[nid], pfn + n - 1),
	      "order %u block %p (node %d) not inside one zone", order, p, nid);
	for (unsigned long i = 0; i < n; i++)
		CHECK(!pfn_used[pfn + i], "order %u block %p overlaps a live block at pfn %lu",
		      order, p, pfn + i);
	memset(pfn_used + pfn, 1, n);
}

/*
 * An allocation of @order failed: after draining the per-CPU lists, no zone may have a
 * free block of that order or larger, nor a max-order block it has not brought into
 * service yet. (How full memory is says nothing: fragmentation decides.)
 */
static void check_no_block_of_order(unsigned int order)
{
	struct zone *zone;

	drain_all_pages();
	for_each_zone(zone, nid) {
		CHECK(zone->present_pages == zone->spanned_pages,
		      "order %u failed while zone %d still has absent sections (%lu of %lu pages "
		      "present)",
		      order, nid, zone->present_pages, zone->spanned_pages);
		for (unsigned int o = order; o <= MAX_PAGE_ORDER; o++)
			CHECK(zone->free_area[o].nr_free == 0,
			      "order %u failed while zone %d has %lu free blocks of order %u",
			      order, nid, zone->free_area[o].nr_free, o);
	}
}

static void do_alloc(uint64_t *seed, uint64_t step)
{
	unsigned int order = random_order(seed);
	uint64_t *p;

	errno = 0;
	p = kmm_alloc_pages(order);
	if (!p) {
		CHECK(errno == ENOMEM, "failed order %u allocation: expected ENOMEM, got %d", order,
		      errno);
		check_no_block_of_order(order);
		return;
	}
	check_new_block(p, order);
	live[nr_live] = (struct block){p, order, step * 64 + order};
	p[0] = live[nr_live].tag;
	p[(KMM_PAGE_SIZE << order) / 8 - 1] = ~live[nr_live].tag;
	nr_live++;
	model_allocated += 1UL << order;
}

static void do_free(uint64_t *seed)
{
	size_t i = rnd_next(seed) % nr_live;
	struct block b = live[i];
	size_t words = (KMM_PAGE_SIZE << b.order) / 8;

	CHECK(b.addr[0] == b.tag && b.addr[words - 1] == ~b.tag,
	      "block %p (order %u) was overwritten: expected tag %lx, got %lx", (void *)b.addr,
	      b.order, (unsigned long)b.tag, (unsigned long)b.addr[0]);
	memset(pfn_used + virt_to_pfn(b.addr), 0, 1UL << b.order);
	kmm_free_pages(b.addr, b.order);
	live[i] = live[--nr_live];
	model_allocated -= 1UL << b.order;
}

int main(void)
{
	uint64_t seed = tests_seed();
	unsigned long total;

	CHECK(kmm_ensure_init(), "kmm did not initialize");
	total = total_zone_pages();
	pfn_used = calloc(kmm_max_pfn, 1);
	printf("model: %lu pages in %d zones, seed %#lx\n", total, nr_online_nodes,
	       (unsigned long)seed);
	for (uint64_t step = 0; step < STEPS; step++) {
		/* Drift between filling up (and hitting ENOMEM) and draining down. */
		bool filling = (step / 20000) % 2 == 0;
		uint64_t r = rnd_next(&seed) % 100;

		if (nr_live == 0 || (nr_live < MAX_LIVE && r < (filling ? 65u : 35u)))
			do_alloc(&seed, step);
		else
			do_free(&seed);
		CHECK(available_pages() == total - model_allocated,
		      "step %lu: allocator has %lu free pages, model expects %lu",
		      (unsigned long)step, available_pages(), total - model_allocated);
		if (step % 10000 == 0)
			check_zones_consistent();
	}
	while (nr_live)
		do_free(&seed);
	check_fully_merged();
	printf("model: %d steps passed\n", STEPS);
	return 0;
}
