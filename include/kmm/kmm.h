/*
 * kmm: a memory allocator built the way the Linux kernel manages memory.
 *
 * This header declares what libkmm.so exports besides the C library's allocation
 * functions. Link with -lkmm, or look the symbols up with dlsym when kmm is preloaded.
 */
#ifndef KMM_KMM_H
#define KMM_KMM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest order kmm_alloc_pages accepts: 2^10 pages of 4 KiB, a 4 MiB block. */
#define KMM_MAX_PAGE_ORDER 10
#define KMM_PAGE_SIZE      4096

/* Node argument of kmm_alloc_pages_node that means "the calling CPU's node". */
#define KMM_NUMA_NO_NODE (-1)

/*
 * Allocate 2^order contiguous pages, aligned to their size, from the calling CPU's
 * node, or the nearest node with free memory. The pages' contents are undefined.
 * Returns NULL with errno ENOMEM when memory is exhausted, or EINVAL when order is
 * greater than KMM_MAX_PAGE_ORDER.
 */
void *kmm_alloc_pages(unsigned int order);

/*
 * As kmm_alloc_pages, preferring node nid (KMM_NUMA_NO_NODE: the local node) and then
 * the other nodes in order of distance. EINVAL when nid has no kmm zone.
 */
void *kmm_alloc_pages_node(int nid, unsigned int order);

/*
 * Free pages from kmm_alloc_pages*, with the order they were allocated with. NULL is
 * ignored. An address kmm did not hand out, a double free or a wrong order is reported
 * on stderr in one line naming the call and the address, and the process aborts.
 */
void kmm_free_pages(void *addr, unsigned int order);

/* The node of the zone that owns addr, or -1 when addr is not kmm memory. */
int kmm_page_to_nid(const void *addr);

/*
 * Dedicated slab caches, as the kernel's kmem_cache_create: objects of one size, with
 * an optional constructor that runs when a slab is made (freed objects keep their
 * constructed state, so ctor runs once per object, not once per allocation). align is
 * a power of two up to KMM_PAGE_SIZE (0: 8 bytes). flags is reserved and must be 0.
 * The name is what slabinfo shows: its first 31 bytes, spaces and control characters
 * turned into '_'.
 * Returns NULL with errno EINVAL for a bad size or alignment, ENOMEM when no cache slot
 * or memory is left.
 */
struct kmm_cache;
struct kmm_cache *kmm_cache_create(const char *name, size_t size, size_t align, unsigned long flags,
                                   void (*ctor)(void *));
void *kmm_cache_alloc(struct kmm_cache *cache);
void kmm_cache_free(struct kmm_cache *cache, void *obj);

/* Destroy an empty cache. Objects still allocated: one line naming the cache, abort. */
void kmm_cache_destroy(struct kmm_cache *cache);

/* The kernel's kmalloc/kfree/ksize: the allocator behind malloc. */
void *kmm_kmalloc(size_t size);
void kmm_kfree(const void *obj);
size_t kmm_ksize(const void *obj);

/* Page-aligned, virtually contiguous memory of any size, zeroed; NULL for size 0. */
void *kmm_vmalloc(size_t size);
void kmm_vfree(const void *addr);

/*
 * Write kmm's statistics to @fd in the kernel's formats: @what is a comma list of
 * buddyinfo, slabinfo, meminfo, vmstat, zoneinfo and json, or "all" (NULL or "" mean
 * all). It allocates nothing and takes no allocator lock, so a signal handler may call
 * it; one dump runs at a time, and it waits up to 2 s for another to end. Returns 0, or
 * -1 with errno EINVAL (a bad @what), EBUSY (another dump did not end) or the error of
 * the write that failed.
 */
int kmm_stats_dump(int fd, const char *what);

#ifdef __cplusplus
}
#endif

#endif /* KMM_KMM_H */
