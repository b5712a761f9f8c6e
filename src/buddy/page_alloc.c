/*
 * The buddy allocator with per-CPU page lists (the kernel's mm/page_alloc.c).
 *
 * Invariants:
 *  - a free block of order n starts at a pfn that is a multiple of 2^n, its head has
 *    PG_buddy and page->order == n, and it sits on zone->free_area[n].free_list;
 *  - two free buddies of the same order never both sit on the free lists: freeing one
 *    merges it with the other (__free_one_page), so after every page is freed a zone
 *    holds only max-order blocks;
 *  - a block's buddy always lies in the same max-order block, and zones grow and shrink
 *    in whole sections of max-order blocks (sparse.c), so the buddy of a block is in the
 *    same section and online with it;
 *  - pages on per-CPU lists have neither PG_buddy nor a reference;
 *  - the head of an allocated block has _refcount 1 and page->order set.
 *
 * Lock order: see mmzone.h. The allocation and free fast paths take only the local
 * pcp->lock, with a trylock: a busy pcp sends the caller to the zone lock instead. No
 * path waits for zone->lock while it holds a pcp->lock: with more threads than CPUs a
 * waiter can sleep or be preempted there, and it would shut its CPU's list for all the
 * other threads on that CPU. Refills and flushes move pages through a local list.
 */
#include "page_alloc.h"

#include <errno.h>
#include <string.h>

#include "../base/options.h"
#include "internal.h"
#include "mm_init.h"
#include "sparse.h"
#include "topology.h"

static inline struct per_cpu_pages *this_cpu_pcp(struct zone *zone)
{
	unsigned int cpu = os_current_cpu();

	return &zone->per_cpu_pageset[cpu < nr_cpu_ids ? cpu : 0];
}

static inline void set_buddy_order(struct page *page, unsigned int order)
{
	page->order = order;
	SetPageBuddy(page);
}

static inline bool page_is_buddy(const struct page *buddy, unsigned int order)
{
	return PageBuddy(buddy) && buddy->order == order;
}

static inline bool is_reportable(const struct zone *zone, unsigned long pfn, unsigned int order)
{
	return order >= PAGE_REPORTING_ORDER && pfn >= zone->hugetlb_end_pfn;
}

static void add_to_free_list(struct page *page, struct zone *zone, unsigned int order,
                             bool reported)
{
	struct free_area *area = &zone->free_area[order];

	set_buddy_order(page, order);
	if (reported) {
		SetPageReported(page);
		list_add_tail(&page->buddy_list, &area->free_list);
		zone->nr_reported_pages += 1UL << order;
	} else {
		list_add(&page->buddy_list, &area->free_list);
	}
	area->nr_free++;
	zone->nr_free_pages += 1UL << order;
}

void del_page_from_free_list(struct page *page, struct zone *zone, unsigned int order)
{
	if (PageReported(page)) {
		ClearPageReported(page);
		zone->nr_reported_pages -= 1UL << order;
	}
	list_del(&page->buddy_list);
	ClearPageBuddy(page);
	zone->free_area[order].nr_free--;
	zone->nr_free_pages -= 1UL << order;
}

void __free_one_page(struct page *page, unsigned long pfn, struct zone *zone, unsigned int order,
                     uint64_t now, bool reported)
{
	while (order < MAX_PAGE_ORDER) {
		unsigned long buddy_pfn = pfn ^ (1UL << order);
		struct page *buddy = page + ((long)buddy_pfn - (long)pfn);

		if (!page_is_buddy(buddy, order))
			break;
		/* The merged block is only given back if both halves were. */
		reported = reported && PageReported(buddy);
		del_page_from_free_list(buddy, zone, order);
		pfn &= buddy_pfn;
		page = pfn_to_page(pfn);
		order++;
	}
	add_to_free_list(page, zone, order, reported);
	if (!reported) {
		page->freed_at_ms = now;
		if (is_reportable(zone, pfn, order) && zone->next_report_ms == NO_REPORT_PENDING)
			zone_set_report_deadline(zone, now + (uint64_t)kmm_option(OPT_DECAY_MS));
	}
}

/*
 * Split a block of order @high down to order @low, putting the upper halves back on
 * the free lists (the kernel's expand()). Halves of a reported block stay reported.
 */
