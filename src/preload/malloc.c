/*
 * The C library's allocation API on top of kmalloc: every entry point glibc 2.36
 * expects from a malloc replacement, with glibc's semantics and errno, plus the
 * __libc_* aliases. No allocation policy lives here (DESIGN: preload only adapts).
 *
 * malloc and free are the fast paths: a size-class lookup and a pop from the calling
 * thread's freelist; a check that the block belongs to the thread's active slab and a
 * push. Everything else goes out of line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/os.h"
#include "../base/printk.h"
#include "../buddy/internal.h"
#include "../buddy/page_alloc.h"
#include "../slab/kmalloc.h"
#include "../vmalloc/vmalloc.h"

#define ALIAS(target) __attribute__((alias(#target), visibility("default")))

/* C23, and the obsolete cfree: not declared by glibc 2.36's headers. */
void free_sized(void *ptr, size_t size);
void free_aligned_sized(void *ptr, size_t align, size_t size);
void cfree(void *ptr);

static __noinline void *malloc_slow(size_t size)
{
	if (size > PTRDIFF_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	return kmalloc(size);
}

/* Takes the size, not the cache: malloc then keeps nothing alive for this call. */
static __noinline void *malloc_refill(size_t size)
{
	unsigned int index = kmalloc_size_index_small[(size + 15) >> 4];
	void *obj = __slab_alloc(&kmem_caches[index], &kmem_cache_cpus[index]);

	if (unlikely(!obj)) {
		kmalloc_reclaim();
		obj = __slab_alloc(&kmem_caches[index], &kmem_cache_cpus[index]);
	}
	if (unlikely(!obj))
		errno = ENOMEM;
	return obj;
}

/*
 * The kmalloc caches sit at the start of kmem_caches, so a size class's index is also
 * its cache's id: the thread's freelist is found without reading the cache at all
 * (kmalloc caches have no constructor, so their free pointer is at offset 0, and the
 * thread keeps a copy of the key).
 */
KMM_EXPORT void *malloc(size_t size)
{
	unsigned int index;
	struct kmem_cache_cpu *c;
	void *obj;

	if (unlikely(size > KMALLOC_SMALL_MAX))
		return malloc_slow(size);
	index = kmalloc_size_index_small[(size + 15) >> 4];
	c = &kmem_cache_cpus[index];
	obj = c->freelist;
	if (unlikely(!obj))
		return malloc_refill(size);
	c->freelist = get_freepointer_cpu(c, obj);
	return obj;
}

/* Remote frees, large and huge blocks, NULL, and misuse. free() never changes errno. */
static __noinline void free_slow(void *ptr)
{
	int saved = errno;

	if (ptr)
		kfree_caller(ptr, "free");
	errno = saved;
}

KMM_EXPORT void free(void *ptr)
{
	if (likely(virt_addr_in_range(ptr))) {
		/* Slabs of other orders (dedicated caches') take the slow path. */
		struct page *slab = virt_to_kmalloc_slab(ptr);

		if (likely(slab)) {
			struct kmem_cache *s = slab->slab_cache;
			struct kmem_cache_cpu *c = slab_this_cpu(slab);

			if (unlikely(!slab_object_valid(s, ptr)))
				goto slow; /* reported there */
			if (likely(slab == c->slab)) {
				if (unlikely(ptr == c->freelist))
					goto slow; /* a double free, reported there */
				/* A kmalloc cache: no constructor, the key on this line. */
				set_freepointer_cpu(c, ptr, c->freelist);
				c->freelist = ptr;
				slab_stat(c, FREE_FASTPATH);
				return;
			}
			slab_free_remote(s, slab, ptr, true);
			return;
		}
	}
slow:
	free_slow(ptr);
}

KMM_EXPORT void *calloc(size_t nmemb, size_t size)
{
	size_t total;
	void *ptr;

	if (unlikely(__builtin_mul_overflow(nmemb, size, &total) || total > PTRDIFF_MAX)) {
		errno = ENOMEM;
		return NULL;
	}
	ptr = malloc(total);
	/* A newly committed vmalloc area is already zero. */
	if (likely(ptr) && !(is_vmalloc_addr(ptr) && vmalloc_area_zeroed(ptr)))
		memset(ptr, 0, total);
	return ptr;
}

KMM_EXPORT void *realloc(void *ptr, size_t size)
{
	if (!ptr)
		return malloc(size);
	if (size == 0) { /* glibc frees and returns NULL (REALLOC_ZERO_BYTES_FREES) */
		free(ptr);
		return NULL;
	}
	if (size > PTRDIFF_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	return krealloc_caller(ptr, size, "realloc");
}

KMM_EXPORT void *reallocarray(void *ptr, size_t nmemb, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(ptr, total);
}

static void *memalign_common(size_t align, size_t size)
{
	if (align <= 16)
		return malloc(size);
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (align & (align - 1)) /* glibc rounds a non-power of two up */
		align = 1UL << (64 - __builtin_clzl(align));
	if (size > PTRDIFF_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	return kmalloc_aligned(size, align);
}

KMM_EXPORT void *memalign(size_t align, size_t size)
{
	return memalign_common(align, size);
}

/* glibc 2.36 makes aligned_alloc an alias of memalign: any size, alignment rounded. */
KMM_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	return memalign_common(align, size);
}

/*
 * glibc 2.36 returns EINVAL for a bad alignment before anything can touch errno, and
 * sets errno to ENOMEM as well as returning it when memory runs out: programs print
 * strerror(errno) after a failed posix_memalign.
 */
KMM_EXPORT int posix_memalign(void **memptr, size_t align, size_t size)
{
	int saved = errno;
	void *ptr;

	if (align == 0 || (align & (align - 1)) || align % sizeof(void *))
		return EINVAL;
	ptr = memalign_common(align, size);
	if (!ptr) {
		errno = ENOMEM;
		return ENOMEM;
	}
	/* Success reports through the result alone, whatever attempts on the way set. */
	errno = saved;
	*memptr = ptr;
	return 0;
}

KMM_EXPORT void *valloc(size_t size)
{
	return memalign_common(PAGE_SIZE, size);
}

KMM_EXPORT void *pvalloc(size_t size)
{
	size_t rounded;

	if (__builtin_add_overflow(size, PAGE_SIZE - 1, &rounded)) {
		errno = ENOMEM;
		return NULL;
	}
	rounded &= ~(PAGE_SIZE - 1);
	return memalign_common(PAGE_SIZE, rounded ? rounded : PAGE_SIZE);
}

KMM_EXPORT size_t malloc_usable_size(void *ptr)
{
	return ptr ? ksize_caller(ptr, "malloc_usable_size") : 0;
}

KMM_EXPORT void free_sized(void *ptr, size_t size)
{
	(void)size;
	free(ptr);
}

KMM_EXPORT void free_aligned_sized(void *ptr, size_t align, size_t size)
{
	(void)align;
	(void)size;
	free(ptr);
}

KMM_EXPORT void cfree(void *ptr)
{
	free(ptr);
}

/* Give every free page that can go back to the OS back now; 1 if any did. */
KMM_EXPORT int malloc_trim(size_t pad)
{
	unsigned long released = 0;
	struct zone *zone;

	(void)pad;
	kmalloc_large_cache_drain();
	kmem_cache_shrink_all();
	vmalloc_purge_all();
	drain_all_pages();
	for_each_zone(zone, nid)
		released += page_reporting_process(zone, true);
	return released > 0;
}

/* Memory in service (zones and vmalloc) and how much of it is free, in bytes. */
static void heap_totals(size_t *system, size_t *free_bytes)
{
	struct zone *zone;

	*system = 0;
	*free_bytes = 0;
	for_each_zone(zone, nid) {
		unsigned long in_service = READ_ONCE(zone->present_pages);
		unsigned long available = zone_available_pages(zone);
		unsigned long never_used = zone->spanned_pages - in_service;

		*system += in_service << PAGE_SHIFT;
		*free_bytes += (available - never_used) << PAGE_SHIFT;
	}
}

KMM_EXPORT struct mallinfo2 mallinfo2(void)
{
	struct mallinfo2 mi = {0};
	size_t system, free_bytes;

	heap_totals(&system, &free_bytes);
	mi.arena = system;
	mi.uordblks = system - free_bytes;
	mi.fordblks = free_bytes;
	mi.keepcost = 0;
	return mi;
}

KMM_EXPORT struct mallinfo mallinfo(void)
{
	struct mallinfo2 mi2 = mallinfo2();
	struct mallinfo mi = {0};

	mi.arena = (int)mi2.arena;
	mi.uordblks = (int)mi2.uordblks;
	mi.fordblks = (int)mi2.fordblks;
	return mi;
}

/* glibc's layout, so tools that parse it keep working. */
KMM_EXPORT void malloc_stats(void)
{
	size_t system, free_bytes;
	char buf[512];
	size_t n;

	heap_totals(&system, &free_bytes);
	n = kmm_snprintf(buf, sizeof(buf),
	                 "Arena 0:\nsystem bytes     = %10zu\nin use bytes     = %10zu\n"
	                 "Total (incl. mmap):\nsystem bytes     = %10zu\nin use bytes     = %10zu\n"
	                 "max mmap regions = %10d\nmax mmap bytes   = %10d\n",
	                 system, system - free_bytes, system, system - free_bytes, 0, 0);
	os_write_all(2, buf, n < sizeof(buf) ? n : sizeof(buf) - 1);
}

KMM_EXPORT int malloc_info(int options, FILE *fp)
{
	size_t system, free_bytes;

	if (options != 0) {
		errno = EINVAL;
		return -1;
	}
	heap_totals(&system, &free_bytes);
	fprintf(fp,
	        "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n</sizes>\n"
	        "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
	        "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n"
	        "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n"
	        "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n"
	        "</heap>\n<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
	        "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n"
	        "<total type=\"mmap\" count=\"0\" size=\"0\"/>\n"
	        "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n"
	        "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n"
	        "</malloc>\n",
	        free_bytes, system, system, system, system, free_bytes, system, system, system,
	        system);
	return 0;
}

/* kmm's tuning is KMM_* variables; every glibc parameter is accepted and ignored. */
KMM_EXPORT int mallopt(int param, int value)
{
	(void)param;
	(void)value;
	return 1;
}

/* glibc declares these with attributes its aliases need not repeat. */
#pragma GCC diagnostic ignored "-Wmissing-attributes"
void *__libc_malloc(size_t size) ALIAS(malloc);
void __libc_free(void *ptr) ALIAS(free);
void *__libc_calloc(size_t nmemb, size_t size) ALIAS(calloc);
void *__libc_realloc(void *ptr, size_t size) ALIAS(realloc);
void *__libc_memalign(size_t align, size_t size) ALIAS(memalign);
void *__libc_valloc(size_t size) ALIAS(valloc);
void *__libc_pvalloc(size_t size) ALIAS(pvalloc);
struct mallinfo __libc_mallinfo(void) ALIAS(mallinfo);
int __libc_mallopt(int param, int value) ALIAS(mallopt);
