/*
 * Page descriptors: one struct page per 4 KiB frame of kmm's "physical memory".
 *
 * The physical address space is one range of virtual addresses, and one descriptor
 * array, mem_map, spans it: the kernel's SPARSEMEM_VMEMMAP model. A pfn is a frame's
 * index from the start of that range, so virt_to_page, page_to_pfn, pfn_to_page and
 * page_address are a subtraction and a shift. Neither range is reserved: memory comes
 * in 16 MiB sections (sparse.h), each mapped with its part of mem_map when a zone
 * hot-adds it and unmapped when the zone hot-removes it, so a pfn is only valid
 * (pfn_valid) while its section is online, and the address space a process holds
 * follows the memory it uses.
 *
 * Descriptors live outside the frames (DESIGN rule 3). A new section's descriptors are
 * zero, which is a valid state for every page but the heads of its free blocks, and the
 * node of a page is its section's, so hot-adding writes four descriptors, not 4,096.
 *
 * Who may write what:
 *  - a free block's head (PG_buddy) belongs to its zone and changes under zone->lock;
 *  - a page on a per-CPU list belongs to that pcp and changes under pcp->lock;
 *  - an allocated block's head belongs to whoever holds the block;
 *  - a section's state changes under its zone's lock (sparse.c).
 */
#ifndef KMM_BUDDY_PAGE_H
#define KMM_BUDDY_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "../base/compiler.h"
#include "../base/list.h"
#include "../base/os.h"

/* Page flags, named as in include/linux/page-flags.h. */
enum pageflags {
	PG_buddy,         /* head of a free block in a free_area; page->order is its order */
	PG_head,          /* head of an allocated block of order > 0 (a compound page) */
	PG_reported,      /* free block whose frames were given back to the OS (page_reporting) */
	PG_slab,          /* frames of a slab (src/slab); every page of the slab has it */
	PG_large_kmalloc, /* head of a buddy block that kmalloc handed out whole */
	PG_kmalloc_slab,  /* head of a kmalloc cache's slab (src/slab): free() looks for it */
	NR_PAGEFLAGS
};

struct kmem_cache;

struct page {
	unsigned long flags; /* PG_* bits */
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

/*
 * Sections (the kernel's mem_section): 16 MiB, four max-order blocks, the unit in which
 * zones grow and shrink. A section's frames are mapped by subsections of 2 MiB (the
 * kernel's SUBSECTION_SHIFT, a huge page each) as blocks in them are first handed out.
 */
#define SECTION_SIZE_BITS       24
#define PFN_SECTION_SHIFT       (SECTION_SIZE_BITS - PAGE_SHIFT)
#define PAGES_PER_SECTION       (1UL << PFN_SECTION_SHIFT)
#define SECTION_BYTES           (1UL << SECTION_SIZE_BITS)
#define SUBSECTION_SHIFT        21
#define PAGES_PER_SUBSECTION    (1UL << (SUBSECTION_SHIFT - PAGE_SHIFT))
#define SUBSECTIONS_PER_SECTION (1U << (SECTION_SIZE_BITS - SUBSECTION_SHIFT))

enum section_state {
	SECTION_ABSENT,   /* nothing mapped: never added, or hot-removed */
	SECTION_ONLINE,   /* frames and descriptors mapped, its blocks in its zone */
	SECTION_REMOVING, /* taken out of its zone, being unmapped */
	SECTION_HOLE,     /* another mapping of the process sits in its range */
};

struct mem_section {
	/*
	 * Added to a pfn's descriptor offset, the descriptor (the kernel's
	 * section_mem_map): mem_map while the section is online, else a page of zero
	 * descriptors shared by every section that is not (nothing there is a slab or a
	 * block), so free() may read the descriptor of any address in the physical range
	 * before it knows the address is kmm's.
	 */
	uintptr_t section_mem_map;
	uint8_t state; /* enum section_state; written under the zone's lock */
	uint8_t nid;   /* the zone (node) whose span holds it; set at initialization */
	/* Subsections whose frames are mapped, a bit each; written under the zone's lock. */
	uint8_t subsection_map;
};

_Static_assert(SUBSECTIONS_PER_SECTION <= 8, "subsection_map has a bit per subsection");

extern struct mem_section *mem_section KMM_HIDDEN; /* [kmm_max_pfn >> PFN_SECTION_SHIFT] */

static __always_inline unsigned long pfn_to_section_nr(unsigned long pfn)
{
	return pfn >> PFN_SECTION_SHIFT;
}

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

/* The kernel's pfn_valid(): @pfn has a descriptor one may read (its section is online). */
static __always_inline int pfn_valid(unsigned long pfn)
{
	/*
	 * Relaxed: a block kmm handed out was published after its section came online, and
	 * a section goes only when none of its blocks is allocated.
	 */
	return pfn < kmm_max_pfn && __atomic_load_n(&mem_section[pfn_to_section_nr(pfn)].state,
	                                            __ATOMIC_RELAXED) == SECTION_ONLINE;
}

/* Whether @addr lies in kmm's physical range, online or not (below it, it wraps). */
static __always_inline int virt_addr_in_range(const void *addr)
{
	return virt_to_pfn(addr) < kmm_max_pfn;
}

/*
 * The descriptor of @pfn in the physical range: the real one if its section is online,
 * else a zero one, which nobody may write.
 */
static __always_inline struct page *pfn_to_page_any(unsigned long pfn)
{
	return (struct page *)(__atomic_load_n(&mem_section[pfn_to_section_nr(pfn)].section_mem_map,
	                                       __ATOMIC_RELAXED) +
	                       pfn * sizeof(struct page));
}

/* Whether @addr lies in an online section of kmm's physical memory (below it, it wraps). */
static __always_inline int virt_addr_valid(const void *addr)
{
	return pfn_valid(virt_to_pfn(addr));
}

static inline int page_to_nid(const struct page *page)
{
	return mem_section[pfn_to_section_nr(page_to_pfn(page))].nid;
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