static void expand(struct zone *zone, struct page *page, unsigned int low, unsigned int high,
                   bool reported)
{
	unsigned long size = 1UL << high;

	while (high > low) {
		high--;
		size >>= 1;
		add_to_free_list(&page[size], zone, high, reported);
		if (!reported)
			page[size].freed_at_ms = page->freed_at_ms;
	}
}

/*
 * A block just taken off the free lists for use: its frames are mapped where they were
 * not yet (sparse.c). Where that fails the block goes back as it was (@reported), and
 * NULL tells the caller, except when another mapping of the process holds part of it:
 * the block is then left off the lists for good, a hole, and *@retry says to look again.
 */
static struct page *map_taken_block(struct zone *zone, struct page *page, unsigned int order,
                                    bool reported, bool *retry)
{
	unsigned long pfn = page_to_pfn(page);
	int err = sparse_map_pages(zone, pfn, 1UL << order);

	if (likely(!err))
		return page;
	if (err == -EEXIST) {
		zone->nr_section_events[SECTION_HOLES]++;
		*retry = true;
	} else {
		__free_one_page(page, pfn, zone, order, os_now_ms(), reported);
	}
	return NULL;
}

static struct page *__rmqueue_smallest(struct zone *zone, unsigned int order)
{
	bool retry;

	do {
		retry = false;
		for (unsigned int current_order = order; current_order < NR_PAGE_ORDERS;
		     current_order++) {
			struct free_area *area = &zone->free_area[current_order];
			struct page *page;
			bool reported;

			if (list_empty(&area->free_list))
				continue;
			page = list_first_entry(&area->free_list, struct page, buddy_list);
			reported = PageReported(page);
			del_page_from_free_list(page, zone, current_order);
			expand(zone, page, order, current_order, reported);
			page = map_taken_block(zone, page, order, reported, &retry);
			if (page || !retry)
				return page;
			break;
		}
	} while (retry);
	return NULL;
}

static struct page *__rmqueue(struct zone *zone, unsigned int order)
{
	struct page *page = __rmqueue_smallest(zone, order);

	if (unlikely(!page) && zone_add_section(zone))
		page = __rmqueue_smallest(zone, order);
	return page;
}

static inline void transit_add(struct zone *zone, long pages)
{
	if (pages)
		__atomic_add_fetch(&zone->nr_pages_in_transit, pages, __ATOMIC_RELAXED);
}

/* Move up to @count blocks of @order from the zone to a local @list, in transit. */
static int rmqueue_bulk(struct zone *zone, unsigned int order, int count, struct list_head *list)
{
	int i;

	kmm_lock(zone->lock);
	for (i = 0; i < count; i++) {
		struct page *page = __rmqueue(zone, order);

		if (!page)
			break;
		page->order = order;
		list_add_tail(&page->buddy_list, list);
	}
	if (i) { /* pcp_refill keeps the first block: a miss of the per-CPU list */
		zone->events.pcp_refill++;
		zone->events.pgalloc[order]++;
	}
	kmm_unlock(zone->lock);
	transit_add(zone, (long)i << order);
	return i;
}

/*
 * Take up to @count pages, coldest first (the tails), off a per-CPU list onto @out,
 * the orders in turn. Called with pcp->lock held.
 */
static long pcp_detach_cold(struct per_cpu_pages *pcp, int count, struct list_head *out)
{
	unsigned int order = 0;
	long detached = 0;

	while (count > 0 && pcp->count > 0) {
		struct list_head *list = &pcp->lists[order];

		if (!list_empty(list)) {
			struct page *page = list_last_entry(list, struct page, buddy_list);

			page->order = order;
			list_move_tail(&page->buddy_list, out);
			pcp->count -= 1 << order;
			count -= 1 << order;
			detached += 1 << order;
		}
		order = (order + 1) % NR_PCP_LISTS;
	}
	return detached;
}

/*
 * Give detached per-CPU pages back to their zone. Called without pcp->lock. Pages that
 * sat on a per-CPU list keep their neighbours from merging into blocks that could be
 * given back, so a flush makes sure page reporting will come by (and drain the lists).
 */
