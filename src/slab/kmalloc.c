/*
 * kmalloc and its size classes; see kmalloc.h.
 */
#include "kmalloc.h"

#include <errno.h>
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

int kmalloc_init(void)
{
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

void *kmalloc_large(size_t size, size_t align)
{
	unsigned int order = get_order(size > align ? size : align);
	struct page *page;

	if (unlikely(size > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	if (order > MAX_PAGE_ORDER)
		return vmalloc_aligned(size, align);
	if (unlikely(!kmm_ensure_init())) {
		errno = ENOMEM;
		return NULL;
	}
	page = __alloc_pages(order, numa_node_id());
	if (unlikely(!page)) {
		errno = ENOMEM;
		return NULL;
	}
	SetPageLargeKmalloc(page);
	return page_address(page);
}

void *kmalloc(size_t size)
{
	void *obj;

	if (unlikely(size > KMALLOC_MAX_CACHE_SIZE))
		return kmalloc_large(size, PAGE_SIZE);
	obj = slab_alloc(size <= 8 ? &kmem_caches[0] : kmalloc_slab(size));
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
		ClearPageLargeKmalloc(page);
		__free_pages(page, page->order);
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
		return PAGE_SIZE << page->order;
	case KMALLOC_VMALLOC:
		return vmalloc_size(obj);
	}
	return 0;
}

/*
 * Grow a large kmalloc block over the free blocks above it, where it stands: no copy.
 * NULL when they are taken, or when the new size is past the largest order (a move to
 * vmalloc then copies: moving the pages instead would leave the zone's range empty,
 * and the next block there would fault them in again).
 */
static void *krealloc_large_in_place(struct page *page, void *obj, size_t size)
{
	unsigned int order = get_order(size);

	if (order <= MAX_PAGE_ORDER && grow_pages_in_place(page, page->order, order))
		return obj;
	return NULL;
}

void *krealloc_caller(void *obj, size_t size, const char *caller)
{
	struct page *page;
	enum kmalloc_kind kind = kmalloc_classify(obj, caller, &page);
	size_t old = kind == KMALLOC_SLAB    ? page->slab_cache->object_size
	             : kind == KMALLOC_LARGE ? PAGE_SIZE << page->order
	                                     : vmalloc_size(obj);
	void *new;

	/* A block stays where it is while the new size uses more than half of it. */
	if (size <= old && (size > old / 2 || old <= 16))
		return obj;
	if (kind == KMALLOC_VMALLOC && size > KMALLOC_MAX_LARGE_SIZE)
		return vrealloc(obj, size);
	if (kind == KMALLOC_LARGE && size > old) {
		new = krealloc_large_in_place(page, obj, size);
		if (new)
			return new;
	}
	new = size <= KMALLOC_MAX_CACHE_SIZE ? kmalloc(size < 16 ? 16 : size)
	                                     : kmalloc_large(size, PAGE_SIZE);
	if (!new)
		return NULL;
	memcpy(new, obj, old < size ? old : size);
	kfree_caller(obj, caller);
	return new;
}
