/*
 * kmalloc and its size classes; see kmalloc.h.
 */
#include "kmalloc.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "../base/printk.h"
#include "../buddy/page_alloc.h"
#include "../buddy/topology.h"
#include "../init.h"
#include "../vmalloc/vmalloc.h"

static const unsigned int kmalloc_sizes[NR_KMALLOC_CACHES] = {
        8,    16,   32,   48,   64,   80,   96,   112,  128,  160,  192,
        224,  256,  320,  384,  448,  512,  640,  768,  896,  1024, 1280,
        1536, 1792, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
};

/* Generated from kmalloc_sizes: the smallest class (at least 16 bytes) that fits. */
const uint8_t kmalloc_size_index_small[KMALLOC_SMALL_MAX / 16 + 1] = {
        1,  1,  2,  3,  4,  5,  6,  7,  8,  9,  9,  10, 10, 11, 11, 12, 12, 13, 13, 13, 13, 14,
        14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 16, 17, 17, 17, 17, 17, 17, 17, 17, 18, 18, 18,
        18, 18, 18, 18, 18, 19, 19, 19, 19, 19, 19, 19, 19, 20, 20, 20, 20, 20, 20, 20, 20,
};

const uint8_t kmalloc_size_index_large[KMALLOC_MAX_CACHE_SIZE / 256 + 1] = {
        1,  12, 16, 18, 20, 21, 22, 23, 24, 25, 25, 26, 26, 27, 27, 28, 28,
        29, 29, 29, 29, 30, 30, 30, 30, 31, 31, 31, 31, 32, 32, 32, 32,
};

/* The kernel's names: kmalloc-96, kmalloc-1k, kmalloc-8k. */
static void kmalloc_name(char *buf, size_t len, unsigned int size)
{
	if (size >= 1024 && size % 1024 == 0)
		kmm_snprintf(buf, len, "kmalloc-%uk", size / 1024);
	else
		kmm_snprintf(buf, len, "kmalloc-%u", size);
}

/*
 * The thread's freed large blocks of orders LARGE_CACHE_MIN_ORDER to
 * PAGE_ALLOC_COSTLY_ORDER (above 8 KiB, up to 32 KiB), kept for its next request of
 * the same order: the kernel's per-CPU page lists, which serve these orders too, but
 * per thread and so without their lock, whose two atomic instructions per allocation
 * and two per free were most of the 35-43 ns an allocation and free of 32 KiB took
 * (docs/slab.md). LARGE_CACHE_SLOTS of each order: 96 KiB a thread at most, given back
 * when the thread exits, or when it calls malloc_trim. A fork child does not get back
 * those of the threads it does not have, nor does one thread's malloc_trim another's.
 */
#define LARGE_CACHE_SLOTS     2
#define LARGE_CACHE_MIN_ORDER 2 /* kmalloc_large serves more than 8 KiB: 3 pages or more */
#define LARGE_CACHE_ORDERS    (PAGE_ALLOC_COSTLY_ORDER - LARGE_CACHE_MIN_ORDER + 1)

struct large_cache {
	struct page *blocks[LARGE_CACHE_ORDERS][LARGE_CACHE_SLOTS];
	unsigned char nr[LARGE_CACHE_ORDERS];
	bool registered; /* the exit hook will run */
	bool exiting;    /* it ran: keep nothing from now on */
};

static __thread struct large_cache large_cache __attribute__((tls_model("initial-exec")));
static pthread_key_t large_cache_key;
/*
 * glibc keeps the values of the first 32 keys in the thread descriptor
 * (PTHREAD_KEY_2NDLEVEL_SIZE); setting a later key's value allocates, from inside
 * kmalloc, and the slab layer's own registration there would race it. So the cache is
 * used only when kmm's key is one of the first 32, as it is when kmm starts with the
 * program's first allocation.
 */
static bool large_cache_enabled;

static bool large_cache_order(unsigned int order)
{
	return order >= LARGE_CACHE_MIN_ORDER && order <= PAGE_ALLOC_COSTLY_ORDER;
}

/*
 * A thread caches from its first allocation of such a block on, when its exit hook is
 * set. Not from a free: glibc frees some of a thread's memory after the key
 * destructors have run, and a hook set then would never run.
 */
static struct page *large_cache_pop(unsigned int order)
{
	struct large_cache *lc = &large_cache;
	unsigned int i = order - LARGE_CACHE_MIN_ORDER;

	if (unlikely(!lc->registered) && !lc->exiting && large_cache_enabled)
		lc->registered = pthread_setspecific(large_cache_key, lc) == 0;
	if (!lc->nr[i])
		return NULL;
	return lc->blocks[i][--lc->nr[i]];
}

