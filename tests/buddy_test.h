/*
 * Helpers for tests of the page allocator's internals.
 */
#ifndef KMM_TESTS_BUDDY_TEST_H
#define KMM_TESTS_BUDDY_TEST_H

#include "test.h"

#include <kmm/kmm.h>
#include <sched.h>

#include "buddy/mmzone.h"
#include "buddy/page_alloc.h"
#include "buddy/verify.h"
#include "init.h"

/* Run on @cpu only: which per-CPU list and which node a test exercises stays fixed. */
static inline void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	CHECK(sched_setaffinity(0, sizeof(set), &set) == 0, "pin to cpu %d: %s", cpu,
	      strerror(errno));
}

static inline void check_zones_consistent(void)
{
	struct zone *zone;
	char err[256];

	for_each_zone(zone, nid)
		CHECK(zone_verify(zone, err, sizeof(err)) == 0, "zone_verify: %s", err);
}

static inline unsigned long total_zone_pages(void)
{
	struct zone *zone;
	unsigned long pages = 0;

	for_each_zone(zone, nid)
		pages += zone->spanned_pages;
	return pages;
}

static inline unsigned long available_pages(void)
{
	struct zone *zone;
	unsigned long pages = 0;

	for_each_zone(zone, nid)
		pages += zone_available_pages(zone);
	return pages;
}

static inline unsigned long initialized_pages(const struct zone *zone)
{
	return zone->present_pages;
}

/* After a drain with nothing allocated, every zone holds only max-order blocks. */
static inline void check_fully_merged(void)
{
	struct zone *zone;

	drain_all_pages();
	for_each_zone(zone, nid) {
		for (int order = 0; order < MAX_PAGE_ORDER; order++)
			CHECK(zone->free_area[order].nr_free == 0,
			      "zone %d: expected no free blocks of order %d after freeing "
			      "everything, got %lu",
			      nid, order, zone->free_area[order].nr_free);
		CHECK_EQ(initialized_pages(zone), zone->nr_free_pages);
		CHECK_EQ(initialized_pages(zone) / MAX_ORDER_NR_PAGES,
		         zone->free_area[MAX_PAGE_ORDER].nr_free);
	}
	CHECK_EQ(total_zone_pages(), available_pages());
	check_zones_consistent();
}

/* xorshift64*: reproducible random numbers from a printed seed. */
static inline uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static inline unsigned long tests_seed(void)
{
	const char *s = getenv("KMMTEST_SEED");

	return s ? strtoul(s, NULL, 0) : 0x9e3779b97f4a7c15UL;
}

#endif /* KMM_TESTS_BUDDY_TEST_H */
