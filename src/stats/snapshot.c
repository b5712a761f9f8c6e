/*
 * One snapshot of every counter; see stats.h.
 *
 * Nothing here takes a lock that an interrupted thread might hold: zone and per-CPU
 * fields are read as they are (each word is read whole; a dump taken while other
 * threads allocate is a moment's picture, as /proc is), and the slab thread list is
 * only tried. Memory that is read never goes away: zones, mem_map and the caches are
 * never unmapped.
 */
#include "stats.h"

#include <string.h>

#include "../base/os.h"

uint64_t kmm_stats_start_ms;

static void add_events(struct page_alloc_events *sum, const struct page_alloc_events *e)
{
	for (int o = 0; o < NR_PAGE_ORDERS; o++) {
		sum->pgalloc[o] += READ_ONCE(e->pgalloc[o]);
		sum->pgfree[o] += READ_ONCE(e->pgfree[o]);
	}
	sum->pcp_refill += READ_ONCE(e->pcp_refill);
	sum->pcp_flush += READ_ONCE(e->pcp_flush);
	sum->pgreported += READ_ONCE(e->pgreported);
}

static void collect_zone(struct zone_stats *zs, struct zone *zone)
{
	unsigned long present = READ_ONCE(zone->present_pages);
	unsigned long absent = zone->spanned_pages - present;

	zs->present = true;
	zs->start_pfn = zone->zone_start_pfn;
	zs->spanned_pages = zone->spanned_pages;
	for (int o = 0; o < NR_PAGE_ORDERS; o++)
		zs->free_blocks[o] = READ_ONCE(zone->free_area[o].nr_free);
	zs->nr_free_pages = READ_ONCE(zone->nr_free_pages);
	/*
	 * The node's memory in sections not hot-added (yet, or any more) is free memory
	 * never touched: counted as free max-order blocks, so MemTotal stays the node's
	 * memory and MemFree what the program could still have.
	 */
	zs->present_pages = present;
	zs->free_blocks[MAX_PAGE_ORDER] += absent >> MAX_PAGE_ORDER;
	zs->nr_free_pages += absent;
	zs->nr_reported_pages = READ_ONCE(zone->nr_reported_pages) + absent;
	for (int e = 0; e < NR_SECTION_EVENTS; e++)
		zs->nr_section_events[e] = READ_ONCE(zone->nr_section_events[e]);
	zs->nr_in_transit = (unsigned long)READ_ONCE(zone->nr_pages_in_transit);
	zs->hugetlb_pages = zone->hugetlb_end_pfn - zone->zone_start_pfn;
	add_events(&zs->events, &zone->events);
	for (unsigned int cpu = 0; cpu < nr_cpu_ids; cpu++) {
		struct per_cpu_pages *pcp = &zone->per_cpu_pageset[cpu];

		zs->nr_pcp_pages += (unsigned long)READ_ONCE(pcp->count);
		add_events(&zs->events, &pcp->events);
		for (int o = 0; o < NR_PCP_LISTS; o++) {
			zs->pcp_alloc += READ_ONCE(pcp->events.pgalloc[o]);
			zs->pcp_free += READ_ONCE(pcp->events.pgfree[o]);
		}
	}
	zs->numa_miss = READ_ONCE(zone->numa_miss);
	zs->numa_foreign = READ_ONCE(zone->numa_foreign);
}

/* The second field of /proc/self/statm: resident pages. */
static unsigned long resident_kb(void)
{
	char buf[128];
	const char *p = buf;
	unsigned long pages = 0;

	if (os_read_file("/proc/self/statm", buf, sizeof(buf)) <= 0)
		return 0;
	while (*p && *p != ' ')
		p++;
	for (p++; *p >= '0' && *p <= '9'; p++)
		pages = pages * 10 + (unsigned long)(*p - '0');
	return pages << (PAGE_SHIFT - 10);
}

void kmm_stats_collect(struct kmm_stats *st, const char *reason)
{
	struct zone *zone;

	memset(st, 0, sizeof(*st));
	st->pid = os_getpid();
	st->reason = reason;
	st->time_ms = os_wall_clock_ms();
	st->uptime_ms = os_now_ms() - kmm_stats_start_ms;
	st->rss_kb = resident_kb();
	for_each_zone(zone, nid)
		collect_zone(&st->zone[nid], zone);
	st->slab_complete = kmem_cache_collect_stats(st->slab);
	for (int i = 0; i < KMM_MAX_CACHES; i++) {
		struct kmem_cache *s = &kmem_caches[i];

		if (!READ_ONCE(s->in_use))
			continue;
		for_each_zone(zone, nid)
			st->zone[nid].nr_slab_pages += READ_ONCE(get_node(s, nid)->nr_slabs)
			                               << s->order;
	}
	vmalloc_collect_info(&st->vmalloc);
	uffd_collect_events(&st->uffd);
	reclaim_collect(&st->reclaim);
}