static bool large_cache_push(struct page *page)
{
	struct large_cache *lc = &large_cache;
	unsigned int i = page->order - LARGE_CACHE_MIN_ORDER;

	if (lc->nr[i] == LARGE_CACHE_SLOTS || !lc->registered || lc->exiting)
		return false;
	lc->blocks[i][lc->nr[i]++] = page;
	return true;
}

/* Give the calling thread's cached blocks back to the page allocator. */
void kmalloc_large_cache_drain(void)
{
	struct large_cache *lc = &large_cache;

	for (unsigned int i = 0; i < LARGE_CACHE_ORDERS; i++)
		while (lc->nr[i])
			__free_pages(lc->blocks[i][--lc->nr[i]], i + LARGE_CACHE_MIN_ORDER);
}

static void large_cache_exit(void *arg)
{
	struct large_cache *lc = arg;

	lc->exiting = true;
	lc->registered = false;
	kmalloc_large_cache_drain();
}

int kmalloc_init(void)
{
	large_cache_enabled =
	        pthread_key_create(&large_cache_key, large_cache_exit) == 0 && large_cache_key < 32;
	for (int i = 0; i < NR_KMALLOC_CACHES; i++) {
		struct kmem_cache *s = &kmem_caches[i];
		char name[SLAB_NAME_LEN];

		kmalloc_name(name, sizeof(name), kmalloc_sizes[i]);
		s->in_use = true;
		if (kmem_cache_setup(s, name, kmalloc_sizes[i], kmalloc_sizes[i] < 16 ? 8 : 16,
		                     SLAB_KMALLOC, NULL) != 0)
			return -1;
	}
	return 0;
}

static unsigned int get_order(size_t size)
{
	size_t pages = (size >> PAGE_SHIFT) + ((size & (PAGE_SIZE - 1)) != 0);

	return pages <= 1 ? 0 : 64 - (unsigned int)__builtin_clzl(pages - 1);
}

/* A buddy block for kmalloc, marked as a large kmalloc block; NULL (ENOMEM) for none. */
static void *large_kmalloc_block(struct page *page)
{
	if (unlikely(!page)) {
		errno = ENOMEM;
		return NULL;
	}
	SetPageLargeKmalloc(page);
	return page_address(page);
}

void kmalloc_reclaim(void)
{
	kmalloc_large_cache_drain();
	kmem_cache_shrink_all();
	drop_caches();
}

/*
 * The kernel's kvmalloc choice, made on address space: under an address-space limit, a
 * block of at least this many pages that is not a power of two is a vmalloc area mapped
 * to its size rather than a buddy block rounded up to one (a 600 KiB block would hold
 * 1 MiB of the limit), as glibc maps blocks from its mmap threshold of 128 KiB on.
 */
#define KVMALLOC_MIN_PAGES 32

static bool kvmalloc_maps_exactly(size_t need)
{
	size_t pages = ALIGN_UP(need, PAGE_SIZE) >> PAGE_SHIFT;

	return READ_ONCE(address_space_limited) && pages >= KVMALLOC_MIN_PAGES &&
	       (pages & (pages - 1)) != 0;
}

/*
 * A vmalloc area for a block that needs @need bytes, when kvmalloc_maps_exactly() says
 * so; else, or when the window has no room, NULL with errno as it was: the caller then
 * takes a buddy block, rounded up.
 */
static void *kvmalloc_area(size_t need, size_t size, size_t align)
{
	int saved_errno = errno;
	void *area;

	if (!kvmalloc_maps_exactly(need))
		return NULL;
	area = vmalloc_aligned(size, align);
	if (!area)
		errno = saved_errno;
	return area;
}

