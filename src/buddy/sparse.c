/*
 * Memory hotplug: zones grow and shrink by sections (the kernel's mm/sparse.c and
 * mm/memory_hotplug.c: add_memory, online_pages, offline_pages, remove_memory).
 *
 * The physical address space and mem_map are ranges of addresses that kmm chose at
 * start-up and does not reserve (mm_init.c). Hot-adding a section maps its 16 MiB of
 * frames and its 256 KiB of descriptors at their fixed places with MAP_FIXED_NOREPLACE,
 * binds both to the zone's node and frees its four max-order blocks into the zone, as
 * given back (nothing of them is resident). A section whose range another mapping of
 * the process already holds becomes a hole and the zone moves on to the next; the
 * buddy allocator never notices, because a buddy is always in the block's own
 * max-order block, so blocks never merge across sections. Hot-removing a section whose
 * blocks are all free takes them off the free lists and unmaps it all again, so the
 * address space a process holds follows what it uses (DESIGN: a whole-node reservation
 * breaks RLIMIT_AS and ulimit -v).
 *
 * Invariants:
 *  - a section is ONLINE exactly while its frames and descriptors are mapped and its
 *    blocks belong to its zone (free, on a per-CPU list, or allocated);
 *  - zone->present_pages is PAGES_PER_SECTION times the zone's ONLINE sections;
 *  - no ABSENT section of a zone lies below zone->section_hint;
 *  - hugetlb sections (below zone->hugetlb_end_pfn) are never removed: page reporting
 *    never gives them back, and the pool's pages are this process's anyway.
 *
 * Lock: section states change under their zone's lock; the mmap and munmap of a
 * removal run without it, while the section is REMOVING (neither online nor absent, so
 * nobody reads or re-adds it). Adding runs under zone->lock, as the kernel's
 * deferred_grow_zone does its work, because the zone has nothing to hand out until the
 * section is in.
 */
#include "sparse.h"

#include <errno.h>

#include "../base/options.h"
#include "internal.h"
#include "page_alloc.h"

/* Sections removed per pass under the zone lock, before the unmaps. */
#define REMOVE_BATCH 16

struct mem_section *mem_section;

static char *section_frames(unsigned long nr)
{
	return kmm_phys_base + (nr << SECTION_SIZE_BITS);
}

static struct page *section_descriptors(unsigned long nr)
{
	return pfn_to_page(nr << PFN_SECTION_SHIFT);
}

#define SECTION_MAP_BYTES (PAGES_PER_SECTION * sizeof(struct page))

static unsigned long zone_end_section(const struct zone *zone)
{
	return pfn_to_section_nr(zone_end_pfn(zone));
}

static const struct page *zero_mem_map; /* PAGES_PER_SECTION zero descriptors, read-only */

static void set_section_state(unsigned long nr, enum section_state state)
{
	uintptr_t map =
	        state == SECTION_ONLINE
	                ? (uintptr_t)mem_map
	                : (uintptr_t)zero_mem_map - (nr << PFN_SECTION_SHIFT) * sizeof(struct page);

	/* Off line, free() reads zeros before the descriptors are unmapped. */
	__atomic_store_n(&mem_section[nr].section_mem_map, map, __ATOMIC_RELEASE);
	__atomic_store_n(&mem_section[nr].state, (uint8_t)state, __ATOMIC_RELEASE);
}

int sparse_init(unsigned long nr_sections)
{
	zero_mem_map = os_map_zeroes(SECTION_MAP_BYTES);
	if (!zero_mem_map)
		return -1;
	address_space_limited = os_address_space_limited();
	for (unsigned long nr = 0; nr < nr_sections; nr++)
		set_section_state(nr, SECTION_ABSENT);
	return 0;
}

/*
 * Map a section's frames, hugetlb where the zone's plan says so and the pool still has
 * pages (else THP from here on), then its descriptors. 0, -EEXIST or -ENOMEM.
 */
static int map_section(struct zone *zone, unsigned long nr)
{
	unsigned long pfn = nr << PFN_SECTION_SHIFT;
	char *frames = section_frames(nr);
	int err = -ENOMEM;

	if (pfn < zone->hugetlb_end_pfn) {
		err = os_map_hugetlb_at(frames, SECTION_BYTES);
		if (err == -ENOMEM) {
			zone->hugetlb_end_pfn = pfn;
			zone->backing =
			        pfn == zone->zone_start_pfn ? ZONE_BACKING_THP : ZONE_BACKING_MIXED;
		}
	}
	if (pfn >= zone->hugetlb_end_pfn) {
		err = os_map_at(frames, SECTION_BYTES);
		if (!err && kmm_option(OPT_THP) == THP_ON)
			os_advise_hugepage(frames, SECTION_BYTES);
	}
	if (err)
		return err;
	err = os_map_at(section_descriptors(nr), SECTION_MAP_BYTES);
	if (err) {
		os_unmap(frames, SECTION_BYTES);
		return err;
	}
	/* Descriptors are node-local too, as the kernel allocates each node's memmap. */
	if (zone->mempolicy >= 0) {
		os_mbind(frames, SECTION_BYTES, zone->mempolicy, zone->phys_node);
		os_mbind(section_descriptors(nr), SECTION_MAP_BYTES, zone->mempolicy,
		         zone->phys_node);
	}
	return 0;
}

