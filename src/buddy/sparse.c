/*
 * Memory hotplug: zones grow and shrink by sections (the kernel's mm/sparse.c and
 * mm/memory_hotplug.c: add_memory, online_pages, offline_pages, remove_memory).
 *
 * The physical address space and mem_map are ranges of addresses that kmm chose at
 * start-up and does not reserve (mm_init.c). Hot-adding a section maps its 256 KiB of
 * descriptors and the first 2 MiB subsection of its frames at their fixed places with
 * MAP_FIXED_NOREPLACE, binds them to the zone's node and frees its four max-order blocks
 * into the zone, as given back (nothing of them is resident). The other subsections are
 * mapped as blocks in them are first handed out (sparse_map_pages), so a process's
 * address space follows the blocks it uses. A section whose start another mapping of the
 * process already holds becomes a hole and the zone moves on to the next; one found in a
 * later subsection makes the blocks there a hole, kept off the free lists. The buddy
 * allocator never notices, because a buddy is always in the block's own max-order
 * block, so blocks never merge across sections. Hot-removing a section whose blocks are
 * all free takes them off the free lists and unmaps it again (DESIGN: a whole-node
 * reservation breaks RLIMIT_AS and ulimit -v).
 *
 * Invariants:
 *  - a section is ONLINE exactly while its descriptors are mapped and its blocks belong
 *    to its zone (free, on a per-CPU list, or allocated);
 *  - every block handed out (allocated, or on a per-CPU list) has its frames mapped;
 *    subsection_map says which subsections are, and kmm never releases or unmaps frames
 *    outside it, where another mapping may sit (a hole's blocks stay off every list);
 *  - zone->present_pages is PAGES_PER_SECTION times the zone's ONLINE sections;
 *  - no ABSENT section of a zone lies below zone->section_hint;
 *  - hugetlb sections (below zone->hugetlb_end_pfn) are mapped whole and never removed:
 *    page reporting never gives them back, and the pool's pages are this process's.
 *
 * Lock: section states and subsection maps change under their zone's lock; the munmap
 * of a removal runs without it, while the section is REMOVING (neither online nor
 * absent, so nobody reads or re-adds it). Adding and mapping run under zone->lock, as
 * the kernel's deferred_grow_zone does its work, because the zone has nothing to hand
 * out until the memory is in. Page reporting reads a block's subsection map without
 * the lock: the block is off the lists, so its subsections stay mapped.
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

static char *pfn_frames(unsigned long pfn)
{
	return kmm_phys_base + (pfn << PAGE_SHIFT);
}

static unsigned int subsection_index(unsigned long pfn)
{
	return (unsigned int)((pfn & (PAGES_PER_SECTION - 1)) / PAGES_PER_SUBSECTION);
}

/* Runs of the subsections in @map: @fn(first pfn, pages) for each. */
static void for_each_subsection_run(unsigned long nr, uint8_t map,
                                    void (*fn)(unsigned long pfn, unsigned long nr_pages))
{
	unsigned long base = nr << PFN_SECTION_SHIFT;

	for (unsigned int i = 0, j; i < SUBSECTIONS_PER_SECTION; i = j + 1) {
		for (j = i; j < SUBSECTIONS_PER_SECTION && (map >> j & 1); j++)
			;
		if (j > i)
			fn(base + i * PAGES_PER_SUBSECTION, (j - i) * PAGES_PER_SUBSECTION);
	}
}

static void unmap_run(unsigned long pfn, unsigned long nr_pages)
{
	memory_notify(MEM_RELEASING, pfn_frames(pfn), nr_pages << PAGE_SHIFT);
	os_unmap(pfn_frames(pfn), nr_pages << PAGE_SHIFT);
	memory_notify(MEM_RELEASED, pfn_frames(pfn), nr_pages << PAGE_SHIFT);
}

/* Only what kmm mapped: another mapping may have landed in a subsection it did not. */
static void unmap_subsections(unsigned long nr, uint8_t map)
{
	for_each_subsection_run(nr, map, unmap_run);
}

static memory_notifier_fn memory_notifier;
static bool memory_notifier_swaps;
bool memory_exhausted;

__noinline bool memory_exhausted_after_release(void)
{
	release_free_pages();
	return READ_ONCE(memory_exhausted);
}

void register_memory_notifier(memory_notifier_fn fn, bool swaps)
{
	WRITE_ONCE(memory_notifier_swaps, swaps);
	WRITE_ONCE(memory_notifier, fn);
}

bool memory_swaps(void)
{
	return READ_ONCE(memory_notifier_swaps);
}

void memory_notify(enum memory_action action, void *start, size_t size)
{
	memory_notifier_fn fn = READ_ONCE(memory_notifier);

	if (unlikely(fn))
		fn(action, start, size);
}

/* Map @nr_pages frames from @pfn, bound to the zone's node. 0, -EEXIST or -ENOMEM. */
static int map_frames(struct zone *zone, unsigned long pfn, unsigned long nr_pages)
{
	size_t bytes = nr_pages << PAGE_SHIFT;
	int err = os_map_at(pfn_frames(pfn), bytes);

	if (err)
		return err;
	if (kmm_option(OPT_THP) == THP_ON)
		os_advise_hugepage(pfn_frames(pfn), bytes);
	if (zone->mempolicy >= 0)
		os_mbind(pfn_frames(pfn), bytes, zone->mempolicy, zone->phys_node);
	memory_notify(MEM_MAPPED, pfn_frames(pfn), bytes);
	return 0;
}

