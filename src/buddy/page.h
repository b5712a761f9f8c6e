/*
 * Page descriptors: one struct page per 4 KiB frame of kmm's "physical memory".
 *
 * All zones live in one contiguous virtual window (the "physical address space"), and
 * one descriptor array, mem_map, describes it: the kernel's FLATMEM model. A pfn is a
 * frame's index from the start of that window, so virt_to_page, page_to_pfn,
 * pfn_to_page and page_address are a subtraction and a shift.
 *
 * Descriptors live outside the frames (DESIGN rule 3). mem_map is reserved without a
 * commit charge and a zone initializes the descriptors of a max-order block only when
 * it first hands that block out (deferred struct page init), so descriptor memory is
 * paid for frames in use, not for the whole window.
 *
 * Who may write what:
 *  - a free block's head (PG_buddy) belongs to its zone and changes under zone->lock;
 *  - a page on a per-CPU list belongs to that pcp and changes under pcp->lock;
 *  - an allocated block's head belongs to whoever holds the block.
 */
#ifndef KMM_BUDDY_PAGE_H
#define KMM_BUDDY_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "../base/compiler.h"
#include "../base/list.h"
#include "../base/os.h"

/*
 * Page flags, named as in include/linux/page-flags.h. The top byte of page->flags holds
 * the node (= zone) the frame belongs to, as the kernel keeps it in its flags.
 */
enum pageflags {
	PG_buddy,         /* head of a free block in a free_area; page->order is its order */
	PG_head,          /* head of an allocated block of order > 0 (a compound page) */
	PG_reported,      /* free block whose frames were given back to the OS (page_reporting) */
	PG_slab,          /* frames of a slab (src/slab); every page of the slab has it */
	PG_large_kmalloc, /* head of a buddy block that kmalloc handed out whole */
	PG_lru,           /* on an LRU list (src/reclaim) */
	PG_active,
	PG_referenced,
	PG_dirty,
	PG_swapcache,
	PG_kmalloc_slab, /* head of a kmalloc cache's slab (src/slab): free() looks for it */
	NR_PAGEFLAGS
};

#define NODES_PGSHIFT 56
#define NODES_MASK    0xffUL

struct kmem_cache;

struct page {
	unsigned long flags; /* PG_* bits, node id in the top byte */
	union {
		/* PG_buddy, or on a per-CPU list */
		struct {
			struct list_head buddy_list;
			uint64_t freed_at_ms; /* when the block became free, for page reporting */
		};
		/*
		 * PG_slab (src/slab). freelist and counters change together with one
		 * double-word compare-and-swap (SLUB's cmpxchg_double), so they sit
		 * 16-byte aligned. Tail pages of a slab only carry PG_slab and order.
		 */
		struct {
			struct kmem_cache *slab_cache;
			void *freelist; /* free objects not held by any thread */
			union {
				unsigned long counters;
				struct {
					unsigned int inuse : 16;   /* objects not on freelist */
					unsigned int objects : 15; /* objects in the slab */
					unsigned int frozen : 1;   /* a thread's active slab */
					/* inuse when its frees were last counted */
					unsigned int inuse_mark : 16;
				};
			};
			struct list_head slab_list; /* on its node's partial list */
		};
		/* Room for the LRU view of a later layer. */
		unsigned long layer_private[5];
	};
	unsigned int order; /* free block order (PG_buddy) or allocation order (in use) */
	int _refcount;      /* 1 on the head of an allocated block, 0 everywhere else */
	union {
		/*
		 * Head of an allocated block that grew in place past the largest order: the
		 * max-order blocks it spans (the kernel keeps a gigantic folio's size in its
		 * head too). 0 on every other page.
		 */
		unsigned long contig_blocks;
		/*
		 * A slab's head: its cache's offset to the thread's kmem_cache_cpu (src/slab),
		 * set with slab_cache and cleared when the slab goes back.
		 */
		long slab_cpu_slab;
	};
};

_Static_assert(sizeof(struct page) == 64, "struct page should stay one cache line");
_Static_assert(offsetof(struct page, freelist) % 16 == 0, "cmpxchg16b needs 16-byte alignment");

#define PAGEFLAG(uname, lname)                                 \
	static inline int Page##uname(const struct page *page) \
	{                                                      \
		return (page->flags >> PG_##lname) & 1;        \
	}                                                      \
	static inline void SetPage##uname(struct page *page)   \
	{                                                      \
		page->flags |= 1UL << PG_##lname;              \
	}                                                      \
	static inline void ClearPage##uname(struct page *page) \
	{                                                      \
		page->flags &= ~(1UL << PG_##lname);           \
	}

PAGEFLAG(Buddy, buddy)
PAGEFLAG(Head, head)
PAGEFLAG(Reported, reported)
PAGEFLAG(Slab, slab)
PAGEFLAG(LargeKmalloc, large_kmalloc)
PAGEFLAG(KmallocSlab, kmalloc_slab)

/* The physical address space: set once at initialization, read-only afterwards. */
extern char *kmm_phys_base KMM_HIDDEN;
extern unsigned long kmm_max_pfn KMM_HIDDEN; /* one past the last pfn */
extern struct page *mem_map KMM_HIDDEN;

static __always_inline unsigned long page_to_pfn(const struct page *page)
{
	return (unsigned long)(page - mem_map);
}

static __always_inline struct page *pfn_to_page(unsigned long pfn)
{
	return mem_map + pfn;
}

static __always_inline void *page_address(const struct page *page)
{
	return kmm_phys_base + (page_to_pfn(page) << PAGE_SHIFT);
}

static __always_inline unsigned long virt_to_pfn(const void *addr)
{
	return ((uintptr_t)addr - (uintptr_t)kmm_phys_base) >> PAGE_SHIFT;
}

static __always_inline struct page *virt_to_page(const void *addr)
{
	return pfn_to_page(virt_to_pfn(addr));
}

/* Whether @addr lies inside kmm's physical address space at all (below it, it wraps). */
static __always_inline int virt_addr_valid(const void *addr)
{
	return virt_to_pfn(addr) < kmm_max_pfn;
}

static inline int page_to_nid(const struct page *page)
{
	return (int)((page->flags >> NODES_PGSHIFT) & NODES_MASK);
}

static inline void set_page_node(struct page *page, int nid)
{
	page->flags = (page->flags & ~(NODES_MASK << NODES_PGSHIFT)) |
	              ((unsigned long)nid << NODES_PGSHIFT);
}

static inline int page_ref_count(const struct page *page)
{
	return page->_refcount;
}

static inline void set_page_refcounted(struct page *page)
{
	page->_refcount = 1;
}

#endif /* KMM_BUDDY_PAGE_H */
