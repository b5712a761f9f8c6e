/*
 * Memory hotplug by sections; see sparse.c. The section constants and pfn_valid() are
 * in page.h, beside the descriptors they guard.
 */
#ifndef KMM_BUDDY_SPARSE_H
#define KMM_BUDDY_SPARSE_H

#include <stdbool.h>

#include "mmzone.h"

/* Every section of the physical range absent; at initialization. 0, or -1. */
int sparse_init(unsigned long nr_sections);

/*
 * Hot-add section @nr of @zone's span (map it, bring it online): 0; -EEXIST when it is
 * not absent (now a hole, if another mapping holds its range); -ENOMEM when the address
 * space or commit limit refuses it. Called with zone->lock held.
 */
int sparse_add_section(struct zone *zone, unsigned long nr);

/*
 * Map the frames of [@pfn, @pfn + @nr_pages), within one section of @zone, that are not
 * mapped yet: a block about to be handed out. Under zone->lock. 0; -EEXIST when another
 * mapping holds some of them; -ENOMEM when the address space or commit limit refuses.
 */
int sparse_map_pages(struct zone *zone, unsigned long pfn, unsigned long nr_pages);

/*
 * Give back (MADV_DONTNEED) the mapped frames of [@pfn, @pfn + @nr_pages), a free block
 * nobody can hand out meanwhile; frames never mapped are left alone.
 */
void sparse_release_pages(unsigned long pfn, unsigned long nr_pages);

/* Hot-add the zone's lowest absent section; false when none can be. Under zone->lock. */
bool zone_add_section(struct zone *zone);

/*
 * Hot-remove the sections of @zone whose blocks are all free on its free lists (only
 * those already given back to the OS when @given_back_only). Called without locks;
 * returns the number removed.
 */
unsigned long zone_remove_free_sections(struct zone *zone, bool given_back_only);

/* The same for every zone. */
unsigned long remove_free_sections(bool given_back_only);

#endif /* KMM_BUDDY_SPARSE_H */
