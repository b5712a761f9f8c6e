/*
 * Inside the reclaim layer: the per-page state that the fault path (memory.c), aging
 * and eviction (vmscan.c) and the swap devices (swapfile.c) share.
 *
 * Every page of registered memory (a frame of the physical range, or a page of the
 * vmalloc window) has a struct page_ext, indexed by pfn for frames and by kmm_max_pfn
 * plus its page number in the window for vmalloc pages: the kernel's page_ext, extra
 * state kept beside the page descriptors rather than in them, because here a slab's
 * frames, whose descriptors the slab layer owns, age and swap like any other page,
 * and vmalloc pages have no descriptor at all.
 *
 * A page is in exactly one of four states, told by its page_ext:
 *  - none (no flags, no swap entry): not resident and holding no data; a touch gets
 *    zeros;
 *  - active (PG_lru | PG_active): resident at its own address;
 *  - inactive (PG_lru): resident, but moved out of the program's reach into the
 *    staging mirror (staging_base + index pages), so that the next touch faults and
 *    shows the page is in use (the referenced bit that userspace cannot read);
 *  - swapped out (a swap entry, no PG_lru): its data is in a swap slot only.
 * An active or inactive page may also be in the swap cache (PG_swapcache, with its swap
 * entry): it came in from the swap file and its slot still holds what it held then. At
 * the inactive tail, out of the program's reach, its contents are checked against a
 * 64-bit hash taken when it came in: the same, it is dropped without a write; changed,
 * it leaves the swap cache and is written like any other. It also leaves it when it is
 * freed; a move back from the staging mirror keeps it there (the hash still decides).
 * PG_lru is a page's charge: a page of the heap counts in the memory counter exactly
 * while it has it. The compressed tier's pool (zswap.c) is charged beside the pages,
 * by the chunk, so that the heap and the pool together stay under the limit.
 *
 * Invariants:
 *  - every state change, list operation and swap_map update happens under
 *    reclaim_lock, and the page's contents move (UFFDIO_MOVE, COPY, the swap write)
 *    under the same hold, so no thread sees a page between two states;
 *  - a holder of reclaim_lock never touches registered memory that may be missing
 *    (only the staging copies it knows to be there, and its own buffers): the fault
 *    handler takes the lock to serve faults, and nobody may wait for it while holding
 *    the lock.
 *
 * Lock order: zone->lock (the memory notifier runs under it) -> reclaim_lock.
 */
#ifndef KMM_RECLAIM_INTERNAL_H
#define KMM_RECLAIM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../base/lock.h"
#include "../base/os.h"
#include "../buddy/page.h"
#include "../vmalloc/vmalloc.h"
#include "memory.h"

#define EXT_NONE UINT32_MAX /* no page: the end of an LRU list */

/* Flags of a page_ext, named as the kernel's page flags they stand for. */
enum page_ext_flags {
	PG_lru,        /* charged and on an LRU list */
	PG_active,     /* on the active list, mapped where the program put it */
	PG_referenced, /* touched while inactive: was promoted from the inactive list */
	PG_swapcache,  /* holds a swap slot and its resident copy (swap cache) */
};

/*
 * A swap entry (the kernel's swp_entry_t): the device in the top bits, the slot below.
 * Slot 0 of every device is never handed out (the kernel keeps its header there), so
 * an entry of 0 is no entry.
 */
typedef struct {
	uint32_t val;
} swp_entry_t;

#define SWP_TYPE_SHIFT 26
#define MAX_SWAPFILES  (1U << (32 - SWP_TYPE_SHIFT))
#define SWP_OFFSET_MAX ((1UL << SWP_TYPE_SHIFT) - 1)

static inline swp_entry_t swp_entry(unsigned int type, unsigned long offset)
{
	return (swp_entry_t){.val = (uint32_t)(type << SWP_TYPE_SHIFT | offset)};
}

static inline unsigned int swp_type(swp_entry_t entry)
{
	return entry.val >> SWP_TYPE_SHIFT;
}

static inline unsigned long swp_offset(swp_entry_t entry)
{
	return entry.val & SWP_OFFSET_MAX;
}

struct page_ext {
	uint32_t flags;
	uint32_t prev, next; /* LRU links, page_ext indices */
	swp_entry_t swap;
};

enum lru_list { LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, NR_LRU_LISTS };

/* The kernel's lruvec, one per node: the pages' two lists, oldest at the tail. */
struct lruvec {
	uint32_t head[NR_LRU_LISTS], tail[NR_LRU_LISTS];
	unsigned long nr_pages[NR_LRU_LISTS];
};

extern struct page_ext *page_ext_map KMM_HIDDEN;
extern char *staging_base KMM_HIDDEN;
extern kmm_lock_t reclaim_lock KMM_HIDDEN;
extern struct page_counter memory_counter KMM_HIDDEN;
extern struct reclaim_events reclaim_events KMM_HIDDEN;
extern bool reclaim_swapping KMM_HIDDEN; /* a limit is set: pages may be swapped out */