static memory_notifier_fn walk_fn; /* for_each_mapped_frames' callback, under zone->lock */

static void notify_run(unsigned long pfn, unsigned long nr_pages)
{
	walk_fn(MEM_MAPPED, pfn_frames(pfn), nr_pages << PAGE_SHIFT);
}

void for_each_mapped_frames(memory_notifier_fn fn)
{
	struct zone *zone;

	for_each_zone(zone, nid) {
		kmm_lock(zone->lock);
		walk_fn = fn;
		for (unsigned long nr = pfn_to_section_nr(zone->zone_start_pfn);
		     nr < zone_end_section(zone); nr++)
			if (mem_section[nr].state == SECTION_ONLINE &&
			    (nr << PFN_SECTION_SHIFT) >= zone->hugetlb_end_pfn)
				for_each_subsection_run(nr, mem_section[nr].subsection_map,
				                        notify_run);
		kmm_unlock(zone->lock);
	}
}

/*
 * Map the frames a hot-added section starts with: all of them from the hugetlb pool
 * where the zone's plan says so and the pool still has pages (else THP from here on),
 * or else its first subsection, which also finds another mapping sitting at its start.
 * Returns the subsections mapped, or a negative errno (-EEXIST, -ENOMEM).
 */
static int map_section_frames(struct zone *zone, unsigned long nr)
{
	unsigned long pfn = nr << PFN_SECTION_SHIFT;
	int err;

	if (pfn < zone->hugetlb_end_pfn) {
		err = os_map_hugetlb_at(section_frames(nr), SECTION_BYTES);
		if (!err) {
			if (zone->mempolicy >= 0)
				os_mbind(section_frames(nr), SECTION_BYTES, zone->mempolicy,
				         zone->phys_node);
			return (1 << SUBSECTIONS_PER_SECTION) - 1;
		}
		if (err != -ENOMEM)
			return err;
		zone->hugetlb_end_pfn = pfn;
		zone->backing = pfn == zone->zone_start_pfn ? ZONE_BACKING_THP : ZONE_BACKING_MIXED;
	}
	err = map_frames(zone, pfn, PAGES_PER_SUBSECTION);
	return err ? err : 1;
}

/* Map a section's first frames (above), then its descriptors. 0, -EEXIST or -ENOMEM. */
static int map_section(struct zone *zone, unsigned long nr)
{
	int map = map_section_frames(zone, nr), err;

	if (map < 0)
		return map;
	err = os_map_at(section_descriptors(nr), SECTION_MAP_BYTES);
	if (err) {
		unmap_subsections(nr, (uint8_t)map);
		return err;
	}
	/* Descriptors are node-local too, as the kernel allocates each node's memmap. */
	if (zone->mempolicy >= 0)
		os_mbind(section_descriptors(nr), SECTION_MAP_BYTES, zone->mempolicy,
		         zone->phys_node);
	mem_section[nr].subsection_map = (uint8_t)map;
	return 0;
}

int sparse_map_pages(struct zone *zone, unsigned long pfn, unsigned long nr_pages)
{
	unsigned long nr = pfn_to_section_nr(pfn), base = nr << PFN_SECTION_SHIFT;
	unsigned int first = subsection_index(pfn), last = subsection_index(pfn + nr_pages - 1);
	uint8_t map = mem_section[nr].subsection_map;

	for (unsigned int i = first, j; i <= last; i = j) {
		int err;

		for (j = i; j <= last && (map >> j & 1) == (map >> i & 1); j++)
			;
		if (map >> i & 1)
			continue;
		err = map_frames(zone, base + i * PAGES_PER_SUBSECTION,
		                 (j - i) * PAGES_PER_SUBSECTION);
		if (err)
			return err;
		map |= (uint8_t)(((1U << (j - i)) - 1) << i);
		WRITE_ONCE(mem_section[nr].subsection_map, map);
	}
	return 0;
}

void sparse_release_pages(unsigned long pfn, unsigned long nr_pages)
{
	unsigned long nr = pfn_to_section_nr(pfn), end = pfn + nr_pages;
	uint8_t map = READ_ONCE(mem_section[nr].subsection_map);

	for (; pfn < end; pfn = ALIGN_UP(pfn + 1, PAGES_PER_SUBSECTION)) {
		unsigned long stop = min_ul(end, ALIGN_UP(pfn + 1, PAGES_PER_SUBSECTION));

		if (map >> subsection_index(pfn) & 1) {
			memory_notify(MEM_RELEASING, pfn_frames(pfn), (stop - pfn) << PAGE_SHIFT);
			os_release(pfn_frames(pfn), (stop - pfn) << PAGE_SHIFT);
			memory_notify(MEM_RELEASED, pfn_frames(pfn), (stop - pfn) << PAGE_SHIFT);
		}
	}
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
			unmap_subsections(batch[i], mem_section[batch[i]].subsection_map);
			os_unmap(section_descriptors(batch[i]), SECTION_MAP_BYTES);
		}
		kmm_lock(zone->lock);
		for (int i = 0; i < n; i++) {
			mem_section[batch[i]].subsection_map = 0;
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