static void __free_pages_bulk(struct zone *zone, struct list_head *pages, uint64_t now)
{
	struct page *page, *tmp;
	long freed = 0;

	kmm_lock(zone->lock);
	list_for_each_entry_safe(page, tmp, pages, buddy_list) {
		list_del(&page->buddy_list);
		freed += 1L << page->order;
		__free_one_page(page, page_to_pfn(page), zone, page->order, now, false);
	}
	transit_add(zone, -freed);
	if (zone->next_report_ms == NO_REPORT_PENDING)
		zone_set_report_deadline(zone, now + (uint64_t)kmm_option(OPT_DECAY_MS));
	kmm_unlock(zone->lock);
}

static void free_pages_bulk(struct zone *zone, struct list_head *pages)
{
	uint64_t now = os_now_ms();

	__free_pages_bulk(zone, pages, now);
	page_reporting_poll(now);
}

/*
 * The local list of @order is empty: take a batch from the zone, keep one block and
 * put the rest on the list. The pcp lock is not held meanwhile, so a thread that waits
 * here for the zone lock (or is preempted holding it) does not shut the other threads
 * of its CPU out of the list.
 */
static __noinline struct page *pcp_refill(struct zone *zone, struct per_cpu_pages *pcp,
                                          unsigned int order)
{
	int batch = (int)max_ul((unsigned long)pcp->batch >> order, 1);
	struct list_head pages;
	struct page *page;
	int got;

	if (unlikely(READ_ONCE(memory_exhausted)) && memory_exhausted_after_release())
		return NULL;
	INIT_LIST_HEAD(&pages);
	got = rmqueue_bulk(zone, order, batch, &pages);
	if (!got)
		return NULL;
	page = list_first_entry(&pages, struct page, buddy_list);
	list_del(&page->buddy_list);
	if (got > 1) {
		kmm_lock(pcp->lock);
		list_splice(&pages, &pcp->lists[order]);
		pcp->count += (got - 1) << order;
		kmm_unlock(pcp->lock);
	}
	transit_add(zone, -((long)got << order));
	page_reporting_poll(os_now_ms());
	return page;
}

static struct page *rmqueue_pcplist(struct zone *zone, unsigned int order)
{
	struct per_cpu_pages *pcp = this_cpu_pcp(zone);
	struct list_head *list = &pcp->lists[order];
	struct page *page;
	bool poll;

	if (unlikely(!kmm_trylock(pcp->lock)))
		return NULL;
	if (unlikely(list_empty(list))) {
		kmm_unlock(pcp->lock);
		return pcp_refill(zone, pcp, order);
	}
	page = list_first_entry(list, struct page, buddy_list);
	list_del(&page->buddy_list);
	pcp->count -= 1 << order;
	pcp->events.pgalloc[order]++;
	poll = ++pcp->ticks % PCP_POLL_TICKS == 0;
	kmm_unlock(pcp->lock);
	if (unlikely(poll))
		page_reporting_poll(os_now_ms());
	return page;
}

static struct page *rmqueue_buddy(struct zone *zone, unsigned int order)
{
	struct page *page;

	if (unlikely(READ_ONCE(memory_exhausted)) && memory_exhausted_after_release())
		return NULL;
	kmm_lock(zone->lock);
	page = __rmqueue(zone, order);
	if (page)
		zone->events.pgalloc[order]++;
	kmm_unlock(zone->lock);
	return page;
}

static __always_inline struct page *rmqueue(struct zone *zone, unsigned int order)
{
	if (likely(order <= PAGE_ALLOC_COSTLY_ORDER)) {
		struct page *page = rmqueue_pcplist(zone, order);

		if (likely(page))
			return page;
	}
	return rmqueue_buddy(zone, order);
}

static __always_inline void prep_new_page(struct page *page, unsigned int order)
{
	page->order = order;
	set_page_refcounted(page);
	if (order)
		SetPageHead(page);
}

static __noinline void count_numa_fallback(struct zone *preferred, struct zone *zone)
{
	__atomic_add_fetch(&preferred->numa_foreign, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&zone->numa_miss, 1, __ATOMIC_RELAXED);
}

static __always_inline struct page *get_page_from_freelist(struct zone *preferred,
                                                           unsigned int order)
{
	for (int i = 0; i < preferred->nr_zonelist; i++) {
		struct page *page = rmqueue(preferred->zonelist[i], order);

		if (likely(page)) {
			prep_new_page(page, order);
			if (unlikely(i > 0))
				count_numa_fallback(preferred, preferred->zonelist[i]);
			return page;
		}
	}
	return NULL;
}