/* Index of the page at @addr, or EXT_NONE outside registered memory. */
static inline uint32_t page_ext_index(uintptr_t addr)
{
	uintptr_t phys = addr - (uintptr_t)kmm_phys_base;

	if (phys < (kmm_max_pfn << PAGE_SHIFT))
		return (uint32_t)(phys >> PAGE_SHIFT);
	if (is_vmalloc_addr((void *)addr))
		return (uint32_t)(kmm_max_pfn + ((addr - (uintptr_t)vmalloc_start) >> PAGE_SHIFT));
	return EXT_NONE;
}

static inline uintptr_t page_ext_address(uint32_t index)
{
	if (index < kmm_max_pfn)
		return (uintptr_t)kmm_phys_base + ((uintptr_t)index << PAGE_SHIFT);
	return (uintptr_t)vmalloc_start + ((uintptr_t)(index - kmm_max_pfn) << PAGE_SHIFT);
}

static inline char *staging_address(uint32_t index)
{
	return staging_base + ((uintptr_t)index << PAGE_SHIFT);
}

static inline bool page_ext_test(const struct page_ext *ext, enum page_ext_flags flag)
{
	return ext->flags >> flag & 1;
}

/*
 * Pages given back to the OS together (the kernel's mmu_gather): one process_madvise
 * for up to MMU_GATHER_MAX ranges, so that the other CPUs' TLBs are flushed once for
 * the batch instead of once per range, which on two CPUs costs more than the
 * reclaim itself. Where process_madvise cannot drop pages (before Linux 6.13), one
 * madvise per range.
 */
#define MMU_GATHER_MAX 64

struct mmu_gather {
	struct iovec ranges[MMU_GATHER_MAX];
	unsigned int nr;
};

/* Give [@addr, @addr + @len) back with the rest of the batch (a neighbour of the last
 * range extends it). */
void tlb_remove_range(struct mmu_gather *tlb, void *addr, size_t len);
/* Give back everything gathered; the batch is empty again. */
void tlb_finish_mmu(struct mmu_gather *tlb);

/* memory.c: the userfaultfd, for UFFDIO_MOVE out of the program's reach. */
int uffd_descriptor(void);

/* ---- vmscan.c: the LRU lists, the watermarks, kswapd -------------------------------- */

/* Charge the page and put it at the head of its active list (it was just touched). */
void lru_add_active(uint32_t index);
/* Add @pages (negative: take them off) to @counter, and follow its high watermark. */
void page_counter_charge(struct page_counter *counter, long pages);
/* Uncharge the page and take it off its list (and out of the swap cache). */
void lru_del(uint32_t index);
/*
 * A page swapped in from the file, whose contents were @data, keeps its slot as its copy
 * (the swap cache) for as long as it still holds them.
 */
void swapcache_add(uint32_t index, const char *data);
/* Out of the swap cache: the slot is freed (the copy is stale or no longer needed). */
void swapcache_del(uint32_t index);
/* A page touched while inactive, moved back: to the active list. */
void lru_activate(uint32_t index);

/*
 * Make room for @nr_pages more before the handler brings them in: direct reclaim when
 * they would cross the limit, and a wake-up for kswapd when the headroom falls below
 * the low watermark. Under reclaim_lock.
 */
void reclaim_make_room(unsigned long nr_pages);

int vmscan_init(unsigned long limit_pages);
int kswapd_start(void);
void vmscan_fork_child(void);

/* ---- swapfile.c: the swap devices ---------------------------------------------------- */

/* More than half of the device that takes writes is in use (the kernel's vm_swap_full). */
bool vm_swap_full(void);

/* Slots for @nr pages, consecutive where possible: how many got one (0: swap full). */
unsigned int get_swap_pages(unsigned int nr, swp_entry_t *entries);
/* Drop the reference of a page to its slot. */
void swap_free(swp_entry_t entry);
/* Write @nr pages from @pages to @entries; 0 or a negative errno (nothing written). */
int swap_writepages(swp_entry_t *entries, char *const *pages, unsigned int nr);
/* Read the @nr slots from @first, consecutive on one device, into @buf. */
int swap_readpages(swp_entry_t first, unsigned int nr, char *buf);
int swapfile_init(void);
/* fork: every slot in use is shared with the other process, and written no more. */
void swap_fork_freeze(void);
void swap_collect(struct swap_stats *out);

/* ---- zswap.c: the compressed tier in front of the devices ---------------------------- */

/* Keep @page, compressed, as the data of @swp: false when it stays for the file. */
bool zswap_store(swp_entry_t swp, const char *page);
/* Whether @swp's data is in the pool rather than in the file. */
bool zswap_present(swp_entry_t swp);
/* @swp's page, present in the pool, into @dst: 0, or -EIO when it does not decompress. */
int zswap_load(swp_entry_t swp, char *dst);
/* The slot is free: drop its compressed copy, if it has one. */
void zswap_invalidate(swp_entry_t swp);
/* Device @type is gone: its table of entries with it. */
void zswap_swapoff(unsigned int type);
int zswap_init(unsigned long limit_pages);
void zswap_collect(struct zswap_stats *out);

#endif /* KMM_RECLAIM_INTERNAL_H */
