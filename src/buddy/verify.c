/*
 * Zone consistency walker; see verify.h.
 */
#include "verify.h"

#include <stdint.h>

#include "../base/printk.h"

struct walk {
	struct zone *zone;
	uint8_t *seen; /* one bit per initialized pfn */
	char *err;
	size_t errlen;
};

static int fail(struct walk *w, const char *what, const struct page *page, unsigned int order)
{
	kmm_snprintf(w->err, w->errlen, "zone %d: %s (pfn %lu, order %u, flags %lx)", w->zone->node,
	             what, page ? page_to_pfn(page) : 0UL, order, page ? page->flags : 0UL);
	return -1;
}

/* Checks a block's placement and marks its frames, failing on any overlap. */
static int claim_block(struct walk *w, const struct page *page, unsigned int order)
{
	unsigned long pfn = page_to_pfn(page), start = w->zone->zone_start_pfn;

	if (!IS_ALIGNED(pfn, 1UL << order))
		return fail(w, "block not aligned to its order", page, order);
	if (pfn < start || pfn + (1UL << order) > zone_end_pfn(w->zone))
		return fail(w, "block outside the zone's span", page, order);
	if (!pfn_valid(pfn) ||
	    pfn_to_section_nr(pfn) != pfn_to_section_nr(pfn + (1UL << order) - 1))
		return fail(w, "block not inside one online section", page, order);
	for (unsigned long i = pfn - start; i < pfn - start + (1UL << order); i++) {
		if (w->seen[i / 8] & (1u << (i % 8)))
			return fail(w, "block overlaps another free block", page, order);
		w->seen[i / 8] |= (uint8_t)(1u << (i % 8));
	}
	return 0;
}

static int walk_free_area(struct walk *w, unsigned int order, unsigned long *pages,
                          unsigned long *reported)
{
	struct free_area *area = &w->zone->free_area[order];
	unsigned long blocks = 0;
	bool in_reported_tail = false;
	struct page *page;

	list_for_each_entry(page, &area->free_list, buddy_list) {
		unsigned long buddy_pfn = page_to_pfn(page) ^ (1UL << order);

		if (!PageBuddy(page) || page->order != order)
			return fail(w, "free-list block without PG_buddy or with a wrong order",
			            page, order);
		if (page_ref_count(page) != 0)
			return fail(w, "free block with a reference", page, order);
		if (order < MAX_PAGE_ORDER && PageBuddy(pfn_to_page(buddy_pfn)) &&
		    pfn_to_page(buddy_pfn)->order == order)
			return fail(w, "free block whose buddy is free too (missed merge)", page,
			            order);
		if (PageReported(page)) {
			in_reported_tail = true;
			*reported += 1UL << order;
		} else if (in_reported_tail) {
			return fail(w, "resident block behind a reported one", page, order);
		}
		if (claim_block(w, page, order))
			return -1;
		blocks++;
		*pages += 1UL << order;
	}
	if (blocks != area->nr_free)
		return fail(w, "free_area nr_free does not match its list", NULL, order);
	return 0;
}

static int walk_pcp(struct walk *w, struct per_cpu_pages *pcp)
{
	unsigned long pages = 0;
	struct page *page;

	for (unsigned int order = 0; order < NR_PCP_LISTS; order++) {
		list_for_each_entry(page, &pcp->lists[order], buddy_list) {
			if (PageBuddy(page) || page_ref_count(page) != 0)
				return fail(w, "per-CPU page that is buddy or referenced", page,
				            order);
			if (claim_block(w, page, order))
				return -1;
			pages += 1UL << order;
		}
	}
	if (pages != (unsigned long)pcp->count)
		return fail(w, "pcp count does not match its lists", NULL, 0);
	return 0;
}

/* present_pages counts the online sections; none of the zone's absent ones is below the hint. */
static int walk_sections(struct walk *w)
{
	struct zone *zone = w->zone;
	unsigned long online = 0;

	for (unsigned long nr = pfn_to_section_nr(zone->zone_start_pfn);
	     nr < pfn_to_section_nr(zone_end_pfn(zone)); nr++) {
		if (mem_section[nr].nid != zone->node)
			return fail(w, "section of the zone's span with another node", NULL, 0);
		if (mem_section[nr].state == SECTION_ONLINE)
			online++;
		else if (mem_section[nr].state == SECTION_ABSENT && nr < zone->section_hint)
			return fail(w, "absent section below the zone's section hint", NULL, 0);
	}
	if (online * PAGES_PER_SECTION != zone->present_pages)
		return fail(w, "present_pages does not match the online sections", NULL, 0);
	return 0;
}

static int walk_zone(struct walk *w)
{
	struct zone *zone = w->zone;
	unsigned long pages = 0, reported = 0;

	for (unsigned int order = 0; order < NR_PAGE_ORDERS; order++)
		if (walk_free_area(w, order, &pages, &reported))
			return -1;
	if (pages != zone->nr_free_pages)
		return fail(w, "nr_free_pages does not match the free lists", NULL, 0);
	if (reported != zone->nr_reported_pages)
		return fail(w, "nr_reported_pages does not match the free lists", NULL, 0);
	for (unsigned int cpu = 0; cpu < nr_cpu_ids; cpu++)
		if (walk_pcp(w, &zone->per_cpu_pageset[cpu]))
			return -1;
	return walk_sections(w);
}

int zone_verify(struct zone *zone, char *err, size_t errlen)
{
	struct walk w = {.zone = zone, .err = err, .errlen = errlen};
	size_t bitmap_bytes;
	int ret;

	kmm_lock(zone->report_lock);
	for (unsigned int cpu = 0; cpu < nr_cpu_ids; cpu++)
		kmm_lock(zone->per_cpu_pageset[cpu].lock);
	kmm_lock(zone->lock);

	bitmap_bytes = zone->spanned_pages / 8 + 1;
	w.seen = os_map(bitmap_bytes);
	ret = w.seen ? walk_zone(&w) : fail(&w, "no memory for the walk", NULL, 0);
	if (w.seen)
		os_unmap(w.seen, bitmap_bytes);

	kmm_unlock(zone->lock);
	for (unsigned int cpu = 0; cpu < nr_cpu_ids; cpu++)
		kmm_unlock(zone->per_cpu_pageset[cpu].lock);
	kmm_unlock(zone->report_lock);
	if (ret == 0 && errlen)
		err[0] = '\0';
	return ret;
}