static bool pages_in_transit(void)
{
	struct zone *zone;

	for_each_zone(zone, nid)
		if (__atomic_load_n(&zone->nr_pages_in_transit, __ATOMIC_RELAXED))
			return true;
	return false;
}

/*
 * Every zone looked empty. Pages may sit on other CPUs' lists, be out for reporting,
 * or be on their way between a list and a zone on another thread: bring back what can
 * be brought back and try again, as long as something is still on its way (the kernel
 * drains pcps and retries before it gives up). A zone whose next section the address
 * space limit refused may get it once lazily freed vmalloc areas and other zones' free
 * sections are gone: drop_caches, once. Caches that only their own layer can drain
 * (empty slabs, a thread's large blocks) are kmalloc's to drop before it retries.
 */
static __noinline struct page *__alloc_pages_slowpath(struct zone *preferred, unsigned int order)
{
	for (int attempt = 0; attempt < 16; attempt++) {
		struct zone *zone;
		struct page *page;

		drain_all_pages();
		for_each_zone(zone, nid) {
			kmm_lock(zone->report_lock);
			kmm_unlock(zone->report_lock);
		}
		page = get_page_from_freelist(preferred, order);
		if (page)
			return page;
		if (attempt == 0) {
			drop_caches();
			continue;
		}
		if (!pages_in_transit())
			return NULL;
		os_yield();
	}
	return NULL;
}

struct page *__alloc_pages(unsigned int order, int preferred_nid)
{
	struct zone *preferred = node_zones[preferred_nid];
	struct page *page = get_page_from_freelist(preferred, order);

	if (likely(page))
		return page;
	return __alloc_pages_slowpath(preferred, order);
}

/* Past the high mark: a batch of cold pages goes back to the zone. Drops pcp->lock. */
static __noinline void pcp_flush_and_unlock(struct zone *zone, struct per_cpu_pages *pcp)
{
	struct list_head cold;

	INIT_LIST_HEAD(&cold);
	pcp->events.pcp_flush++;
	transit_add(zone, pcp_detach_cold(pcp, pcp->count - (pcp->high - pcp->batch), &cold));
	kmm_unlock(pcp->lock);
	free_pages_bulk(zone, &cold);
}

/*
 * Returns false when the local pcp is busy; the caller frees to the zone instead. The
 * flush past the high mark gives its pages to the zone after the pcp lock is dropped,
 * for the same reason as pcp_refill.
 */
static __always_inline bool free_unref_page(struct zone *zone, struct page *page,
                                            unsigned int order)
{
	struct per_cpu_pages *pcp = this_cpu_pcp(zone);
	bool poll;

	if (unlikely(!kmm_trylock(pcp->lock)))
		return false;
	list_add(&page->buddy_list, &pcp->lists[order]);
	pcp->count += 1 << order;
	pcp->events.pgfree[order]++;
	if (unlikely(pcp->count >= pcp->high)) {
		pcp_flush_and_unlock(zone, pcp);
		return true;
	}
	poll = ++pcp->ticks % PCP_POLL_TICKS == 0;
	kmm_unlock(pcp->lock);
	if (unlikely(poll))
		page_reporting_poll(os_now_ms());
	return true;
}

static void free_one_page(struct zone *zone, struct page *page, unsigned int order)
{
	uint64_t now = os_now_ms();

	kmm_lock(zone->lock);
	__free_one_page(page, page_to_pfn(page), zone, order, now, false);
	zone->events.pgfree[order]++;
	kmm_unlock(zone->lock);
	page_reporting_poll(now);
}

void __free_pages(struct page *page, unsigned int order)
{
	struct zone *zone = page_zone(page);

	page->_refcount = 0;
	ClearPageHead(page);
	if (likely(order <= PAGE_ALLOC_COSTLY_ORDER) && likely(free_unref_page(zone, page, order)))
		return;
	free_one_page(zone, page, order);
}

void __free_pages_released(struct page *page, unsigned int order)
{
	struct zone *zone = page_zone(page);

	page->_refcount = 0;
	ClearPageHead(page);
	kmm_lock(zone->lock);
	__free_one_page(page, page_to_pfn(page), zone, order, os_now_ms(), true);
	zone->events.pgfree[order]++;
	kmm_unlock(zone->lock);
}

