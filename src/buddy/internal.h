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

/*
 * Give free blocks that have stayed free for KMM_DECAY_MS back to the OS (all of them
 * when @force). Called without locks. Returns the pages given back.
 */
unsigned long page_reporting_process(struct zone *zone, bool force);

/* Run page reporting for @zone if its next deadline has passed. Called without locks. */
static inline void page_reporting_check(struct zone *zone, uint64_t now)
{
	if (unlikely(now >= READ_ONCE(zone->next_report_ms)))
		page_reporting_process(zone, false);
}

#endif /* KMM_BUDDY_INTERNAL_H */
