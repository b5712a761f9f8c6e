/*
 * The page allocator's interface to the layers above it (slab, vmalloc, the public API).
 */
#ifndef KMM_BUDDY_PAGE_ALLOC_H
#define KMM_BUDDY_PAGE_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

#include "mmzone.h"

/*
 * Allocate 2^@order contiguous frames, aligned to their size, preferring the zone of
 * node @preferred_nid and falling back along its zonelist. NULL when every zone is
 * exhausted, even after draining the per-CPU lists. The caller has checked @order.
 */
struct page *__alloc_pages(unsigned int order, int preferred_nid);

/* Free a block that __alloc_pages returned with the same @order. */
void __free_pages(struct page *page, unsigned int order);

/*
 * Free a block whose memory has already gone back to the OS (MADV_DONTNEED) and was
 * not touched since: it goes to the tail of its free list marked reported, as page
 * reporting leaves blocks, so that allocations take resident blocks first and the
 * reporting does not release it twice.
 */
void __free_pages_released(struct page *page, unsigned int order);

/*
 * Grow an allocated block of @order to @new_order where it stands, taking the free
 * blocks above it (its upper buddy at each order in between). No copy: the data stays
 * where it is. False, and nothing changed, when the block is not the lower half at
 * every level or any of those buddies is taken.
 */
bool grow_pages_in_place(struct page *page, unsigned int order, unsigned int new_order);

/*
 * Allocate 2^@order frames for a block that is expected to grow (realloc): the lower end
 * of a free max-order block when there is one, so grow_pages_in_place and then
 * grow_contig_in_place find free buddies above it. Otherwise as __alloc_pages.
 */
struct page *alloc_pages_to_grow(unsigned int order, int preferred_nid);

/* Shrink an allocated block of @order to @new_order where it stands: its upper halves go free. */
void shrink_pages_in_place(struct page *page, unsigned int order, unsigned int new_order);

/*
 * Grow a run of @nr_blocks allocated max-order blocks (its head @page) to @new_nr_blocks
 * over the free max-order blocks after it, where it stands (the kernel's
 * alloc_contig_range, in place). False, and nothing taken, when any of them is not free
 * or past the zone's end.
 */
bool grow_contig_in_place(struct page *page, unsigned long nr_blocks, unsigned long new_nr_blocks);

/*
 * Free @nr_blocks max-order blocks from @page on, the last first, so that the first one
 * is at the head of the free list: the next growing block starts there again, with the
 * others still free after it.
 */
void free_contig_range(struct page *page, unsigned long nr_blocks);

/* Return every per-CPU list's pages to their zones (memory is short, or a trim). */
void drain_all_pages(void);

/*
 * Free pages of @zone in every form: on its free lists, on per-CPU lists, and not yet
 * initialized. Exact when no other thread is allocating.
 */
unsigned long zone_available_pages(struct zone *zone);

/*
 * A shrinker: a layer above that holds free memory of its own (vmalloc's lazily freed
 * areas) gives it back when page reporting's clock says so, or all of it at once when
 * @force. Called with the current time and with any lock of the slab layer possibly
 * held, so it takes none of those; returns when it wants to be called next (UINT64_MAX:
 * nothing pending). page_reporting_schedule asks for a call by @when.
 */
typedef uint64_t (*shrinker_fn)(uint64_t now, bool force);

void register_shrinker(shrinker_fn fn);
void page_reporting_schedule(uint64_t when);

/*
 * Memory is short (an allocation or a mapping was refused): every shrinker gives back
 * all it holds, the per-CPU lists are drained, and the sections left wholly free are
 * hot-removed, so what was freed in any size can serve any other (the kernel's
 * drop_caches, in the order its __alloc_pages_slowpath drains and shrinks). Called
 * without zone, pcp or vmalloc locks.
 */
void drop_caches(void);

/*
 * The process has an address-space limit, so address space, not memory, is what runs
 * out first: large blocks are then better mapped to their size (kmalloc.c). Read at
 * start-up and each time a zone grows by a section, so a limit lowered later is seen
 * within a section's worth of growth. Written under a zone's lock, read without one.
 */
extern bool address_space_limited KMM_HIDDEN;

/*
 * The memory notifier (the kernel's register_memory_notifier, for one listener): called
 * with each range of frames or of a vmalloc area as kmm maps it (MEM_MAPPED, also for an
 * area that mremap moved), and as it gives a range's pages back to the OS or unmaps it:
 * MEM_RELEASING before (what was swapped out of it is dropped, so nothing but zeros can
 * come back), MEM_RELEASED after. Called under the lock of whoever does it (zone->lock
 * for frames mapped or unmapped; none for page reporting's release or for vmalloc).
 * hugetlb frames are not announced.
 *
 * A listener that swaps pages out (@swaps) keeps their data by address, so the
 * allocator must not move a mapping's page tables (mremap) while memory_swaps() says so:
 * a copy keeps the swapped pages, a move would leave them behind.
 */
enum memory_action { MEM_MAPPED, MEM_RELEASING, MEM_RELEASED };
typedef void (*memory_notifier_fn)(enum memory_action action, void *start, size_t size);
void register_memory_notifier(memory_notifier_fn fn, bool swaps);
void memory_notify(enum memory_action action, void *start, size_t size);
bool memory_swaps(void);

/*
 * Set by the notifier's listener while no more memory can be charged (under
 * KMM_MEM_LIMIT, with swap full or failing): what would take fresh memory then fails
 * (a pcp list's refill from its zone, a block from a zone, a new vmalloc area) once
 * free memory was given back and the listener still says so, and the caller gets
 * ENOMEM. The fast paths that reuse a CPU's free pages do not look.
 */
extern bool memory_exhausted KMM_HIDDEN;

/* memory_exhausted was seen: false when giving free memory back cleared it. */
bool memory_exhausted_after_release(void);

/*
 * Give every free block back to the OS now, whatever its age and its order (page
 * reporting keeps blocks under 2 MiB; under a memory limit free memory must not be
 * swapped): for kswapd, with no lock held. Returns the pages given back.
 */
unsigned long release_free_pages(void);

/* @fn(MEM_MAPPED, …) for each range of frames mapped now (not hugetlb), under zone->lock. */
void for_each_mapped_frames(memory_notifier_fn fn);

/* fork(): take every page allocator lock in rank order, then release or reset them. */
void page_alloc_fork_prepare(void);
void page_alloc_fork_parent(void);
void page_alloc_fork_child(void);

#endif /* KMM_BUDDY_PAGE_ALLOC_H */
