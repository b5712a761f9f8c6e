/*
 * kmalloc: the general-purpose allocator every C library entry point ends in.
 *
 *   size <= 8 KiB     a kmalloc-N slab cache (the kernel's sizes, 8 ... 8192 with 96
 *                     and 192, plus finer classes between them where they save memory)
 *   size <= 4 MiB     a buddy block of its own, the head page marked PG_large_kmalloc
 *                     (realloc grows it further over the max-order blocks after it)
 *   larger            a vmalloc area (src/vmalloc)
 *
 * Every size class except kmalloc-8 is a multiple of 16, so every block the C library
 * API hands out is 16-byte aligned; power-of-two classes are aligned to their size.
 */
#ifndef KMM_SLAB_KMALLOC_H
#define KMM_SLAB_KMALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "slab.h"

#define KMALLOC_MAX_CACHE_SIZE 8192UL
#define KMALLOC_MAX_LARGE_SIZE MAX_ORDER_BYTES
#define KMALLOC_SMALL_MAX      1024UL
#define NR_KMALLOC_CACHES      33

/* Cache index by (size + 15) / 16 for size <= 1024, and by (size + 255) / 256 above. */
extern const uint8_t kmalloc_size_index_small[KMALLOC_SMALL_MAX / 16 + 1] KMM_HIDDEN;
extern const uint8_t kmalloc_size_index_large[KMALLOC_MAX_CACHE_SIZE / 256 + 1] KMM_HIDDEN;

static __always_inline struct kmem_cache *kmalloc_slab(size_t size)
{
	if (size <= KMALLOC_SMALL_MAX)
		return &kmem_caches[kmalloc_size_index_small[(size + 15) >> 4]];
	return &kmem_caches[kmalloc_size_index_large[(size + 255) >> 8]];
}

int kmalloc_init(void);

/* Give the calling thread's cached large blocks (above 8 KiB, up to 32) back: malloc_trim. */
void kmalloc_large_cache_drain(void);

/*
 * An allocation was refused: the caches above the page allocator drain too (the calling
 * thread's large blocks, empty slabs), then drop_caches (lazily freed vmalloc areas,
 * the per-CPU lists, wholly free sections), so memory freed in any size can serve any
 * other before an allocation fails with ENOMEM. Called without locks; the allocation
 * paths call it once and retry.
 */
void kmalloc_reclaim(void);

/* Sizes above KMALLOC_MAX_CACHE_SIZE, and alignments above what a class gives. */
void *kmalloc_large(size_t size, size_t align);

void *kmalloc(size_t size);
void kfree_caller(const void *obj, const char *caller);

/* Usable size of a block; @caller names the entry point if @obj is not kmm's. */
size_t ksize_caller(const void *obj, const char *caller);

/*
 * A block of @size aligned to @align (a power of two). Returns NULL with errno set to
 * ENOMEM when memory is exhausted.
 */
void *kmalloc_aligned(size_t size, size_t align);

/*
 * Resize: in place while the new size uses more than half of the block; above the slab
 * sizes a large block grows over free blocks next to it (past the largest order too) and
 * shrinks where it stands, a vmalloc area by remapping; anything else by moving (the old
 * usable size is copied). NULL with errno ENOMEM, the block untouched, on failure.
 */
void *krealloc_caller(void *obj, size_t size, const char *caller);

/* What kind of block @obj is, checking it is one kmm handed out. */
enum kmalloc_kind { KMALLOC_SLAB, KMALLOC_LARGE, KMALLOC_VMALLOC };

enum kmalloc_kind kmalloc_classify(const void *obj, const char *caller, struct page **page);

#endif /* KMM_SLAB_KMALLOC_H */
