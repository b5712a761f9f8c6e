/*
 * Giving free memory back to the OS (the kernel's mm/page_reporting.c, which reports
 * free pages to a hypervisor; kmm reports them to Linux with MADV_DONTNEED).
 *
 * Policy:
 *  - only blocks of order >= PAGE_REPORTING_ORDER (2 MiB) are given back, so a THP is
 *    dropped whole and never split; smaller free fragments stay resident until they
 *    merge into a 2 MiB block;
 *  - a block is given back once it has stayed free for KMM_DECAY_MS (default 1 s):
 *    a page fault costs about 1.5 µs, and a program that frees and allocates again
 *    within the decay pays none (DESIGN rule 8);
 *  - hugetlb-backed blocks are never given back: the pool is reserved for this process
 *    anyway, and a private hugetlb page dropped with MADV_DONTNEED loses its
 *    reservation, so a later touch could fail with SIGBUS;
 *  - nothing runs on a timer: the allocator polls the zone's deadline where it takes
 *    the zone lock anyway (a per-CPU list refill or flush, a high-order free) and every
 *    PCP_POLL_TICKS operations on a per-CPU list, always after dropping its locks. A
 *    poll reads the coarse clock and one word. A process that stops calling the
 *    allocator keeps its free memory until it calls again (as jemalloc and mimalloc do
 *    without background threads); kmm starts no thread of its own for this, because a
 *    thread the program did not ask for breaks unshare(CLONE_NEWUSER) and surprises
 *    programs that count their threads.
 *
 * The madvise runs without zone->lock: candidate blocks are taken off the free lists
 * (isolated) first and put back afterwards, flagged PG_reported, at the tail of their
 * free lists. zone->report_lock keeps one reporter per zone, and lets fork wait for
 * isolated blocks to come back (see mmzone.h for the lock order).
 */
#include "../base/options.h"
#include "internal.h"
#include "page_alloc.h"

unsigned long page_reporting_process(struct zone *zone, bool force)
{
	uint64_t decay = (uint64_t)kmm_option(OPT_DECAY_MS);
	uint64_t now, next = NO_REPORT_PENDING;
	struct list_head isolated;
	struct page *page, *tmp;
	unsigned long released = 0;

	if (force)
		kmm_lock(&zone->report_lock);
	else if (!kmm_trylock(&zone->report_lock))
		return 0;
	INIT_LIST_HEAD(&isolated);

	kmm_lock(&zone->lock);
	now = os_now_ms();
	for (unsigned int order = PAGE_REPORTING_ORDER; order < NR_PAGE_ORDERS; order++) {
		struct list_head *free_list = &zone->free_area[order].free_list;

		list_for_each_entry_safe (page, tmp, free_list, buddy_list) {
			if (PageReported(page))
				break; /* the rest of the list is reported already */
			if (page_to_pfn(page) < zone->hugetlb_end_pfn)
				continue;
			if (!force && now - page->freed_at_ms < decay) {
				next = page->freed_at_ms + decay < next ? page->freed_at_ms + decay
				                                        : next;
				continue;
			}
			del_page_from_free_list(page, zone, order);
			page->order = order;
			list_add(&page->buddy_list, &isolated);
		}
	}
	zone->next_report_ms = next;
	kmm_unlock(&zone->lock);

	if (list_empty(&isolated)) {
		kmm_unlock(&zone->report_lock);
		return 0;
	}
	list_for_each_entry (page, &isolated, buddy_list) {
		os_release(page_address(page), PAGE_SIZE << page->order);
		released += 1UL << page->order;
	}

	kmm_lock(&zone->lock);
	list_for_each_entry_safe (page, tmp, &isolated, buddy_list) {
		list_del(&page->buddy_list);
		__free_one_page(page, page_to_pfn(page), zone, page->order, now, true);
	}
	kmm_unlock(&zone->lock);
	kmm_unlock(&zone->report_lock);
	return released;
}