static void *__kmalloc_large(size_t size, size_t align)
{
	size_t need = size > align ? size : align;
	unsigned int order = get_order(need);
	void *area;

	if (unlikely(size > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	if (order > MAX_PAGE_ORDER)
		return vmalloc_aligned(size, align);
	area = kvmalloc_area(need, size, align);
	if (area)
		return area;
	if (unlikely(!kmm_ensure_init())) {
		errno = ENOMEM;
		return NULL;
	}
	if (large_cache_order(order)) {
		struct page *page = large_cache_pop(order);

		if (page)
			return large_kmalloc_block(page);
	}
	return large_kmalloc_block(__alloc_pages(order, numa_node_id()));
}

void *kmalloc_large(size_t size, size_t align)
{
	void *obj = __kmalloc_large(size, align);

	if (unlikely(!obj) && size <= PTRDIFF_MAX && kmm_init_state == KMM_READY) {
		kmalloc_reclaim();
		obj = __kmalloc_large(size, align);
	}
	return obj;
}

/*
 * realloc moves a block of at least this order to the start of a free max-order block,
 * where it can keep growing without a copy. Smaller ones take the best fit: copying
 * them costs less than the memory a split max-order block leaves around them (2.5 %
 * more peak RSS in the python3 benchmark when every move got room).
 */
#define KREALLOC_ROOM_ORDER 6

/* A large block for realloc to move a block of @size into. */
static void *kmalloc_large_to_grow(size_t size)
{
	unsigned int order = get_order(size);
	void *area;

	if (order < KREALLOC_ROOM_ORDER)
		return kmalloc_large(size, PAGE_SIZE);
	if (order > MAX_PAGE_ORDER)
		return vmalloc_aligned(size, PAGE_SIZE);
	area = kvmalloc_area(size, size, PAGE_SIZE);
	if (area)
		return area;
	return large_kmalloc_block(alloc_pages_to_grow(order, numa_node_id()));
}

/* Frames of a large kmalloc block: one buddy block, or a run of max-order blocks. */
static unsigned long large_kmalloc_pages(const struct page *page)
{
	return page->contig_blocks ? page->contig_blocks << MAX_PAGE_ORDER : 1UL << page->order;
}

static void free_large_kmalloc(struct page *page)
{
	unsigned long blocks = page->contig_blocks;

	ClearPageLargeKmalloc(page);
	if (blocks) {
		page->contig_blocks = 0;
		free_contig_range(page, blocks);
	} else if (!large_cache_order(page->order) || !large_cache_push(page)) {
		__free_pages(page, page->order);
	}
}

void *kmalloc(size_t size)
{
	void *obj;

	if (unlikely(size > KMALLOC_MAX_CACHE_SIZE))
		return kmalloc_large(size, PAGE_SIZE);
	obj = slab_alloc(size <= 8 ? &kmem_caches[0] : kmalloc_slab(size));
	if (unlikely(!obj)) {
		kmalloc_reclaim();
		obj = slab_alloc(size <= 8 ? &kmem_caches[0] : kmalloc_slab(size));
	}
	if (unlikely(!obj))
		errno = ENOMEM;
	return obj;
}

void *kmalloc_aligned(size_t size, size_t align)
{
	size_t need = size > align ? size : align;
	void *obj;

	if (align <= 16)
		return kmalloc(size < 16 ? 16 : size);
	if (need > KMALLOC_MAX_CACHE_SIZE)
		return kmalloc_large(size, align);
	/* Power-of-two classes are aligned to their size. */
	need = 1UL << (64 - __builtin_clzl(need - 1));
	obj = slab_alloc(kmalloc_slab(need));
	if (unlikely(!obj)) {
		kmalloc_reclaim();
		obj = slab_alloc(kmalloc_slab(need));
	}
	if (unlikely(!obj))
		errno = ENOMEM;
	return obj;
}

enum kmalloc_kind kmalloc_classify(const void *obj, const char *caller, struct page **pagep)
{
	if (likely(virt_addr_valid(obj))) {
		struct page *slab = virt_to_slab(obj);
		struct page *page;

		if (likely(slab)) {
			if (unlikely(!slab_object_valid(slab->slab_cache, obj)))
				kmm_bug("%s(): invalid pointer %p (inside an object of %s)", caller,
				        obj, slab->slab_cache->name);
			*pagep = slab;
			return KMALLOC_SLAB;
		}
		page = virt_to_page(obj);
		if (PageLargeKmalloc(page) && page_address(page) == obj) {
			*pagep = page;
			return KMALLOC_LARGE;
		}
	} else if (is_vmalloc_addr(obj) && vmalloc_size(obj)) {
		*pagep = NULL;
		return KMALLOC_VMALLOC;
	}
	kmm_bug("%s(): invalid pointer %p (not an allocated block from kmm)", caller, obj);
}

void kfree_caller(const void *obj, const char *caller)
{
	struct page *page;

	switch (kmalloc_classify(obj, caller, &page)) {
	case KMALLOC_SLAB:
		slab_free(page->slab_cache, page, (void *)(uintptr_t)obj, caller);
		break;
	case KMALLOC_LARGE:
		free_large_kmalloc(page);
		break;
	case KMALLOC_VMALLOC:
		vfree_caller(obj, caller);
		break;
	}
}

size_t ksize_caller(const void *obj, const char *caller)
{
	struct page *page;

	switch (kmalloc_classify(obj, caller, &page)) {
	case KMALLOC_SLAB:
		return page->slab_cache->object_size;
	case KMALLOC_LARGE:
		return large_kmalloc_pages(page) << PAGE_SHIFT;
	case KMALLOC_VMALLOC:
		return vmalloc_size(obj);
	}
	return 0;
}

/*
 * Frames a large block of @size takes: a power of two up to the largest order, whole
 * max-order blocks above it.
 */
static unsigned long large_kmalloc_pages_for(size_t size)
{
	unsigned long pages = ALIGN_UP(size, PAGE_SIZE) >> PAGE_SHIFT;

	if (pages > MAX_ORDER_NR_PAGES)
		return ALIGN_UP(pages, MAX_ORDER_NR_PAGES);
	return 1UL << get_order(size);
}

/*
 * Grow a large block over the free blocks above it: its buddies up to the largest
 * order, then the max-order blocks after it. No copy. False when one of them is taken;
 * the block may then have grown part of the way, which its owner does not see.
 */
static bool grow_large_in_place(struct page *page, unsigned long pages, unsigned long new_pages)
{
	unsigned long blocks;

	/*
	 * A block that got no room moves when it reaches the orders that get it: a copy of
	 * at most 128 KiB now, where growing in place as far as luck goes would copy
	 * megabytes when the luck ends.
	 */
	if (pages < 1UL << KREALLOC_ROOM_ORDER && new_pages >= 1UL << KREALLOC_ROOM_ORDER)
		return false;
	if (pages < MAX_ORDER_NR_PAGES) {
		unsigned int order =
		        (unsigned int)__builtin_ctzl(min_ul(new_pages, MAX_ORDER_NR_PAGES));

		if (!grow_pages_in_place(page, page->order, order))
			return false;
		pages = 1UL << order;
	}
	if (new_pages <= pages)
		return true;
	blocks = new_pages >> MAX_PAGE_ORDER;
	if (!grow_contig_in_place(page, pages >> MAX_PAGE_ORDER, blocks))
		return false;
	page->contig_blocks = blocks;
	return true;
}

/* Give back the frames past @new_pages where the block stands: no copy. */
static void shrink_large_in_place(struct page *page, unsigned long pages, unsigned long new_pages)
{
	if (pages > MAX_ORDER_NR_PAGES) {
		unsigned long keep = max_ul(new_pages >> MAX_PAGE_ORDER, 1);

		page->contig_blocks = keep > 1 ? keep : 0;
		free_contig_range(page + (keep << MAX_PAGE_ORDER),
		                  (pages >> MAX_PAGE_ORDER) - keep);
		pages = keep << MAX_PAGE_ORDER;
	}
	if (new_pages < pages)
		shrink_pages_in_place(page, page->order, (unsigned int)__builtin_ctzl(new_pages));
}

static bool resize_large_in_place(struct page *page, size_t size)
{
	unsigned long pages = large_kmalloc_pages(page), new_pages = large_kmalloc_pages_for(size);

	if (new_pages > pages)
		return grow_large_in_place(page, pages, new_pages);
	shrink_large_in_place(page, pages, new_pages);
	return true;
}

/*
 * Blocks above the slab sizes are resized where they stand when they can be: a large
 * block over free blocks next to it, a vmalloc area by remapping. Only a move between
 * kinds, or a large block whose neighbours are taken, copies.
 */
void *krealloc_caller(void *obj, size_t size, const char *caller)
{
	struct page *page;
	enum kmalloc_kind kind = kmalloc_classify(obj, caller, &page);
	size_t old = kind == KMALLOC_SLAB    ? page->slab_cache->object_size
	             : kind == KMALLOC_LARGE ? large_kmalloc_pages(page) << PAGE_SHIFT
	                                     : vmalloc_size(obj);
	void *new;

	/* A block stays where it is while the new size uses more than half of it. */
	if (size <= old && (size > old / 2 || old <= 16))
		return obj;
	if (kind == KMALLOC_VMALLOC && size > KMALLOC_MAX_CACHE_SIZE)
		return vrealloc(obj, size);
	if (kind == KMALLOC_LARGE && size > KMALLOC_MAX_CACHE_SIZE &&
	    resize_large_in_place(page, size))
		return obj;
	new = size <= KMALLOC_MAX_CACHE_SIZE ? kmalloc(size < 16 ? 16 : size)
	                                     : kmalloc_large_to_grow(size);
	if (!new)
		return NULL;
	memcpy(new, obj, old < size ? old : size);
	kfree_caller(obj, caller);
	return new;
}
