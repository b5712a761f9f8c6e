/*
 * Helpers shared by the files of the page allocator, and by nothing else (the kernel's
 * mm/internal.h).
 */
#ifndef KMM_BUDDY_INTERNAL_H
#define KMM_BUDDY_INTERNAL_H

#include <stdint.h>

#include "mmzone.h"

#define NO_REPORT_PENDING UINT64_MAX

/*
 * Put a free block on its zone's free lists, merging it with its buddy as long as the
 * buddy is free too. @reported says the block's frames were given back to the OS.
 * Called with zone->lock held.
 */
void __free_one_page(struct page *page, unsigned long pfn, struct zone *zone, unsigned int order,
                     uint64_t now, bool reported);

/* Take a free block off its free list. Called with zone->lock held. */
void del_page_from_free_list(struct page *page, struct zone *zone, unsigned int order);

/* Give a zone's per-CPU pages back to its free lists, without polling page reporting. */
void drain_zone_pages(struct zone *zone);

/*
 * Page reporting's clock. Each zone has a deadline (zone->next_report_ms) by which
 * something on it should be looked at; page_reporting_deadline is the earliest of all,
 * so a poll anywhere in the process notices any zone's deadline.
 */
extern uint64_t page_reporting_deadline;

/* Lower the global deadline to @when if it is later. */
static inline void page_reporting_lower_deadline(uint64_t when)
{
	uint64_t global = READ_ONCE(page_reporting_deadline);

	while (when < global &&
	       !__atomic_compare_exchange_n(&page_reporting_deadline, &global, when, true,
	                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* Set @zone's deadline and lower the global one to it. Called with zone->lock held. */
static inline void zone_set_report_deadline(struct zone *zone, uint64_t when)
{
	WRITE_ONCE(zone->next_report_ms, when);
	page_reporting_lower_deadline(when);
}

/*
 * Give free blocks of @zone that have stayed free for KMM_DECAY_MS back to the OS (all
 * of them when @force). Called without locks. Returns the pages given back.
 */
unsigned long page_reporting_process(struct zone *zone, bool force);

/* Process every zone whose deadline has passed. Called without locks. */
void page_reporting_run(uint64_t now);

/* fork(): the runner lock is outermost of all (see mmzone.h). */
int page_reporting_init(void); /* at initialization: 0, or -1 */
void page_reporting_fork_prepare(void);
void page_reporting_fork_parent(void);
void page_reporting_fork_child(void);

/* Called without locks wherever the allocator polls (see page_reporting.c). */
static inline void page_reporting_poll(uint64_t now)
{
	if (unlikely(now >= READ_ONCE(page_reporting_deadline)))
		page_reporting_run(now);
}

#endif /* KMM_BUDDY_INTERNAL_H */