bool grow_pages_in_place(struct page *page, unsigned int order, unsigned int new_order)
{
	struct zone *zone = page_zone(page);
	unsigned long pfn = page_to_pfn(page);
	bool free_above = true;

	if (new_order > MAX_PAGE_ORDER || !IS_ALIGNED(pfn, 1UL << new_order))
		return false;
	kmm_lock(zone->lock);
	for (unsigned int o = order; o < new_order && free_above; o++)
		free_above = page_is_buddy(pfn_to_page(pfn + (1UL << o)), o);
	if (free_above)
		free_above = sparse_map_pages(zone, pfn + (1UL << order),
		                              (1UL << new_order) - (1UL << order)) == 0;
	/* Each buddy taken over counts as allocated, so pages in use stay what was counted. */
	if (free_above)
		for (unsigned int o = order; o < new_order; o++) {
			del_page_from_free_list(pfn_to_page(pfn + (1UL << o)), zone, o);
			zone->events.pgalloc[o]++;
		}
	kmm_unlock(zone->lock);
	if (free_above) {
		page->order = new_order;
		SetPageHead(page);
	}
	return free_above;
}

/*
 * The lower end of a resident free max-order block when the zone has one: the upper
 * halves stay on the free lists, and the block can grow over them later. A block that
 * was given back to the OS is not split for room: touching any of it would fault in a
 * whole huge page that a best fit elsewhere does not need.
 */
static struct page *rmqueue_to_grow(struct zone *zone, unsigned int order)
{
	struct free_area *area = &zone->free_area[MAX_PAGE_ORDER];
	struct page *page;

	kmm_lock(zone->lock);
	page = list_empty(&area->free_list)
	               ? NULL
	               : list_first_entry(&area->free_list, struct page, buddy_list);
	if (page && !PageReported(page)) { /* resident blocks sit at the head */
		bool retry = false;

		del_page_from_free_list(page, zone, MAX_PAGE_ORDER);
		expand(zone, page, order, MAX_PAGE_ORDER, false);
		page = map_taken_block(zone, page, order, false, &retry);
	} else {
		page = __rmqueue(zone, order);
	}
	if (page)
		zone->events.pgalloc[order]++;
	kmm_unlock(zone->lock);
	return page;
}

struct page *alloc_pages_to_grow(unsigned int order, int preferred_nid)
{
	struct zone *preferred = node_zones[preferred_nid];

	for (int i = 0; i < preferred->nr_zonelist; i++) {
		struct page *page = rmqueue_to_grow(preferred->zonelist[i], order);

		if (page) {
			prep_new_page(page, order);
			return page;
		}
	}
	return __alloc_pages(order, preferred_nid);
}

void shrink_pages_in_place(struct page *page, unsigned int order, unsigned int new_order)
{
	struct zone *zone = page_zone(page);
	unsigned long pfn = page_to_pfn(page);
	uint64_t now = os_now_ms();

	page->order = new_order;
	if (!new_order)
		ClearPageHead(page);
	kmm_lock(zone->lock);
	/* Each upper half's buddy is the block itself, so none of them merges. */
	for (unsigned int o = new_order; o < order; o++) {
		__free_one_page(pfn_to_page(pfn + (1UL << o)), pfn + (1UL << o), zone, o, now,
		                false);
		zone->events.pgfree[o]++;
	}
	kmm_unlock(zone->lock);
	page_reporting_poll(now);
}

/*
 * The max-order block at @pfn is free, hot-adding its section first when it is absent
 * (a block that grows in place may reach into the next section). Called with
 * zone->lock held.
 */
static bool max_order_block_free(struct zone *zone, unsigned long pfn)
{
	if (pfn >= zone_end_pfn(zone))
		return false;
	if (!pfn_valid(pfn) && sparse_add_section(zone, pfn_to_section_nr(pfn)) != 0)
		return false;
	return page_is_buddy(pfn_to_page(pfn), MAX_PAGE_ORDER) &&
	       sparse_map_pages(zone, pfn, MAX_ORDER_NR_PAGES) == 0;
}