/* Bring a mapped section online: its max-order blocks join the free lists, untouched. */
static void online_section(struct zone *zone, unsigned long nr)
{
	unsigned long pfn = nr << PFN_SECTION_SHIFT;

	set_section_state(nr, SECTION_ONLINE);
	WRITE_ONCE(zone->present_pages, zone->present_pages + PAGES_PER_SECTION);
	zone->nr_section_events[SECTION_ADDED]++;
	for (unsigned long i = 0; i < PAGES_PER_SECTION; i += MAX_ORDER_NR_PAGES)
		__free_one_page(pfn_to_page(pfn + i), pfn + i, zone, MAX_PAGE_ORDER, 0, true);
}

bool address_space_limited;

int sparse_add_section(struct zone *zone, unsigned long nr)
{
	int err;

	if (mem_section[nr].state != SECTION_ABSENT)
		return -EEXIST;
	WRITE_ONCE(address_space_limited, os_address_space_limited());
	err = map_section(zone, nr);
	if (err == -EEXIST) {
		set_section_state(nr, SECTION_HOLE);
		zone->nr_section_events[SECTION_HOLES]++;
	}
	if (err)
		return err;
	online_section(zone, nr);
	return 0;
}

bool zone_add_section(struct zone *zone)
{
	for (unsigned long nr = zone->section_hint; nr < zone_end_section(zone); nr++) {
		int err = sparse_add_section(zone, nr);

		if (err == -EEXIST)
			continue; /* online, being removed, or a hole */
		zone->section_hint = nr + (err == 0);
		return err == 0;
	}
	zone->section_hint = zone_end_section(zone);
	return false;
}

static bool section_wholly_free(unsigned long nr, bool given_back_only)
{
	unsigned long pfn = nr << PFN_SECTION_SHIFT;

	for (unsigned long i = 0; i < PAGES_PER_SECTION; i += MAX_ORDER_NR_PAGES) {
		struct page *head = pfn_to_page(pfn + i);

		if (!PageBuddy(head) || head->order != MAX_PAGE_ORDER)
			return false;
		if (given_back_only && !PageReported(head))
			return false;
	}
	return true;
}

/* Take a wholly free section out of its zone. Called with zone->lock held. */
static void offline_section(struct zone *zone, unsigned long nr)
{
	unsigned long pfn = nr << PFN_SECTION_SHIFT;

	set_section_state(nr, SECTION_REMOVING);
	for (unsigned long i = 0; i < PAGES_PER_SECTION; i += MAX_ORDER_NR_PAGES)
		del_page_from_free_list(pfn_to_page(pfn + i), zone, MAX_PAGE_ORDER);
	WRITE_ONCE(zone->present_pages, zone->present_pages - PAGES_PER_SECTION);
}

unsigned long zone_remove_free_sections(struct zone *zone, bool given_back_only)
{
	unsigned long first =
	        pfn_to_section_nr(max_ul(zone->zone_start_pfn, zone->hugetlb_end_pfn));
	unsigned long batch[REMOVE_BATCH], removed = 0;
	unsigned long nr = first;
	int n;

	do {
		n = 0;
		kmm_lock(zone->lock);
		for (; nr < zone_end_section(zone) && n < REMOVE_BATCH; nr++)
			if (mem_section[nr].state == SECTION_ONLINE &&
			    section_wholly_free(nr, given_back_only)) {
				offline_section(zone, nr);
				batch[n++] = nr;
			}
		kmm_unlock(zone->lock);
		for (int i = 0; i < n; i++) {
			os_unmap(section_frames(batch[i]), SECTION_BYTES);
			os_unmap(section_descriptors(batch[i]), SECTION_MAP_BYTES);
		}
		kmm_lock(zone->lock);
		for (int i = 0; i < n; i++) {
			set_section_state(batch[i], SECTION_ABSENT);
			zone->section_hint = min_ul(zone->section_hint, batch[i]);
			zone->nr_section_events[SECTION_REMOVED]++;
		}
		kmm_unlock(zone->lock);
		removed += (unsigned long)n;
	} while (n == REMOVE_BATCH);
	return removed;
}

unsigned long remove_free_sections(bool given_back_only)
{
	unsigned long removed = 0;
	struct zone *zone;

	for_each_zone(zone, nid)
		removed += zone_remove_free_sections(zone, given_back_only);
	return removed;
}