bool grow_contig_in_place(struct page *page, unsigned long nr_blocks, unsigned long new_nr_blocks)
{
	struct zone *zone = page_zone(page);
	unsigned long first = page_to_pfn(page) + (nr_blocks << MAX_PAGE_ORDER);
	unsigned long end = page_to_pfn(page) + (new_nr_blocks << MAX_PAGE_ORDER), pfn;
	bool free_above = true;

	kmm_lock(zone->lock);
	for (pfn = first; pfn < end && free_above; pfn += MAX_ORDER_NR_PAGES)
		free_above = max_order_block_free(zone, pfn);
	if (free_above)
		for (pfn = first; pfn < end; pfn += MAX_ORDER_NR_PAGES) {
			del_page_from_free_list(pfn_to_page(pfn), zone, MAX_PAGE_ORDER);
			zone->events.pgalloc[MAX_PAGE_ORDER]++;
		}
	kmm_unlock(zone->lock);
	return free_above;
}

void free_contig_range(struct page *page, unsigned long nr_blocks)
{
	struct zone *zone = page_zone(page);
	uint64_t now = os_now_ms();

	kmm_lock(zone->lock);
	for (unsigned long i = nr_blocks; i-- > 0;) {
		struct page *block = page + (i << MAX_PAGE_ORDER);

		block->_refcount = 0;
		ClearPageHead(block);
		__free_one_page(block, page_to_pfn(block), zone, MAX_PAGE_ORDER, now, false);
		zone->events.pgfree[MAX_PAGE_ORDER]++;
	}
	kmm_unlock(zone->lock);
	page_reporting_poll(now);
}

void drain_zone_pages(struct zone *zone)
{
	for (unsigned int cpu = 0; cpu < nr_cpu_ids; cpu++) {
		struct per_cpu_pages *pcp = &zone->per_cpu_pageset[cpu];
		struct list_head pages;

		INIT_LIST_HEAD(&pages);
		kmm_lock(pcp->lock);
		transit_add(zone, pcp_detach_cold(pcp, pcp->count, &pages));
		kmm_unlock(pcp->lock);
		if (!list_empty(&pages))
			__free_pages_bulk(zone, &pages, os_now_ms());
	}
}

void drain_all_pages(void)
{
	struct zone *zone;

	for_each_zone(zone, nid)
		drain_zone_pages(zone);
	page_reporting_poll(os_now_ms());
}

unsigned long zone_available_pages(struct zone *zone)
{
	unsigned long pages;

	kmm_lock(zone->lock);
	pages = zone->nr_free_pages + (zone->spanned_pages - zone->present_pages) +
	        (unsigned long)__atomic_load_n(&zone->nr_pages_in_transit, __ATOMIC_RELAXED);
	kmm_unlock(zone->lock);
	for (unsigned int cpu = 0; cpu < nr_cpu_ids; cpu++)
		pages += (unsigned long)READ_ONCE(zone->per_cpu_pageset[cpu].count);
	return pages;
}

void page_alloc_fork_prepare(void)
{
	struct zone *zone;

	for_each_zone(zone, nid)
		kmm_lock(zone->report_lock);
	for_each_zone(zone, nid)
		for (unsigned int cpu = 0; cpu < nr_cpu_ids; cpu++)
			kmm_lock(zone->per_cpu_pageset[cpu].lock);
	for_each_zone(zone, nid)
		kmm_lock(zone->lock);
}

void page_alloc_fork_parent(void)
{
	struct zone *zone;

	for_each_zone(zone, nid)
		kmm_unlock(zone->lock);
	for_each_zone(zone, nid)
		for (unsigned int cpu = 0; cpu < nr_cpu_ids; cpu++)
			kmm_unlock(zone->per_cpu_pageset[cpu].lock);
	for_each_zone(zone, nid)
		kmm_unlock(zone->report_lock);
}

void page_alloc_fork_child(void)
{
	struct zone *zone;

	if (fork_locks_wiped)
		return;
	for_each_zone(zone, nid) {
		kmm_lock_reinit(zone->lock);
		for (unsigned int cpu = 0; cpu < nr_cpu_ids; cpu++)
			kmm_lock_reinit(zone->per_cpu_pageset[cpu].lock);
		kmm_lock_reinit(zone->report_lock);
	}
}
